"""Benchmark of `grader guide`: a class on another guide's assessments, graded, then graded again unchanged.

    .venv/bin/python benchmarks/bench_guide.py                 # 20 learners, --jobs 1 and 2 where it takes --jobs
    .venv/bin/python benchmarks/bench_guide.py --learners 40   # a larger class
    .venv/bin/python benchmarks/bench_guide.py --jobs 1        # one setting only
    .venv/bin/python benchmarks/bench_guide.py --large         # a class of 50 on a guide of 200 pages, 302 assessments

With --large the guide is generated too (see `make_large_guide`), in the shape of the largest public Codio guide
tried here (200 pages, 302 assessments: multiple choice, fill in the blanks, Parsons puzzles, free text, free text
with an autograde script, code-output comparisons and advanced code tests in Python), with a class of 50 learners
of mixed skill (`make_large_class`); both deterministic, from a fixed seed. The whole command is timed at the
default --jobs (one per CPU), unless --jobs is given.

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
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------------------------------------------------ the large guide

LARGE_SEED = 302
CHAPTERS, PAGES_PER_CHAPTER = 20, 10  # 200 pages
LARGE_MIX = {"multiple-choice": 110, "fill-in-the-blanks": 60, "parsons-puzzle": 30, "free-text": 34,
             "free-text-auto": 6, "code-output-compare": 40, "test": 22}  # 302 assessments
SKILLS = (0.95, 0.85, 0.7, 0.5, 0.3)  # the chance a learner gets an assessment right, by kind of learner
CHECK = """import subprocess, sys
done = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True, timeout=10)
if done.stdout.strip() == sys.argv[2]:
    print("well done")
    sys.exit(0)
print("expected", sys.argv[2], "but got", done.stdout.strip() or "nothing")
sys.exit(1)
"""
MENTIONS = """import os, sys
said = os.environ.get("CODIO_FREE_TEXT_ANSWER", "").lower()
sys.exit(0 if sys.argv[1] in said else 1)
"""
WORDS = ["loop", "list", "index", "value", "string", "number", "function", "return", "print", "range"]


def _source(kind: str, task_id: str, index: int, rng: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One assessment's `source`, and what a learner needs to answer it (right and wrong answers, a program)."""
    base = {"name": f"{kind} {index}", "showName": True, "instructions": f"Question {index}.", "guidance": "See the page.",
            "showGuidanceAfterResponseOption": {"type": "Always"}, "maxAttemptsCount": rng.choice([0, 0, 3]),
            "points": rng.choice([1, 1, 2, 3])}
    if kind == "multiple-choice":
        right = rng.randrange(4)
        base.update(multipleResponse=False, isRandomized=False, incorrectPoints=0, arePartialPointsAllowed=False,
                    answers=[{"_id": f"{task_id}-{i}", "correct": i == right, "answer": f"choice {i}"} for i in range(4)])
        return base, {"right": [f"{task_id}-{right}"], "wrong": [f"{task_id}-{(right + 1) % 4}"]}
    if kind == "fill-in-the-blanks":
        blanks = rng.sample(WORDS, 3)
        base.update(text=" ".join(f"A <<<{w}>>> here." for w in blanks), showValues=False, distractors="",
                    arePartialPointsAllowed=True, tokens={"blank": blanks, "text": [], "regexPositions": []})
        return base, {"right": [w.upper() if rng.random() < 0.3 else w for w in blanks],
                      "wrong": [blanks[0], "nope", blanks[2]]}
    if kind == "parsons-puzzle":
        lines = [f"x{i} = {i}" for i in range(rng.randrange(3, 7))] + ["print(x0)"]
        base.update(initial="\n".join(lines) + "\ny = 1#distractor", grader="1", options="{}")
        return base, {"right": lines, "wrong": list(reversed(lines))}
    if kind in ("free-text", "free-text-auto"):
        word = rng.choice(WORDS)
        base.update(previewType="plaintext")
        if kind == "free-text-auto":
            base.update(command=f"python3 .guides/secure/mentions.py {word}", timeoutSeconds=10)
        return base, {"right": [f"It is about the {word}."], "wrong": ["I do not know."]}
    program = f"code/ex{index:03}.py"
    value = rng.randrange(2, 40)
    expected = str(sum(range(value)))
    good, bad = f"print(sum(range({value})))\n", f"print({value})\n"
    if kind == "code-output-compare":
        base.update(command=f"python3 {program}", preExecuteCommand="", arePartialPointsAllowed=False,
                    options={"ignoreCase": True, "ignoreNewline": False, "ignoreWhitespaces": True,
                             "matchSubstring": False, "timeout": 10},
                    sequence=[{"arguments": "", "input": "", "output": expected + "\n", "feedback": "",
                               "showFeedback": False}])
    else:
        base.update(command=f"python3 .guides/secure/check.py {program} {expected}", timeoutSeconds=10,
                    arePartialPointsAllowed=False)
    return base, {"program": (program, good, bad)}


