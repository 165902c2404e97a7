"""Benchmark of `grader guide`: a class on another guide's assessments, graded, then graded again unchanged.

    .venv/bin/python benchmarks/bench_guide.py                 # 20 learners, --jobs 1 and 2 where it takes --jobs
    .venv/bin/python benchmarks/bench_guide.py --learners 40   # a larger class
    .venv/bin/python benchmarks/bench_guide.py --jobs 1        # one setting only

1. Generates a class of --learners submissions in a temporary folder on tests/fixtures/guides/newer (eight
   assessments: multiple choice, two fill in the blanks, a Parsons puzzle, two free texts, a code-output
   comparison and an advanced code test, both run in the box): a fixed mix of learners who answer everything
   right, some wrong, nothing, or hand in a program that prints the wrong thing; a comment naming the learner
   is added to each program, so no two learners have the same content.
2. For each --jobs setting, in a fresh OUT: `grader guide class --questions GUIDE --out OUT [--jobs J]` (the
   first run: every learner graded), then the same command again (the class unchanged). Wall time of both, as
   whole commands (start-up, the box, the private offline API, the reports); `--jobs` is passed only when the
   grader takes it (before the store and the pool it graded one learner at a time and had no --jobs).
3. Checks every run's gradebook.csv is the same.

Temporary folders and COURSE_HOME only. It prints a table, writes benchmarks/out/guide.json and exits 0: it
reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import commit  # noqa: E402

GUIDE = ROOT / "tests" / "fixtures" / "guides" / "newer"
RIGHT = {"multiple-choice-1001": ["multiple-choice-1001-0"], "fill-in-the-blanks-1002": ["for", "in", "len", "0"],
         "fill-in-the-blanks-1003": ["append", "pop"],
         "parsons-puzzle-1004": ["total = 0", "for n in [4, 5, 6]:", "    total = total + n", "print(total)"],
         "free-text-1007": ["A loop says it once."], "free-text-auto-1008": ["repetition"]}
WRONG = {"multiple-choice-1001": ["multiple-choice-1001-1"], "fill-in-the-blanks-1002": ["for", "of", "len", "1"]}
GOOD_PROGRAM = "for n in range(1, 4):\n    print(n)\nprint('done')\n"
BAD_PROGRAM = "print('not yet')\n"
# (answers, program): a realistic mix, in this order over and over
MIX = [(RIGHT, GOOD_PROGRAM), (RIGHT, GOOD_PROGRAM), (WRONG, GOOD_PROGRAM), (RIGHT, BAD_PROGRAM), ({}, None)]


def make_class(into: Path, learners: int) -> None:
    for index in range(learners):
        answers, program = MIX[index % len(MIX)]
        folder = into / f"learner{index + 1:03}"
        folder.mkdir(parents=True)
        (folder / "answers.json").write_text(json.dumps(answers), encoding="utf-8")
        if program is not None:
            (folder / "code").mkdir()
            (folder / "code" / "loops.py").write_text(f"# {folder.name}\n{program}", encoding="utf-8")


def read_gradebook(out: Path) -> str:
    return (out / "gradebook.csv").read_text(encoding="utf-8") if (out / "gradebook.csv").is_file() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--jobs", type=int, action="append", help="a --jobs setting to measure; repeatable "
                                                                  "(default: 1 and 2)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-guide-"))
    make_class(tmp / "class", args.learners)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" and not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp / "home"), PYTHONPATH=str(ROOT), COLUMNS="200")
    command = [sys.executable, "-m", "grader", "guide", "class", "--questions", str(GUIDE)]
    takes_jobs = "--jobs" in subprocess.run([*command[:4], "--help"], env=env, capture_output=True, text=True).stdout
    settings: list[int | None] = list(args.jobs or [1, 2]) if takes_jobs else [None]

    def timed(out: Path, jobs: int | None) -> tuple[float, int, str]:
        extra = ["--jobs", str(jobs)] if jobs is not None else []
        started = time.perf_counter()
        done = subprocess.run([*command, "--out", str(out), *extra], cwd=tmp, env=env, capture_output=True, text=True)
        return time.perf_counter() - started, done.returncode, done.stdout + done.stderr

    started = dt.datetime.now()
    figures: dict[str, dict[str, float | int | bool | None]] = {}
    gradebooks: set[str] = set()
    for jobs in settings:
        out = tmp / f"out-{jobs}"
        first, code1, said1 = timed(out, jobs)
        book = read_gradebook(out)
        again, code2, said2 = timed(out, jobs)
        same = book == read_gradebook(out)
        gradebooks.add(book)
        figures[f"jobs={jobs or 'none'}"] = {"jobs": jobs, "first_s": round(first, 2), "again_s": round(again, 2),
                                             "exit_codes": [code1, code2], "same_gradebook_again": same,
                                             "skipped_said": "unchanged, not run again" in said2}
        if code1 or code2:
            print(f"jobs={jobs}: exit {code1}, {code2}:\n{said1[-2000:]}\n{said2[-2000:]}")
    shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "date": started.isoformat(timespec="seconds"), "commit": commit(), "learners": args.learners,
        "guide": str(GUIDE.relative_to(ROOT)), "takes_jobs": takes_jobs,
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "as_root": os.geteuid() == 0, "runs": figures, "same_gradebook_every_run": len(gradebooks) == 1,
    }
    target = ROOT / "benchmarks" / "out"
    target.mkdir(parents=True, exist_ok=True)
    (target / "guide.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"grader guide on {result['guide']}, {args.learners} learners: {result['date']} at {result['commit']}")
    print(f"machine: {result['machine']}{' (as root: the full box)' if result['as_root'] else ''}")
    print(f"{'setting':12} {'first run':>10} {'again':>10}  {'skipped said':>12}  same gradebook")
    for name, f in figures.items():
        print(f"{name:12} {f['first_s']:>9.2f}s {f['again_s']:>9.2f}s  {'yes' if f['skipped_said'] else 'no':>12}  "
              f"{'yes' if f['same_gradebook_again'] else 'no'}")
    print(f"the same gradebook from every setting: {'yes' if result['same_gradebook_every_run'] else 'no'}")
    print(f"raw results: {target / 'guide.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
