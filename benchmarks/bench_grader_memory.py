"""Benchmark of the grader's own memory and time per learner, for an honest learner and hostile ones.

    .venv/bin/python benchmarks/bench_grader_memory.py             # every learner below (about 15 s)
    .venv/bin/python benchmarks/bench_grader_memory.py --only big_png

The grader's process reads what a learner hands in and what their steps save, outside any box: a
picture is decoded to compare it with the images the API sent, and a script or a notebook is parsed
to find its step functions. This measures what one learner can make that process cost. Each learner
below is graded on its own, as an instructor grades, with `python -m grader grade class --out out
--lesson 1 --lesson 2 --jobs 1 --quiet` (lesson 1's script and answers, lesson 2's script):

- `honest`: the reference work (tests/fixtures/submissions/correct_everything, solutions/imageGen2.py).
- `big_png`: as honest, but lesson 2's step 2 saves a 13,300x13,300 PNG of a few hundred KB (handed in
  beside the script, copied by the step) as its picture: 177 million pixels, just under Pillow's own
  bomb guard.
- `big_script`: as honest, but imageGen.py carries 4 MB of code (a function never called).
- `big_notebook`: lesson 1 as the notebook imageGen.ipynb (the reference one) with a 4 MB code cell.
- `dense_notebook`: the worst a notebook can cost within the bounds: the reference notebook at just
  under the 8 MB a notebook may be, its metadata 2.7 million empty JSON objects (each read costs
  about 180 MB: this is the grader's bound per learner).

For each: the wall time of the whole command, and the grader process's peak resident memory (VmHWM
of /proc/<pid>/status, the kernel's own high-water mark of that process, read every 20 ms and by the
process itself as it exits; the steps run in other processes and are not counted), the points
scored, and the reason the feedback gives for the hostile file. Every run uses temporary folders and
a temporary COURSE_HOME. It prints a table with each figure, its target (the bound: at most 300 MB,
and at most 10 s more than the honest learner) and PASS/FAIL, writes
benchmarks/out/grader_memory.json, and exits 0: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import commit  # noqa: E402

HONEST = ROOT / "tests" / "fixtures" / "submissions" / "correct_everything"
LESSON2 = ROOT / "solutions" / "imageGen2.py"
NOTEBOOK = ROOT / "solutions" / "imageGen.ipynb"
LEARNERS = ("honest", "big_png", "big_script", "big_notebook", "dense_notebook")
BIG_SIDE = 13_300
BIG_CODE = 4 * 1024 * 1024
OLD = 1_600_000_000  # handed-in files are older than any step's run, as a learner's files are
TARGET_PEAK_MB = 300  # the bound: no learner makes the grader's own process larger than this
TARGET_EXTRA_S = 10.0  # ... nor take more than this many seconds longer than an honest learner


# --- the learners ------------------------------------------------------------------------------------


def big_png(side: int = BIG_SIDE) -> bytes:
    """A black RGB PNG of side x side, written row by row (never held as pixels here): a few hundred KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" + b"\0" * (3 * side)  # filter byte, then the row's pixels
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def padding(size: int) -> str:
    """`size` bytes of Python a learner could write: a function never called, one statement a line."""
    line = "    x = 1\n"
    return "def _padding():\n" + line * (size // len(line)) + "\n"


def honest(into: Path) -> Path:
    shutil.copytree(HONEST, into)
    shutil.copy(LESSON2, into / "imageGen2.py")
    return into


def hostile_png(into: Path) -> Path:
    honest(into)
    (into / "big.png").write_bytes(big_png())
    script = into / "imageGen2.py"
    text = script.read_text(encoding="utf-8")
    saving = "    target.write_bytes(picture)\n"
    assert saving in text, "solutions/imageGen2.py's step 2 no longer saves its picture this way"
    script.write_text(text.replace(saving, '    target.write_bytes((HERE / "big.png").read_bytes())\n'),
                      encoding="utf-8")
    return into


def hostile_script(into: Path) -> Path:
    honest(into)
    script = into / "imageGen.py"
    text = script.read_text(encoding="utf-8")
    runner = text.index('if __name__ == "__main__":')
    script.write_text(text[:runner] + padding(BIG_CODE) + "\n" + text[runner:], encoding="utf-8")
    return into


def hostile_notebook(into: Path) -> Path:
    honest(into)
    (into / "imageGen.py").unlink()
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cell = {"cell_type": "code", "execution_count": None, "id": "padding", "metadata": {}, "outputs": [],
            "source": padding(BIG_CODE - 256 * 1024)}  # the notebook file itself about 4 MB
    notebook["cells"].insert(3, cell)
    (into / "imageGen.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return into


def dense_notebook(into: Path) -> Path:
    honest(into)
    (into / "imageGen.py").unlink()
    text = NOTEBOOK.read_text(encoding="utf-8")
    room = 8 * 1024 * 1024 - len(text.encode("utf-8")) - 64
    notebook = json.loads(text)
    notebook["metadata"]["padding"] = "@"
    dense = "[" + ",".join(["{}"] * (room // 3)) + "]"
    (into / "imageGen.ipynb").write_text(json.dumps(notebook).replace('"@"', dense), encoding="utf-8")
    return into


MAKERS = {"honest": honest, "big_png": hostile_png, "big_script": hostile_script, "big_notebook": hostile_notebook,
          "dense_notebook": dense_notebook}


def make_learner(name: str, work: Path) -> Path:
    learner = MAKERS[name](work / "class" / name)
    for path in learner.rglob("*"):
        os.utime(path, (OLD, OLD))
    return learner


# --- measuring ---------------------------------------------------------------------------------------


def vm_hwm(pid: int) -> int | None:
    """The process's peak resident memory so far, in bytes (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# `python -m grader ARGS`, which also writes its own VmHWM to a file as it exits (the polling below may miss
# the last milliseconds: the reports are written then). Only the grader's own process writes it, not a fork.
AT_EXIT = """
import atexit, os, runpy, sys
out, me = sys.argv.pop(1), os.getpid()
def peak():
    if os.getpid() == me:
        with open("/proc/self/status") as f:
            line = next(l for l in f if l.startswith("VmHWM:"))
        with open(out, "w") as f:
            f.write(line.split()[1])
atexit.register(peak)
sys.argv[0] = "grader"
runpy.run_module("grader", run_name="__main__", alter_sys=True)
"""
GRADE = ["grade", "class", "--out", "out", "--lesson", "1", "--lesson", "2", "--jobs", "1", "--quiet"]


def grade(work: Path, timeout: float) -> dict:
    """One learner's class graded by `python -m grader grade`: wall time, the grader's peak RSS, exit code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COURSE_"))}
    env["COURSE_HOME"] = str(work / "course-home")
    env["PYTHONPATH"] = str(ROOT)
    at_exit = work / "vmhwm-kb"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", AT_EXIT, str(at_exit), *GRADE], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, vm_hwm(proc.pid) or 0)
        if time.perf_counter() - started > timeout:
            proc.kill()
        time.sleep(0.02)
    wall = time.perf_counter() - started
    try:
        peak = max(peak, int(at_exit.read_text()) * 1024)
    except (OSError, ValueError):
        pass
    output = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 2**20, 1), "exit_code": proc.returncode,
            "output_tail": output[-1500:]}


def verdict(work: Path, name: str) -> dict:
    """Points scored, and the feedback's words on the hostile file."""
    out = work / "out"
    try:
        with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
            row = next(csv.DictReader(f))
        feedback = (out / name / "feedback.md").read_text(encoding="utf-8")
    except (OSError, StopIteration):
        return {"total": None, "possible": None, "reason": "no gradebook was written"}
    words = ("more pixels than", "more than the 1 MB", "larger than any", "not the picture")
    lines = [line.strip() for line in feedback.splitlines() if any(w in line for w in words)]
    return {"total": row.get("total"), "possible": row.get("possible"), "reason": lines[0] if lines else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=LEARNERS, help="measure only this learner (repeatable)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one learner's grading may take")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "grader_memory.json")
    args = ap.parse_args()
    chosen = args.only or list(LEARNERS)
    if "honest" not in chosen:
        chosen.insert(0, "honest")  # the baseline every other figure is compared with
    results: dict[str, dict] = {}
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"bench-grader-{name}-") as tmp:
            work = Path(tmp)
            make_learner(name, work)
            print(f"{name}: grading ...", flush=True)
            results[name] = {**grade(work, args.timeout), **verdict(work, name)}
            r = results[name]
            print(f"  {r['wall_s']} s, grader peak RSS {r['peak_rss_mb']} MB, {r['total']}/{r['possible']} points",
                  flush=True)
    base = results["honest"]
    print()
    print(f"{'learner':<14} {'wall s':>8} {'peak RSS MB':>12} {'points':>9}  {'target':<18}  result")
    for name, r in results.items():
        extra_s = r["wall_s"] - base["wall_s"]
        ok = name == "honest" or (r["peak_rss_mb"] <= TARGET_PEAK_MB and extra_s <= TARGET_EXTRA_S)
        r["pass"] = ok
        points = f"{r['total']}/{r['possible']}"
        target = "-" if name == "honest" else f"<= {TARGET_PEAK_MB} MB, +{TARGET_EXTRA_S:g} s"
        print(f"{name:<14} {r['wall_s']:>8} {r['peak_rss_mb']:>12} {points:>9}  {target:<18}  "
              f"{'-' if name == 'honest' else ('PASS' if ok else 'FAIL')}")
        if r.get("reason") and name != "honest":
            print(f"{'':<14} feedback: {r['reason'][:160]}")
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit(), "machine": {
        "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "command": "python -m grader " + " ".join(GRADE),
        "learners": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
