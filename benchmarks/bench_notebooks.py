"""Benchmark of the lesson notebooks: building them, and running one against the scripts.

    .venv/bin/python benchmarks/bench_notebooks.py             # 5 rounds
    .venv/bin/python benchmarks/bench_notebooks.py --rounds 3

1. Building: `course notebook N --out DIR` as a learner runs it (a fresh interpreter: start-up,
   imports, reading the pages, questions and script, writing the .ipynb), for each lesson, and the
   same build inside one process (`build_notebook` + write) after the imports are warm.
2. Running lesson 1's steps 1 to 5 (the reference solution) against the offline API, two ways, in
   alternating rounds in the same run:
   - notebook: the solutions notebook executed end to end with nbclient in a fresh kernel (kernel
     start-up included; every cell: connect, setup, 5 step cells that run, judge and show each step,
     the 5 question widgets and the progress widget);
   - scripts: `python imageGen.py 1` ... `python imageGen.py 5`, one after the other, as a learner in
     a terminal runs them.
   Both use the same background offline API, started before the first round; the figure is the
   median of the rounds, and the ratio notebook / scripts.

Every run uses a temporary COURSE_HOME and folders. It prints a table with each figure, its target
and PASS/FAIL, writes benchmarks/out/notebooks.json, and exits 0: it reports, it does not assert.
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


def machine_busy() -> tuple[float, float]:
    """(busy jiffies of the whole machine, wall time): how loaded the machine was, a rough gauge."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    return float(sum(parts) - parts[3] - parts[4]), time.time()


def run_scripts(folder: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    for n in range(1, 6):
        done = subprocess.run([sys.executable, "imageGen.py", str(n)], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"imageGen.py {n} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def run_notebook(folder: Path, nb_path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    elapsed = time.perf_counter() - started
    bad = [c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    passed = sum(1 for c in nb.cells if c.metadata.get("course", {}).get("role") == "step"
                 and any("data-passed='true'" in o.get("data", {}).get("text/html", "") for o in c.outputs))
    if bad or passed != 5:
        raise SystemExit(f"the notebook did not run cleanly: {len(bad)} cells with errors, {passed}/5 steps passed")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from course.lesson.lessons import all_lessons
    from course.jupyter.notebooks import build_notebook, write_notebook

    tmp = Path(tempfile.mkdtemp(prefix="bench-notebooks-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp / "home"), JUPYTER_PLATFORM_DIRS="1", PYTHONPATH=str(ROOT),
               JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"))
    os.environ.clear()
    os.environ.update(env)
    results: dict[str, object] = {"date": dt.datetime.now().isoformat(timespec="seconds"),
                                  "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                                             f"Python {platform.python_version()}",
                                  "rounds": args.rounds}
    try:
        # 1. building
        cli = {}
        for lesson in all_lessons():
            times = []
            for i in range(args.rounds):
                out = tmp / f"build-{lesson.number}-{i}"
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "course", "notebook", str(lesson.number), "--out", str(out)],
                               check=True, capture_output=True, env=env, timeout=60)
                times.append(time.perf_counter() - started)
            cli[lesson.number] = statistics.median(times)
        warm = {}
        for lesson in all_lessons():
            times = []
            for i in range(args.rounds):
                started = time.perf_counter()
                write_notebook(build_notebook(lesson), tmp / f"warm-{lesson.number}-{i}.ipynb")
                times.append(time.perf_counter() - started)
            warm[lesson.number] = statistics.median(times)
        results["build_cli_s"] = cli
        results["build_in_process_s"] = warm

        # 2. running: one folder for each way, the same solution, the same background server
        nb_dir, sc_dir = tmp / "notebook", tmp / "scripts"
        for folder in (nb_dir, sc_dir):
            folder.mkdir()
            shutil.copytree(ROOT / "exercises" / "assets", folder / "assets")
        shutil.copy(ROOT / "solutions" / "imageGen.ipynb", nb_dir / "imageGen.ipynb")
        shutil.copy(ROOT / "solutions" / "imageGen.py", sc_dir / "imageGen.py")
        subprocess.run([sys.executable, "-c", "import course.auto"], check=True, env=env, timeout=60)  # the server
        run_scripts(sc_dir, env)  # warm the page cache for both ways
        nb_times, sc_times = [], []
        busy0, wall0 = machine_busy()
        for i in range(args.rounds):
            order = [("notebook", lambda: run_notebook(nb_dir, nb_dir / "imageGen.ipynb")),
                     ("scripts", lambda: run_scripts(sc_dir, env))]
            for name, fn in order if i % 2 == 0 else reversed(order):
                (nb_times if name == "notebook" else sc_times).append(fn())
                print(f"  round {i + 1}: {name} {(nb_times if name == 'notebook' else sc_times)[-1]:.2f} s", flush=True)
        busy1, wall1 = machine_busy()
        results["notebook_s"] = nb_times
        results["scripts_s"] = sc_times
        results["machine_busy_cores"] = round((busy1 - busy0) / os.sysconf("SC_CLK_TCK") / (wall1 - wall0), 2)
    finally:
        subprocess.run([sys.executable, "-m", "course", "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    nb_med, sc_med = statistics.median(nb_times), statistics.median(sc_times)
    ratio = nb_med / sc_med
    results.update(notebook_median_s=nb_med, scripts_median_s=sc_med, ratio=ratio)
    worst_cli = max(cli.values())
    rows = [
        *[(f"build lesson {n}: `course notebook {n}` (fresh process)", f"{t:.2f} s", "< 1 s",
           "PASS" if t < 1 else "FAIL") for n, t in cli.items()],
        *[(f"build lesson {n}: in process (warm imports)", f"{t * 1000:.0f} ms", "–", "") for n, t in warm.items()],
        ("lesson 1 notebook end to end (nbclient, fresh kernel)", f"{nb_med:.2f} s", "–", ""),
        ("lesson 1 steps 1–5 as scripts (python imageGen.py N)", f"{sc_med:.2f} s", "–", ""),
        ("ratio notebook / scripts", f"{ratio:.2f}x", "≤ 1.5x", "PASS" if ratio <= 1.5 else "FAIL"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>9}  {'target':>7}  result")
    for name, value, target, verdict in rows:
        print(f"{name:<{width}}  {value:>9}  {target:>7}  {verdict}")
    print(f"\nmedian of {args.rounds} rounds; machine busy (all programs) {results['machine_busy_cores']} cores "
          f"while running; slowest build {worst_cli:.2f} s")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "notebooks.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
