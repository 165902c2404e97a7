"""Benchmark of the grading box's cost per step: the box with and without its PID namespace and syscall filter.

    .venv/bin/python benchmarks/bench_box.py               # 40 rounds (about 2 minutes)
    .venv/bin/python benchmarks/bench_box.py --rounds 10   # a quicker look

Grades steps 1 to 5 of lesson 1 of one honest learner (tests/fixtures/submissions/correct_everything)
through `grader.runner.run_step`, exactly as `grade_class` does: a warm engine slot (a zygote forks a
boxed child per step), a private offline Images API, a channel opened and closed per step, the copy
on a tmpfs. Each round runs the five steps once in each box, the order of the boxes rotating from
round to round, so all see the same machine:

- **full**: the box as it is: the slot's namespace host (pid 1 of the slot's PID namespace, with its
  network namespace, made once) forks the step, which makes its own mount, IPC and UTS namespaces;
  a seccomp filter loaded before the learner's code; as `probe.box()` finds them on this machine;
- **without**: the same slot with `pid_namespace` and `seccomp` switched off: the zygote forks the
  step, which makes all its namespaces (network included) itself, and no PID namespace (chroot, a uid,
  cgroups, limits, a fresh keyring and no_new_privs stay on in every variant);
- **pid namespace only** and **seccomp only**: one of the two, to tell their costs apart.

The time of a step is what `run_step` reports for it (from copying the work in to judging the
output), and the wall time of the call around it. Every step's verdict is compared between the two
boxes: they must agree. It prints a table, writes benchmarks/out/box.json and exits 0: a benchmark
reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
LEARNER = ROOT / "tests" / "fixtures" / "submissions" / "correct_everything"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system + usage.children_user + usage.children_system


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="bench-box-home-")
    os.environ["COURSE_HOME"] = home
    from grader.api import private_api
    from grader.box.engine import Engine
    from grader.grade import choose_lessons, step_column
    from grader.handin import find_work
    from grader.runner import run_step
    from grader.box.probe import box

    found_box = box()
    lesson = choose_lessons(["1"])[0]
    with tempfile.TemporaryDirectory(prefix="bench-box-") as tmp:
        found = find_work(LEARNER, [lesson], Path(tmp) / "scratch").lessons[lesson.number]
        engine = Engine(1, warm=True)
        slot = engine._all[0]
        full = {"pid_namespace": slot.pid_namespace, "seccomp": slot.seccomp}
        variants = {"full": full, "pid namespace only": {"pid_namespace": full["pid_namespace"], "seccomp": False},
                    "seccomp only": {"pid_namespace": False, "seccomp": full["seccomp"]},
                    "without": {"pid_namespace": False, "seccomp": False}}
        times: dict[str, list[float]] = {name: [] for name in variants}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        verdicts: dict[str, list[tuple[int, bool, float]]] = {name: [] for name in variants}
        faults: list[str] = []
        busy0, total0 = _cpu_times()
        own0 = _own_cpu()
        started = dt.datetime.now()
        try:
            with private_api(Path(tmp) / "api") as api:
                for round_ in range(args.rounds + 1):  # round 0 warms the zygote, the API and the page cache
                    order = list(variants)[round_ % len(variants):] + list(variants)[:round_ % len(variants)]
                    for name in order:
                        slot.pid_namespace = variants[name]["pid_namespace"]
                        slot.seccomp = variants[name]["seccomp"]
                        for step in lesson.steps:
                            t0 = time.perf_counter()
                            outcome = run_step(found, step, step_column(lesson, step["number"]), slot=slot, api=api)
                            wall = time.perf_counter() - t0
                            if outcome.fault:
                                faults.append(f"{name} step {step['number']}: {outcome.fault}")
                            if round_ == 0:
                                continue
                            times[name].append(outcome.duration * 1000)
                            walls[name].append(wall * 1000)
                            verdicts[name].append((int(step["number"]), outcome.passed, outcome.points))
        finally:
            engine.close()
        busy1, total1 = _cpu_times()
        own1 = _own_cpu()
    elapsed_cores = os.cpu_count() or 1
    machine_busy = (busy1 - busy0) / max(1, total1 - total0) * elapsed_cores
    own = own1 - own0
    seconds = (total1 - total0) / TICK / elapsed_cores
    other = max(0.0, machine_busy - own / max(seconds, 1e-9))

    def row(name: str) -> dict[str, float]:
        return {"median_ms": statistics.median(walls[name]), "p90_ms": _pct(walls[name], 0.9),
                "mean_ms": statistics.fmean(walls[name]), "step_median_ms": statistics.median(times[name]),
                "steps": len(walls[name])}

    names = list(variants)
    result = {
        "date": started.isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()} ({platform.machine()}), "
                   f"Python {platform.python_version()}, {'root' if os.geteuid() == 0 else 'not root'}",
        "box": {"full": found_box.full, "pid_namespace": found_box.pid_namespace, "seccomp": found_box.seccomp},
        "rounds": args.rounds,
        "variants": {name: {**variants[name], **row(name)} for name in names},
        "verdicts_agree": all(verdicts[name] == verdicts["full"] for name in names),
        "steps_passed": sum(1 for _, ok, _ in verdicts["full"] if ok),
        "faults": faults,
        "cpu_other_programs": round(other, 2),
    }
    base = result["variants"]["without"]["median_ms"]
    for name in names:
        result["variants"][name]["extra_ms_median"] = result["variants"][name]["median_ms"] - base
        result["variants"][name]["ratio_median"] = result["variants"][name]["median_ms"] / base
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "box.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"The box's cost per step: {args.rounds} rounds of lesson 1 steps 1-5, one honest learner, "
          f"{result['date']} at {result['commit']}")
    print(f"machine: {result['machine']}; box found: {result['box']}; other programs used {other:.2f} core")
    if not found_box.full:
        print("NOTE: not the full box here (not root?): the PID namespace is not used, the figures say little")
    print(f"{'box':20} {'median':>10} {'p90':>10} {'mean':>10} {'run_step':>10} {'extra':>10} {'ratio':>7}")
    for name in names:
        v = result["variants"][name]
        print(f"{name:20} {v['median_ms']:>7.1f} ms {v['p90_ms']:>7.1f} ms {v['mean_ms']:>7.1f} ms "
              f"{v['step_median_ms']:>7.1f} ms {v['extra_ms_median']:>+7.1f} ms {v['ratio_median']:>6.2f}x")
    print("(wall time per step; run_step = the duration run_step reports, median; extra and ratio: median against "
          "'without')")
    print(f"verdicts equal in every box: {'yes' if result['verdicts_agree'] else 'NO'} "
          f"({result['steps_passed']} / {len(verdicts['full'])} steps passed in each)")
    if faults:
        print(f"{len(faults)} steps not graded (our fault): " + "; ".join(faults[:3]))
    print(f"raw results: {out / 'box.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
