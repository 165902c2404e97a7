"""Benchmark of grading a class on Dask: the same class locally and on local clusters of 1, 2 and 4 workers.

    .venv/bin/python benchmarks/bench_cluster.py                  # 200 learners: local, local:1, local:2, local:4
    .venv/bin/python benchmarks/bench_cluster.py --learners 40    # a smaller class
    .venv/bin/python benchmarks/bench_cluster.py --workers 2      # local and local:2 only

1. Writes the class of `bench_grading.py` (the fixture scenarios, mixed with a fixed seed; lesson 1).
2. Grades it locally: `grade_class(..., warm=True, jobs=<cores>)`, the path without `--cluster`.
3. For each worker count N: starts a `LocalCluster` of N worker processes (one thread each, as
   `--cluster local:N` does; its start-up is timed apart), then grades the same class through it:
   `grade_class(..., cluster=client)`: each worker starts its own engine, box and private offline API
   (the plugin; timed as part of grading, since every run pays it), the learners travel as tars, the
   results come back as data, and this process alone writes the gradebook.
4. Compares every cluster gradebook with the local one, row for row, and records what travels per
   learner: the packed submission (bytes) and the pickled result.

Prints a table, writes benchmarks/out/cluster.json, exits 0: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_grading import compare_gradebooks, git_state, make_class, own_cpu_seconds, system_busy_seconds  # noqa: E402


def timed_grading(source: Path, out: Path, *, jobs: int | None = None, cluster: object = None) -> dict:
    from grader.coordinator import grade_class

    busy0, cpu0, mine0 = system_busy_seconds(), own_cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    run = grade_class(source, out, lessons=["1"], jobs=jobs, warm=True, cluster=cluster)
    wall = time.perf_counter() - t0
    steps = [s for r in run.results for s in r.steps]
    busy = system_busy_seconds() - busy0
    return {"wall_s": wall, "learners": len(run.results), "steps": len(steps),
            "learners_per_s": len(run.results) / wall if wall else 0.0,
            "incomplete": sum(1 for r in run.results if not r.complete),
            "result_bytes": [len(pickle.dumps(r.to_dict())) for r in run.results],
            "cpu_cores_all_programs": busy / wall if wall else float("nan"),
            "cpu_s_this_process_tree": own_cpu_seconds() - cpu0,
            # this process alone: the gradebook and reports (and, on a LocalCluster, the scheduler's threads)
            "cpu_ms_this_process_per_learner": 1000 * (time.process_time() - mine0) / max(1, len(run.results))}


def on_cluster(source: Path, out: Path, workers: int) -> dict:
    import logging

    import dask
    from distributed import Client, LocalCluster

    from grader.cluster import ALLOWED_FAILURES

    t0 = time.perf_counter()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
                               silence_logs=logging.ERROR)
    client = Client(cluster)
    started = time.perf_counter() - t0
    try:
        figures = timed_grading(source, out, cluster=client)
        log = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log))
    finally:
        client.close()
        cluster.close()
    return {"workers": workers, "cluster_start_s": started, "scheduler_transitions": log, **figures}


def travel(klass: Path, back: list[int]) -> dict:
    """What one learner sends to a worker (its packed folder) and what comes back (its result, pickled)."""
    from grader.cluster import pack

    packed = [len(pack(folder)) for folder in sorted(klass.iterdir()) if folder.is_dir()]
    return {"packed_bytes_mean": statistics.mean(packed), "packed_bytes_max": max(packed),
            "result_bytes_mean": statistics.mean(back) if back else None,
            "result_bytes_max": max(back) if back else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learners", type=int, default=200)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4], help="local cluster sizes (default 1 2 4)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers of the local run (default: cores)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "cluster.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    os.environ["COURSE_HOME"] = str(work / "course-home")
    for name in [k for k in os.environ if k.startswith("OPENAI_")]:
        del os.environ[name]
    report: dict = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_cluster.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "root": os.geteuid() == 0},
        "loadavg_before": os.getloadavg(), "git": git_state(),
    }
    try:
        klass = work / "class"
        klass.mkdir()
        learners = sorted(make_class(klass, args.learners))
        print(f"class: {len(learners)} learners; local run, jobs={args.jobs} ...", flush=True)
        report["local"] = timed_grading(klass, work / "out-local", jobs=args.jobs)
        report["local"]["jobs"] = args.jobs
        print(f"  local: {report['local']['wall_s']:.1f} s", flush=True)
        report["travel"] = travel(klass, report["local"].pop("result_bytes"))
        report["clusters"] = []
        for n in args.workers:
            print(f"local:{n} ...", flush=True)
            figures = on_cluster(klass, work / f"out-local{n}", n)
            figures.pop("result_bytes")
            figures["same_gradebook_as_local"] = compare_gradebooks(
                work / "out-local" / "gradebook.csv", work / f"out-local{n}" / "gradebook.csv", learners)
            report["clusters"].append(figures)
            print(f"  local:{n}: start {figures['cluster_start_s']:.1f} s, grading {figures['wall_s']:.1f} s, "
                  f"identical: {figures['same_gradebook_as_local']['identical']}", flush=True)
    finally:
        report["loadavg_after"] = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)

    local = report["local"]
    print()
    print(f"{'run':<24} {'start':>8} {'grading':>9} {'learners/s':>11} {'overhead/learner':>17} {'identical':>10}")
    print(f"{'local, jobs=' + str(local['jobs']):<24} {'-':>8} {local['wall_s']:>8.1f}s {local['learners_per_s']:>11.2f} "
          f"{'-':>17} {'-':>10}")
    for c in report["clusters"]:
        c["overhead_per_learner_ms"] = 1000 * (c["wall_s"] - local["wall_s"]) / max(1, c["learners"])
        same = c["same_gradebook_as_local"]
        print(f"{'local:' + str(c['workers']):<24} {c['cluster_start_s']:>7.1f}s {c['wall_s']:>8.1f}s "
              f"{c['learners_per_s']:>11.2f} {c['overhead_per_learner_ms']:>14.1f} ms "
              f"{str(same['identical']) + ' (' + str(same['compared']) + ')':>10}")
    t = report["travel"]
    for c in [local, *report["clusters"]]:
        print(f"{'local:' + str(c['workers']) if 'workers' in c else 'local':<8}: this process (client, writer"
              f"{', scheduler' if 'workers' in c else ', grader threads'}) {c['cpu_ms_this_process_per_learner']:.1f} ms "
              f"CPU per learner; all programs {c['cpu_cores_all_programs']:.2f} cores")
    print(f"per learner: {t['packed_bytes_mean'] / 1024:.1f} KiB packed (max {t['packed_bytes_max'] / 1024:.1f}), "
          f"result {t['result_bytes_mean'] / 1024:.1f} KiB pickled (max {t['result_bytes_max'] / 1024:.1f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"written: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