def make_large_guide(into: Path) -> dict[str, dict[str, Any]]:
    """A guide of 200 pages and 302 assessments (`LARGE_MIX`) at `into`; returns what answers each assessment."""
    rng = random.Random(LARGE_SEED)
    kinds = [kind for kind, count in LARGE_MIX.items() for _ in range(count)]
    rng.shuffle(kinds)
    guides = into / ".guides"
    for folder in ("assessments", "secure", "content"):
        (guides / folder).mkdir(parents=True)
    (guides / "secure" / "check.py").write_text(CHECK, encoding="utf-8")
    (guides / "secure" / "mentions.py").write_text(MENTIONS, encoding="utf-8")
    (into / "code").mkdir()
    keys: dict[str, dict[str, Any]] = {}
    for index, kind in enumerate(kinds, 1):
        task_id = f"{kind}-{1000 + index}"
        source, key = _source(kind, task_id, index, rng)
        keys[task_id] = key
        (guides / "assessments" / f"{task_id}.json").write_text(json.dumps({"type": kind, "taskId": task_id,
                                                                            "source": source}), encoding="utf-8")
        if "program" in key:  # the guide's starting file, as a learner first sees it
            (into / key["program"][0]).write_text("# write your program here\n", encoding="utf-8")
    ids = list(keys)
    chapters = []
    for c in range(CHAPTERS):
        name = f"Chapter-{c:02}"
        pages = [f"Page-{c:02}-{p}" for p in range(PAGES_PER_CHAPTER)]
        (guides / "content" / name).mkdir()
        for p, page in enumerate(pages):
            number = c * PAGES_PER_CHAPTER + p
            embedded = ids[number * len(ids) // 200:(number + 1) * len(ids) // 200]
            (guides / "content" / name / f"{page}.json").write_text(json.dumps(
                {"id": f"{number:08}-0000-4000-8000-000000000000", "title": f"Page {number + 1}", "type": "page",
                 "layout": "1-panel"}), encoding="utf-8")
            (guides / "content" / name / f"{page}.md").write_text(
                f"## Page {number + 1}\n\nSome reading.\n\n" +
                "".join(f"{{Check It!|assessment}}({task_id})\n\n" for task_id in embedded), encoding="utf-8")
        (guides / "content" / name / "index.json").write_text(json.dumps(
            {"id": f"c{c:07}-0000-4000-8000-000000000000", "title": f"Chapter {c + 1}", "type": "chapter",
             "order": pages}), encoding="utf-8")
        chapters.append(name)
    (guides / "content" / "index.json").write_text(json.dumps({"title": "A large guide", "order": chapters}),
                                                   encoding="utf-8")
    return keys


def make_large_class(into: Path, keys: dict[str, dict[str, Any]], learners: int) -> None:
    """`learners` learners of mixed skill (`SKILLS`, and one in ten who hands in nothing): each answers an assessment
    right with their skill's chance, else wrong or not at all, and writes each program right or wrong likewise."""
    rng = random.Random(LARGE_SEED + learners)
    for index in range(learners):
        folder = into / f"learner{index + 1:03}"
        folder.mkdir(parents=True)
        if index % 10 == 9:
            continue  # handed in nothing
        skill = SKILLS[index % len(SKILLS)]
        answers: dict[str, list[str]] = {}
        for task_id, key in keys.items():
            roll = rng.random()
            if "program" in key:
                path, good, bad = key["program"]
                if roll < skill + (1 - skill) / 2:
                    (folder / path).parent.mkdir(exist_ok=True)
                    (folder / path).write_text(f"# {folder.name}\n" + (good if roll < skill else bad),
                                               encoding="utf-8")
            elif roll < skill:
                answers[task_id] = key["right"]
            elif roll < skill + (1 - skill) / 2:
                answers[task_id] = key["wrong"]
        (folder / "answers.json").write_text(json.dumps(answers), encoding="utf-8")


def read_gradebook(out: Path) -> str:
    return (out / "gradebook.csv").read_text(encoding="utf-8") if (out / "gradebook.csv").is_file() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=None, help="default: 20, or 50 with --large")
    parser.add_argument("--jobs", type=int, action="append", help="a --jobs setting to measure; repeatable "
                                                                  "(default: 1 and 2; with --large, the default)")
    parser.add_argument("--large", action="store_true",
                        help="a generated guide of 200 pages and 302 assessments, and a class of 50 of mixed skill")
    args = parser.parse_args()
    learners = args.learners or (50 if args.large else 20)

    tmp = Path(tempfile.mkdtemp(prefix="bench-guide-"))
    guide = GUIDE
    if args.large:
        guide = tmp / "large-guide"
        make_large_class(tmp / "class", make_large_guide(guide), learners)
    else:
        make_class(tmp / "class", learners)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" and not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp / "home"), PYTHONPATH=str(ROOT), COLUMNS="200")
    command = [sys.executable, "-m", "grader", "guide", "class", "--questions", str(guide)]
    takes_jobs = "--jobs" in subprocess.run([*command[:4], "--help"], env=env, capture_output=True, text=True).stdout
    default: list[int | None] = [None] if args.large else [1, 2]
    settings: list[int | None] = list(args.jobs or default) if takes_jobs else [None]

    def timed(out: Path, jobs: int | None) -> tuple[float, int, str]:
        extra = ["--jobs", str(jobs)] if jobs is not None else []
        started = time.perf_counter()
        done = subprocess.run([*command, "--out", str(out), *extra], cwd=tmp, env=env, capture_output=True, text=True)
        return time.perf_counter() - started, done.returncode, done.stdout + done.stderr

    started = dt.datetime.now()
    load = [round(x, 2) for x in os.getloadavg()]
    figures: dict[str, dict[str, float | int | bool | None]] = {}
    gradebooks: set[str] = set()
    for jobs in settings:
        out = tmp / f"out-{jobs}"
        first, code1, said1 = timed(out, jobs)
        book = read_gradebook(out)
        again, code2, said2 = timed(out, jobs)
        same = book == read_gradebook(out)
        gradebooks.add(book)
        figures[f"jobs={jobs or 'default'}"] = {"jobs": jobs, "first_s": round(first, 2), "again_s": round(again, 2),
                                             "exit_codes": [code1, code2], "same_gradebook_again": same,
                                             "skipped_said": "unchanged, not run again" in said2}
        if code1 or code2:
            print(f"jobs={jobs}: exit {code1}, {code2}:\n{said1[-2000:]}\n{said2[-2000:]}")
    shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "date": started.isoformat(timespec="seconds"), "commit": commit(), "learners": learners,
        "guide": "generated: 200 pages, 302 assessments" if args.large else str(GUIDE.relative_to(ROOT)),
        "takes_jobs": takes_jobs, "load_average_at_start": load,
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "as_root": os.geteuid() == 0, "runs": figures, "same_gradebook_every_run": len(gradebooks) == 1,
    }
    target = ROOT / "benchmarks" / "out"
    target.mkdir(parents=True, exist_ok=True)
    written = target / ("guide_large.json" if args.large else "guide.json")
    written.write_text(json.dumps(result, indent=2) + "\n")

    print(f"grader guide on {result['guide']}, {learners} learners: {result['date']} at {result['commit']}")
    print(f"machine: {result['machine']}{' (as root: the full box)' if result['as_root'] else ''}, "
          f"load average at the start {load}")
    print(f"{'setting':12} {'first run':>10} {'again':>10}  {'skipped said':>12}  same gradebook")
    for name, f in figures.items():
        print(f"{name:12} {f['first_s']:>9.2f}s {f['again_s']:>9.2f}s  {'yes' if f['skipped_said'] else 'no':>12}  "
              f"{'yes' if f['same_gradebook_again'] else 'no'}")
    print(f"the same gradebook from every setting: {'yes' if result['same_gradebook_every_run'] else 'no'}")
    print(f"raw results: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
