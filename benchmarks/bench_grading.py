"""Benchmark of grading a class: the warm engine against the plain design, same class, same run.

    .venv/bin/python benchmarks/bench_grading.py                    # full run: 200 learners (~15+ minutes)
    .venv/bin/python benchmarks/bench_grading.py --quick            # 20 learners
    .venv/bin/python benchmarks/bench_grading.py --plain-sample 20  # plain design on the first 20 only, extrapolated
    .venv/bin/python benchmarks/bench_grading.py --skip-plain       # the fast design only
    .venv/bin/python benchmarks/bench_grading.py --skip-plain --no-memory  # timings only, to compare two trees

1. Generates a class of --learners synthetic submissions (default 200) in a temporary folder: each
   learner folder (learner001, learner002, ...) is a copy of one scenario of
   tests/fixtures/submissions/ (see EXPECTED.md there), drawn as a realistic mix: about 45%
   `correct_everything`, a few `not_written_yet`, `syntax_error` and `legacy_0x_code`, one
   `empty_folder`, the rest spread over the broken-step and wrong-answers scenarios; shuffled with a
   fixed seed, so any prefix is a mix too. A comment line naming the learner is appended to each
   imageGen.py, so no two learners have the same content hash.
2. Grades lesson 1 (steps 1 to 5 and its questions) with the FAST design:
   `grade_class(..., warm=True, jobs=<cores>)`: one zygote per worker imports the SDK once and forks a
   boxed child per step; its rows are checked against the golden gradebook of the fixture scenarios
   (tests/files/grader/gradebook.csv). Wall time, and peak memory: a small sampling process of its own sums the RSS of this process
   and all its descendants (zygotes, the offline API server, the steps) from /proc every 50 ms (PSS,
   which counts pages shared after fork once, every 500 ms), plus getrusage(RUSAGE_CHILDREN).ru_maxrss.
3. Grades the SAME class with the PLAIN design: `grade_class(..., warm=False, jobs=1)`: a fresh
   `python imageGen.py N` per step, one at a time, in the same box. With --plain-sample N only the
   first N learners are graded plainly and the wall time is extrapolated to the class (reported as
   such); the default is the full class.
4. Compares the two gradebook.csv files row by row (over the learners both graded).

Every run uses a temporary COURSE_HOME and temporary folders, never the user's. It prints a table with
each figure, its target and PASS/FAIL, writes benchmarks/out/grading.json, and exits 0: it reports,
it does not assert.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")

# Scenario counts for a class of 200; other sizes: one of each scenario (when there are at least 16
# learners), the rest in proportion (largest remainder).
MIX = {
    "correct_everything": 90,
    "step1_wrong_model": 8,
    "step2_prints_url_only": 8,
    "step3_subscripts_response": 8,
    "step3_hand_typed_url": 8,
    "step4_catches_and_prints": 8,
    "step4_uncaught_traceback": 8,
    "step4_valid_size": 8,
    "step5_no_error_first": 8,
    "answers_wrong": 8,
    "answers_partly_right": 8,
    "answers_missing": 8,
    "legacy_0x_code": 7,
    "syntax_error": 7,
    "not_written_yet": 7,
    "empty_folder": 1,
}

# The project's golden gradebook for the fixture learners (one row per scenario, named by it): every
# synthetic learner's row must equal its scenario's row there.
GOLDEN = ROOT / "tests" / "files" / "grader" / "gradebook.csv"


# --- the class ---------------------------------------------------------------------------------


def allocate(n: int) -> dict[str, int]:
    """Scenario counts for n learners: MIX for 200, in proportion otherwise (largest remainder)."""
    base = 1 if n >= len(MIX) else 0
    weights = {k: w - base for k, w in MIX.items()}
    total, rest = sum(weights.values()), n - base * len(MIX)
    exact = {k: rest * w / total for k, w in weights.items()}
    counts = {k: base + int(v) for k, v in exact.items()}
    order = sorted(exact, key=lambda k: (exact[k] - int(exact[k]), MIX[k]), reverse=True)
    for k in order[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def make_class(into: Path, n: int, seed: int = 5) -> dict[str, str]:
    """Write n learner folders into `into`; return learner id -> scenario."""
    scenarios = [s for s, c in allocate(n).items() for _ in range(c)]
    random.Random(seed).shuffle(scenarios)
    width = max(3, len(str(n)))
    learners: dict[str, str] = {}
    for i, scenario in enumerate(scenarios, 1):
        learner = f"learner{i:0{width}d}"
        target = into / learner
        shutil.copytree(FIXTURES / scenario, target)
        script = target / "imageGen.py"
        if script.exists():
            text = script.read_text(encoding="utf-8")
            script.write_text(text + ("" if text.endswith("\n") else "\n") + f"# learner id: {learner}\n",
                              encoding="utf-8")
        learners[learner] = scenario
    return learners


# --- memory and CPU ------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(root: int) -> list[int]:
    kids = _children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(kids.get(pid, []))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class MemorySampler:
    """Peak of the summed RSS (every `interval`) and PSS (every 10th sample) of this process's tree, sampled by
    a small process of its own (a thread here would take the interpreter lock from the grader's threads);
    its own CPU time is reported apart (`cpu_s`) and left out of the grader's."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.samples = 0
        self.peak_at = 0.0
        self.cpu_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MemorySampler:  # noqa: PYI034
        self._proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--sample-memory",
                                       str(os.getpid()), str(self.interval)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        self._proc.stdout.readline()  # it is sampling
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        out, _ = self._proc.communicate(b"")
        found = json.loads(out.decode().strip().splitlines()[-1])
        for name in ("peak_rss", "peak_pss", "peak_procs", "samples", "peak_at", "cpu_s"):
            setattr(self, name, found[name])


class NoSampler(MemorySampler):
    """`--no-memory`: no sampling process beside the grader (for timings compared across trees)."""

    def __enter__(self) -> MemorySampler:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def sample_memory(root: int, interval: float) -> None:
    """The sampler's own loop (`--sample-memory ROOT INTERVAL`): until its stdin closes, then one JSON line."""
    import select

    me, start = os.getpid(), time.perf_counter()
    found = {"peak_rss": 0, "peak_pss": 0, "peak_procs": 0, "samples": 0, "peak_at": 0.0}
    print("sampling", flush=True)
    while not select.select([sys.stdin], [], [], interval)[0]:
        pids = [p for p in process_tree(root) if p != me]
        total = sum(rss_bytes(p) for p in pids)
        if total > found["peak_rss"]:
            found["peak_rss"], found["peak_at"] = total, time.perf_counter() - start
        found["peak_procs"] = max(found["peak_procs"], len(pids))
        if found["samples"] % 10 == 0:
            found["peak_pss"] = max(found["peak_pss"], sum(pss_bytes(p) for p in pids))
        found["samples"] += 1
    t = os.times()
    found["cpu_s"] = t.user + t.system
    print(json.dumps(found), flush=True)


def system_busy_seconds() -> float:
    """CPU seconds all processes spent busy since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / TICK
    except (OSError, IndexError, ValueError):
        return float("nan")


def own_cpu_seconds() -> float:
    """This process plus every descendant that has been waited for (the grader's tree, once it is done)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --- grading ---------------------------------------------------------------------------------------


def grade(source: Path, out: Path, *, warm: bool, jobs: int, label: str, total: int, memory: bool = True) -> dict:
    if (ROOT / "grader" / "coordinator.py").exists():
        from grader.coordinator import grade_class
    else:  # a tree from before the coordinator (for before/after runs with this same script)
        from grader.grade import grade_class

    done = [0]
    started = time.perf_counter()
    last = [started]

    def on_result(result: object, reused: bool) -> None:
        done[0] += 1
        last[0] = time.perf_counter()
        if done[0] % 20 == 0 or done[0] == total:
            print(f"  {label}: {done[0]}/{total} learners, {time.perf_counter() - started:.1f} s", flush=True)

    busy0, cpu0 = system_busy_seconds(), own_cpu_seconds()
    with MemorySampler() if memory else NoSampler() as mem:
        t0 = time.perf_counter()
        run = grade_class(source, out, lessons=["1"], jobs=jobs, warm=warm, on_result=on_result)
        wall = time.perf_counter() - t0
    cpu = own_cpu_seconds() - cpu0 - mem.cpu_s  # the grader's tree, without the sampler
    busy = system_busy_seconds() - busy0 - mem.cpu_s
    steps = [s for r in run.results for s in r.steps]
    reasons: dict[str, int] = {}
    for s in steps:
        if s.reason:
            key = s.reason if "not written yet" not in s.reason else "step N is not written yet"
            reasons[key] = reasons.get(key, 0) + 1
    return {
        "design": "fast (warm=True)" if warm else "plain (warm=False)", "warm": warm, "jobs": jobs,
        "learners": len(run.results), "steps": len(steps), "wall_s": wall,
        "graded_s": last[0] - t0,  # until the last learner's result, before the class reports
        "reports_s": wall - (last[0] - t0),
        "steps_per_s": len(steps) / wall if wall > 0 else 0.0,
        "ms_per_step": 1000 * wall / len(steps) if steps else float("nan"),
        "step_durations_s_sum": sum(s.duration for s in steps),
        "steps_timed_out": sum(1 for s in steps if s.reason.startswith("the step did not finish")),
        "step_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "peak_rss_tree_mb": mem.peak_rss / 2**20, "peak_pss_tree_mb": mem.peak_pss / 2**20,
        "peak_rss_at_s": mem.peak_at, "peak_processes": mem.peak_procs, "memory_samples": mem.samples,
        "sampler_cpu_s": mem.cpu_s,
        "ru_maxrss_children_mb_after": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "ru_maxrss_self_mb_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": cpu, "cpu_cores": cpu / wall if wall > 0 else float("nan"),
        "other_cpu_cores": (busy - cpu) / wall if wall > 0 else float("nan"),
        "_run": run,
    }


def read_gradebook(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows[0], {r[0]: r for r in rows[1:]}


def compare_gradebooks(fast: Path, plain: Path, learners: list[str]) -> dict:
    head_f, rows_f = read_gradebook(fast)
    head_p, rows_p = read_gradebook(plain)
    diffs: list[str] = []
    if head_f != head_p:
        diffs.append(f"header: fast {head_f} / plain {head_p}")
    wanted = set(learners)
    missing_f = sorted(wanted - set(rows_f))
    missing_p = sorted(wanted - set(rows_p))
    for who in missing_f:
        diffs.append(f"{who}: missing from the fast gradebook")
    for who in missing_p:
        diffs.append(f"{who}: missing from the plain gradebook")
    if set(rows_p) - wanted:
        diffs.append(f"plain gradebook has learners not in the class: {sorted(set(rows_p) - wanted)[:5]}")
    compared = 0
    for who in sorted(wanted & set(rows_f) & set(rows_p)):
        compared += 1
        if rows_f[who] != rows_p[who]:
            cells = [f"{h}: {a} vs {b}" for h, a, b in zip(head_f, rows_f[who], rows_p[who]) if a != b]
            diffs.append(f"{who}: " + "; ".join(cells))
    return {"compared": compared, "identical": not diffs, "differences": diffs}


def check_golden(fast: Path, learners: dict[str, str]) -> dict:
    """Each learner's fast gradebook row against its scenario's row of the golden gradebook."""
    if not GOLDEN.exists():
        return {"golden": None, "learners_as_golden": None, "learners": len(learners), "unexpected": []}
    head_g, golden = read_gradebook(GOLDEN)
    head_f, rows = read_gradebook(fast)
    wrong: list[str] = []
    if head_g != head_f:
        wrong.append(f"header: fast {head_f} / golden {head_g}")
    for who, scenario in sorted(learners.items()):
        got, want = rows.get(who), golden.get(scenario)
        if got is None or want is None or got[1:] != want[1:]:
            cells = ([f"{h}: {a} (golden {b})" for h, a, b in zip(head_f[1:], got[1:], want[1:]) if a != b]
                     if got and want else ["missing"])
            wrong.append(f"{who} ({scenario}): " + "; ".join(cells))
    ok = sum(1 for who, sc in learners.items() if rows.get(who) and golden.get(sc) and rows[who][1:] == golden[sc][1:])
    return {"golden": str(GOLDEN.relative_to(ROOT)), "learners_as_golden": ok, "learners": len(learners),
            "unexpected": wrong}


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty_files": [line[3:] for line in git("status", "--porcelain").splitlines()
                            if line[3:].startswith(("grader/", "course/"))]}


# --- report ----------------------------------------------------------------------------------------


def main() -> int:
    if sys.argv[1:2] == ["--sample-memory"]:
        sample_memory(int(sys.argv[2]), float(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learners", type=int, default=None, help="class size (default 200; 20 with --quick)")
    ap.add_argument("--quick", action="store_true", help="20 learners")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers for the fast design (default: cores)")
    ap.add_argument("--skip-plain", action="store_true", help="grade with the fast design only")
    ap.add_argument("--plain-sample", type=int, default=None, metavar="N",
                    help="grade only the first N learners with the plain design and extrapolate its wall time")
    ap.add_argument("--no-memory", action="store_true",
                    help="no memory sampler beside the grader (timings only; for comparing two trees)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (class, gradebooks)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "grading.json")
    args = ap.parse_args()
    n = args.learners if args.learners is not None else (20 if args.quick else 200)

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    os.environ["COURSE_HOME"] = str(work / "course-home")  # never the user's folder
    for name in [k for k in os.environ if k.startswith("OPENAI_")]:
        del os.environ[name]
    report: dict = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_grading.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "root": os.geteuid() == 0},
        "loadavg_before": os.getloadavg(),
        "git": git_state(),
    }
    try:
        klass = work / "class"
        klass.mkdir()
        learners = make_class(klass, n)
        ids = sorted(learners)
        counts: dict[str, int] = {}
        for s in learners.values():
            counts[s] = counts.get(s, 0) + 1
        report["class"] = {"learners": n, "scenarios": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
        print(f"class: {n} learners in {klass}: " + ", ".join(f"{k} {v}" for k, v in report["class"]["scenarios"].items()),
              flush=True)

        print(f"[1/2] fast design: warm=True, jobs={args.jobs} ...", flush=True)
        fast = grade(klass, work / "out_fast", warm=True, jobs=args.jobs, label="fast", total=n,
                     memory=not args.no_memory)
        fast.pop("_run")
        report["expected"] = check_golden(work / "out_fast" / "gradebook.csv", learners)
        report["fast"] = fast

        if not args.skip_plain:
            sample = n if args.plain_sample is None else max(1, min(n, args.plain_sample))
            source = klass
            if sample < n:
                source = work / "class_sample"
                source.mkdir()
                for who in ids[:sample]:
                    shutil.copytree(klass / who, source / who)
            print(f"[2/2] plain design: warm=False, jobs=1, {sample} of {n} learners ...", flush=True)
            plain = grade(source, work / "out_plain", warm=False, jobs=1, label="plain", total=sample)
            plain.pop("_run")
            plain["sampled_learners"] = sample
            plain["extrapolated"] = sample < n
            plain["wall_s_class"] = plain["wall_s"] * n / sample
            report["plain"] = plain
            report["comparison"] = compare_gradebooks(work / "out_fast" / "gradebook.csv",
                                                      work / "out_plain" / "gradebook.csv", ids[:sample])
    finally:
        report["loadavg_after"] = os.getloadavg()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    rows: list[tuple[str, str, str, str]] = []
    checks: dict[str, bool] = {}

    def row(name: str, value: str, target: str = "-", ok: bool | None = None) -> None:
        rows.append((name, value, target, "" if ok is None else ("PASS" if ok else "FAIL")))
        if ok is not None:
            checks[name] = ok

    f = report["fast"]
    target = 25 * f["learners"] / 200 if f["learners"] >= 200 else None  # 25 s for a class of 200, on 2 cores
    row(f"fast: wall time, {f['learners']} learners (warm, jobs={f['jobs']})", f"{f['wall_s']:.1f} s",
        f"<= {target:.0f} s" if target else "-", f["wall_s"] <= target if target else None)
    row("fast: of it, grading / the class reports", f"{f['graded_s']:.1f} s / {f['reports_s']:.1f} s")
    row("fast: steps graded / steps per s", f"{f['steps']} / {f['steps_per_s']:.1f}")
    row("fast: wall per step", f"{f['ms_per_step']:.0f} ms")
    if f["memory_samples"]:
        row("fast: peak RSS, grader tree (sum, 50 ms)", f"{f['peak_rss_tree_mb']:.0f} MB")
        row("fast: peak PSS, grader tree (sum, 500 ms)", f"{f['peak_pss_tree_mb']:.0f} MB")
    else:
        row("fast: peak RSS / PSS, grader tree", "not sampled (--no-memory)")
    row("fast: ru_maxrss, RUSAGE_CHILDREN (largest child)", f"{f['ru_maxrss_children_mb_after']:.0f} MB")
    row("fast: CPU cores used (grader tree / other)", f"{f['cpu_cores']:.2f} / {f['other_cpu_cores']:.2f}")
    e = report["expected"]
    if e["learners_as_golden"] is not None:
        row("fast: rows equal to their scenario's golden row", f"{e['learners_as_golden']} / {e['learners']}", "all",
            e["learners_as_golden"] == e["learners"])
    if "plain" in report:
        p, c = report["plain"], report["comparison"]
        label = f"plain: wall time, {p['learners']} learners (fresh interpreter, jobs=1)"
        row(label, f"{p['wall_s']:.1f} s")
        if p["extrapolated"]:
            row(f"plain: extrapolated to {n} learners", f"{p['wall_s_class']:.1f} s")
        row("plain: steps graded / steps per s", f"{p['steps']} / {p['steps_per_s']:.2f}")
        row("plain: wall per step", f"{p['ms_per_step']:.0f} ms")
        row("plain: peak RSS, grader tree (sum, 50 ms)", f"{p['peak_rss_tree_mb']:.0f} MB")
        row("plain: CPU cores used (grader tree / other)", f"{p['cpu_cores']:.2f} / {p['other_cpu_cores']:.2f}")
        ratio = p["wall_s_class"] / f["wall_s"] if f["wall_s"] > 0 else float("nan")
        report["ratio_plain_over_fast"] = ratio
        row("ratio plain / fast" + (" (extrapolated)" if p["extrapolated"] else ""), f"{ratio:.1f}x", ">= 10x",
            ratio >= 10)
        row(f"identical grades (gradebook.csv, {c['compared']} learners)", "yes" if c["identical"] else
            f"no ({len(c['differences'])} differences)", "yes", c["identical"])
    report["checks"] = checks

    widths = [max(len(x[i]) for x in rows + [("figure", "value", "target", "")]) for i in range(4)]
    print()
    before = report["loadavg_before"][0]
    print(f"Grading benchmark  ({report['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"1-min load average before: {before:.2f})")
    if before > 0.5:
        print("warning: the machine was busy before the run; other programs skew these figures")
    for cells in [("figure", "value", "target", ""), tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    if e["unexpected"]:
        print(f"\nnot as {e['golden']} says:", *e["unexpected"][:10], sep="\n  ")
    if "comparison" in report and report["comparison"]["differences"]:
        print("\ngradebook differences (fast vs plain):", *report["comparison"]["differences"][:10], sep="\n  ")
    for name in ("fast", "plain"):
        if name in report and report[name]["step_reasons"]:
            print(f"\n{name}: step reasons:", *(f"{v:4d}  {k}" for k, v in report[name]["step_reasons"].items()),
                  sep="\n  ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
