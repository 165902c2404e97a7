"""Benchmark of `grader check`, what a learner runs on their own folder: warm (now) against plain (before).

    .venv/bin/python benchmarks/bench_grader_check.py             # 3 rounds, three lessons (about 1.5 minutes)
    .venv/bin/python benchmarks/bench_grader_check.py --rounds 1  # a quicker look
    .venv/bin/python benchmarks/bench_grader_check.py --lesson 1  # lesson 1 only (5 steps instead of 17)

In a temporary learner folder holding the reference solutions of every lesson (imageGen.py,
imageGen2.py, imageGen3.py: 17 steps, all passing) and a temporary COURSE_HOME, each round runs,
one after the other, as a learner types it (the venv's Python, in the folder, `.`, no key, no
PYTHONUNBUFFERED):

- **warm**: `python -m grader check .`: one zygote imports the SDK once and forks each step into the
  box (what `grader grade` does);
- **plain**: `python -m grader check . --plain`: a fresh interpreter per step in the same box, which is
  how `grader check` ran before.

Both are whole commands: start-up, finding the work, the private offline API, every step, the
questions, the output. Medians over the rounds; the two outputs must be identical (nothing checked
less). It prints a table with each figure, its target and PASS/FAIL, writes
benchmarks/out/grader_check.json and exits 0: a benchmark reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import commit  # noqa: E402

SCRIPTS = {"1": "imageGen.py", "2": "imageGen2.py", "3": "imageGen3.py"}


def _cpu() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lesson", action="append", choices=sorted(SCRIPTS),
                        help="only these lessons' scripts in the folder (default: every lesson)")
    args = parser.parse_args()
    lessons = args.lesson or sorted(SCRIPTS)

    tmp = Path(tempfile.mkdtemp(prefix="bench-grader-check-"))
    folder = tmp / "me"
    folder.mkdir()
    for lesson in lessons:
        shutil.copy(ROOT / "solutions" / SCRIPTS[lesson], folder / SCRIPTS[lesson])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" and not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp / "home"), PYTHONPATH=str(ROOT), COLUMNS="200")
    command = [sys.executable, "-m", "grader", "check", "."]

    def timed(*extra: str) -> tuple[float, int, str]:
        started = time.perf_counter()
        done = subprocess.run([*command, *extra], cwd=folder, env=env, capture_output=True, text=True)
        return time.perf_counter() - started, done.returncode, done.stdout

    timed()  # warm-up: the page cache, Python's compiled files
    times: dict[str, list[float]] = {"warm": [], "plain": []}
    codes: dict[str, list[int]] = {"warm": [], "plain": []}
    outputs: dict[str, set[str]] = {"warm": set(), "plain": set()}
    busy0, total0 = _cpu()
    started = dt.datetime.now()
    for _ in range(args.rounds):
        for name, extra in (("warm", ()), ("plain", ("--plain",))):
            seconds, code, stdout = timed(*extra)
            times[name].append(seconds)
            codes[name].append(code)
            outputs[name].add(stdout)
    busy1, total1 = _cpu()
    subprocess.run([sys.executable, "-m", "course", "stop"], cwd=folder, env=env, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(values) for name, values in times.items()}
    ratio = med["plain"] / med["warm"]
    same = outputs["warm"] == outputs["plain"] and len(outputs["warm"]) == 1
    steps = next(iter(outputs["warm"])).strip().splitlines()[-1] if outputs["warm"] else ""
    result = {
        "date": started.isoformat(timespec="seconds"), "commit": commit(), "rounds": args.rounds,
        "lessons": lessons, "summary_line": steps,
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "as_root": os.geteuid() == 0,
        "median_s": med, "min_s": {n: min(v) for n, v in times.items()}, "all_s": times,
        "exit_codes": codes, "same_output": same, "ratio_plain_to_warm": ratio,
        "machine_busy_cores": round((busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1), 2),
    }
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grader_check.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"grader check on lesson(s) {', '.join(lessons)}: {args.rounds} rounds, {result['date']} at {result['commit']}")
    print(f"machine: {result['machine']}{' (as root: the full box)' if result['as_root'] else ''}; all cores busy on "
          f"average: {result['machine_busy_cores']} (the benchmark's own commands included)")
    print(f"output: {steps}")
    passed = all(c == 0 for v in codes.values() for c in v)
    rows = [
        ("grader check ., warm (now)", f"{med['warm']:.2f} s", "<= 10 s", "PASS" if med["warm"] <= 10 else "FAIL"),
        ("grader check . --plain (as before)", f"{med['plain']:.2f} s", "-", ""),
        ("plain / warm", f"{ratio:.1f}x", ">= 2x", "PASS" if ratio >= 2 else "FAIL"),
        ("the same output both ways", "yes" if same else "no", "yes", "PASS" if same else "FAIL"),
        ("every step passed, both ways", "yes" if passed else f"no {codes}", "yes", "PASS" if passed else "FAIL"),
    ]
    print(f"{'figure':36} {'value':>10}  {'target':>8}  result")
    for label, value, target, verdict in rows:
        print(f"{label:36} {value:>10}  {target:>8}  {verdict}")
    print(f"raw results: {out / 'grader_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
