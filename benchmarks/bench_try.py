"""Benchmark of the learner's loop: `course try N` with the warm runner, beside `python imageGen.py N`.

    .venv/bin/python benchmarks/bench_try.py             # 10 rounds of steps 1-5 (about 2 minutes)
    .venv/bin/python benchmarks/bench_try.py --rounds 3  # a quicker look

In a temporary learner folder holding lesson 1's reference solution, with a temporary COURSE_HOME and
the background offline API already running (as after a learner's first step), each round runs steps 1
to 5 four ways, one after another, each command as a learner types it (the venv's `course` script and
its Python, in the folder, without PYTHONUNBUFFERED):

- **script**: `python imageGen.py N` (the step alone: start-up, `import openai`, the request);
- **warm**: `course try N` with its warm runner up (the step forked from a process that imported the
  SDK once; the judging, the pictures saved and shown);
- **plain**: `COURSE_WARM=0 course try N`, the step as a new interpreter, as `course try` ran before;
- **cold**: `course try N` with no runner (stopped just before): it runs as plain and starts a runner
  in the background; the next round's warm tries wait until that runner answers.

Medians over all steps of all rounds. It prints a table with each figure, its target and PASS/FAIL,
writes benchmarks/out/try.json and exits 0: a benchmark reports, it does not assert.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import commit  # noqa: E402
BIN = Path(sys.executable).parent


def _cpu() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-try-"))
    folder = tmp / "lesson1"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "imageGen.py", folder / "imageGen.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "COURSE_WARM") and not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp / "home"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    python = str(BIN / "python")
    course = str(BIN / "course")

    def timed(cmd: list[str], **extra: str) -> tuple[float, int]:
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=folder, env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started, done.returncode

    def runner_up(timeout: float = 60.0) -> bool:
        from course.terminal import warm

        deadline = time.monotonic() + timeout
        saved = os.environ.get("COURSE_HOME")
        os.environ["COURSE_HOME"] = env["COURSE_HOME"]
        try:
            path = warm.socket_path()
            while time.monotonic() < deadline:
                conn = warm._connect(path) if path else None
                if conn is not None:
                    conn.close()
                    return True
                time.sleep(0.05)
            return False
        finally:
            if saved is None:
                os.environ.pop("COURSE_HOME", None)
            else:
                os.environ["COURSE_HOME"] = saved

    def stop_runner() -> None:
        subprocess.run([python, "-c", "from course.terminal.warm import stop; stop()"], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # Warm-up: the background offline API, the page cache, a runner.
    timed([python, "imageGen.py", "1"])
    timed([course, "try", "1"])
    runner_up()
    times: dict[str, list[float]] = {"script": [], "warm": [], "plain": [], "cold": []}
    codes: dict[str, list[int]] = {name: [] for name in times}
    busy0, total0 = _cpu()
    started = dt.datetime.now()
    for _ in range(args.rounds):
        for step in ("1", "2", "3", "4", "5"):
            for name, cmd, extra in (("script", [python, "imageGen.py", step], {}),
                                     ("warm", [course, "try", step], {}),
                                     ("plain", [course, "try", step], {"COURSE_WARM": "0"})):
                if name == "warm":
                    runner_up()
                seconds, code = timed(cmd, **extra)
                times[name].append(seconds)
                codes[name].append(code)
        stop_runner()
        seconds, code = timed([course, "try", "1"])
        times["cold"].append(seconds)
        codes["cold"].append(code)
        runner_up()
    busy1, total1 = _cpu()
    stop_runner()
    subprocess.run([course, "stop"], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio_warm = med["warm"] / med["script"]
    ratio_cold = med["cold"] / med["plain"]
    result = {
        "date": started.isoformat(timespec="seconds"), "commit": commit(), "rounds": args.rounds,
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "median_ms": med, "min_ms": {n: min(v) * 1000 for n, v in times.items()},
        "all_passed": {n: all(c == 0 for c in v) for n, v in codes.items()},
        "ratio_warm_to_script": ratio_warm, "ratio_cold_to_plain": ratio_cold,
        "machine_busy_cores": round((busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1), 2),
    }
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "try.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"The learner's loop: {args.rounds} rounds of lesson 1 steps 1-5, {result['date']} at {result['commit']}")
    print(f"machine: {result['machine']}; all cores busy on average: {result['machine_busy_cores']} "
          "(the benchmark's own commands included)")
    rows = [
        ("python imageGen.py N (the step alone)", f"{med['script']:.0f} ms", "-", ""),
        ("course try N, warm runner", f"{med['warm']:.0f} ms", "-", ""),
        ("course try N, COURSE_WARM=0 (as before)", f"{med['plain']:.0f} ms", "-", ""),
        ("course try 1, cold (no runner; starts one)", f"{med['cold']:.0f} ms", "-", ""),
        ("warm try / python imageGen.py N", f"{ratio_warm:.2f}x", "<= 0.33x", "PASS" if ratio_warm <= 1 / 3 else "FAIL"),
        ("cold try / plain try", f"{ratio_cold:.2f}x", "<= 1.05x", "PASS" if ratio_cold <= 1.05 else "FAIL"),
        ("every step passed, every way", "yes" if all(result["all_passed"].values()) else f"no {result['all_passed']}",
         "yes", "PASS" if all(result["all_passed"].values()) else "FAIL"),
    ]
    print(f"{'figure':46} {'value':>10}  {'target':>9}  result")
    for label, value, target, verdict in rows:
        print(f"{label:46} {value:>10}  {target:>9}  {verdict}")
    print(f"raw results: {out / 'try.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
