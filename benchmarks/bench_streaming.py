"""Benchmark of streamed generations under load, beside non-streamed ones, in one run.

    env -u PYTHONUNBUFFERED .venv/bin/python benchmarks/bench_streaming.py            # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_streaming.py --clients 20 --requests 100        # smoke run

One offline server subprocess (`python -m course serve --port 0`, one worker, temporary data and
COURSE_HOME folders, 127.0.0.1 only), started as bench_offline_api.py starts it. N concurrent
clients (default 50), each its own task on one `AsyncOpenAI` client (the real SDK, real HTTP),
send gpt-image-1.5 1024x1024 quality=low generations, two ways with the same prompts and count:

- plain:    `images.generate(...)`, one JSON answer; its latency is the time to the whole answer.
- streamed: `images.generate(..., stream=True, partial_images=2)`; the time to the first
  `partial_image` event, and the time to the `completed` event (the final image).

So that other programs on the machine weigh on both alike, the requests run in four blocks in the
order plain, streamed, streamed, plain, each block half of one way's requests. For each way: latency
percentiles of the final image, throughput, errors (an exception, or events out of the API's order),
the server's request-log rows against the requests sent (and, streamed, rows whose `stream` column
says 3 events, completed), and the server's CPU seconds per request; then the ratios streamed/plain.
It prints a table, writes benchmarks/out/streaming.json (or --json OUT), and exits 0: it reports,
it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_offline_api import (  # noqa: E402
    AUTH, HOST, ROOT, Server, pct, prompt_for, run_loop, system_busy_seconds, tree_cpu_seconds,
)
from measured import commit  # noqa: E402

MODEL, SIZE, QUALITY, PARTIALS = "gpt-image-1.5", "1024x1024", "low", 2
ORDER = ("plain", "streamed", "streamed", "plain")
KEY = AUTH.removeprefix("Bearer ")


def prompts(clients: int, per_client: int, block: int) -> list[list[str]]:
    """Each client's prompts for one half of the run (block 0 or 1); both ways get the same ones."""
    return [[prompt_for(c, block * per_client + i) for i in range(per_client)] for c in range(clients)]


async def one_block(port: int, way: str, work: list[list[str]]) -> dict:
    """Every client sends its prompts one after the other, all clients at once; one AsyncOpenAI."""
    from openai import AsyncOpenAI

    # The SDK's own connection pool (up to 1000 connections, 100 kept alive) holds all the clients.
    client = AsyncOpenAI(base_url=f"http://{HOST}:{port}/v1", api_key=KEY, max_retries=0, timeout=300)
    first_ms: list[float] = []
    final_ms: list[float] = []
    errors: list[str] = []
    sent = 0
    done_at: list[float] = []

    async def plain(prompt: str) -> None:
        r = await client.images.generate(model=MODEL, prompt=prompt, size=SIZE, quality=QUALITY)
        if not r.data or not r.data[0].b64_json:
            raise ValueError("no image")

    async def streamed(prompt: str, t: float) -> None:
        stream = await client.images.generate(model=MODEL, prompt=prompt, size=SIZE, quality=QUALITY,
                                              stream=True, partial_images=PARTIALS)
        kinds: list[str] = []
        async for event in stream:
            if event.type == "image_generation.partial_image":
                if event.partial_image_index != len(kinds):
                    raise ValueError("partial_image_index out of order")
                if not kinds:
                    first_ms.append((time.perf_counter() - t) * 1000)
            elif event.type != "image_generation.completed" or not event.b64_json:
                raise ValueError(f"unexpected event {event.type}")
            kinds.append(event.type)
        if kinds != ["image_generation.partial_image"] * PARTIALS + ["image_generation.completed"]:
            raise ValueError("events out of the API's order")

    async def one(mine: list[str]) -> None:
        nonlocal sent
        for prompt in mine:
            sent += 1
            t = time.perf_counter()
            try:
                await (streamed(prompt, t) if way == "streamed" else plain(prompt))
            except Exception as exc:  # noqa: BLE001 - every failure is a figure here
                errors.append(type(exc).__name__)
                continue
            final_ms.append((time.perf_counter() - t) * 1000)
            done_at.append(time.perf_counter())

    cpu0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(one(mine) for mine in work))
    elapsed = (max(done_at) if done_at else time.perf_counter()) - start
    client_cpu = time.process_time() - cpu0
    await client.close()
    return {"sent": sent, "completed": len(final_ms), "errors": errors, "elapsed_s": elapsed,
            "first_ms": first_ms, "final_ms": final_ms, "client_cpu_s": client_cpu}


def warm_up(port: int) -> None:
    """A few of each way, so imports, fonts and the render threads are warm before the clock starts."""
    run_loop(one_block(port, "plain", [[prompt_for(9000 + c, 0)] for c in range(4)]))
    run_loop(one_block(port, "streamed", [[prompt_for(9100 + c, 0)] for c in range(4)]))


def measure(clients: int, requests: int, work_dir: Path) -> dict:
    from course.offline.requestlog import read_log

    per_client = max(1, requests // clients // 2)  # each block is half of one way's requests
    data_dir = work_dir / "data"
    server = Server(data_dir, work_dir / "home")
    totals = {way: {"sent": 0, "completed": 0, "errors": [], "elapsed_s": 0.0, "first_ms": [], "final_ms": [],
                    "client_cpu_s": 0.0, "server_cpu_s": 0.0, "busy_s": 0.0, "rows": []} for way in set(ORDER)}
    blocks: list[dict] = []
    try:
        warm_up(server.port)
        seen = {way: 0 for way in set(ORDER)}
        for way in ORDER:
            block = seen[way]
            seen[way] += 1
            before = read_log(data_dir)
            since = (before[-1].id or 0) if before else 0
            print(f"  {way:<8} block {block + 1}/2: {clients} clients x {per_client} requests ...", flush=True)
            cpu0, busy0 = tree_cpu_seconds(server.proc.pid), system_busy_seconds()
            r = run_loop(one_block(server.port, way, prompts(clients, per_client, block)))
            server_cpu, busy = tree_cpu_seconds(server.proc.pid) - cpu0, system_busy_seconds() - busy0
            t = totals[way]
            t["server_cpu_s"] += server_cpu
            t["busy_s"] += busy
            e = r["elapsed_s"] or float("nan")
            blocks.append({"way": way, "block": block + 1, "elapsed_s": r["elapsed_s"],
                           "images_per_s": r["completed"] / e, "final_p50_ms": pct(r["final_ms"], 50),
                           "server_cpu_cores": server_cpu / e,
                           "other_cpu_cores": (busy - server_cpu - r["client_cpu_s"]) / e})
            for k in ("sent", "completed", "errors", "elapsed_s", "first_ms", "final_ms", "client_cpu_s"):
                t[k] += r[k]
            time.sleep(0.2)
            t["rows"] += read_log(data_dir, since_id=since)
    finally:
        server.stop()
    return {**{way: summarise(way, t) for way, t in totals.items()}, "blocks": blocks}


def summarise(way: str, t: dict) -> dict:
    rows, elapsed = t.pop("rows"), t["elapsed_s"]
    final, first, errors = t.pop("final_ms"), t.pop("first_ms"), t.pop("errors")
    if way == "streamed":
        good = [x for x in rows if x.status == 200 and x.stream is not None and x.stream.get("completed")
                and x.stream.get("events") == PARTIALS + 1]
    else:
        good = [x for x in rows if x.status == 200 and x.stream is None]
    out = {
        **t, "errors": len(errors), "error_kinds": sorted(set(errors)),
        "images_per_s": t["completed"] / elapsed if elapsed > 0 else 0.0,
        "final_p50_ms": pct(final, 50), "final_p95_ms": pct(final, 95), "final_p99_ms": pct(final, 99),
        "final_max_ms": max(final, default=float("nan")),
        "logged": len(rows), "logged_as_expected": len(good),
        "server_cpu_ms_per_request": t["server_cpu_s"] / t["sent"] * 1000 if t["sent"] else float("nan"),
        "server_cpu_cores": t["server_cpu_s"] / elapsed if elapsed > 0 else float("nan"),
        "client_cpu_cores": t["client_cpu_s"] / elapsed if elapsed > 0 else float("nan"),
        # CPU used by everything else on the machine meanwhile: other programs skew every figure here
        "other_cpu_cores": (t["busy_s"] - t["server_cpu_s"] - t["client_cpu_s"]) / elapsed if elapsed > 0 else 0.0,
    }
    if way == "streamed":
        out.update({"first_p50_ms": pct(first, 50), "first_p95_ms": pct(first, 95), "first_p99_ms": pct(first, 99)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--requests", type=int, default=600,
                    help="requests per way, split evenly over the clients and two blocks, rounded down (default 600)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "streaming.json", metavar="OUT",
                    help="where to write the raw results (default benchmarks/out/streaming.json)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    os.environ["COURSE_HOME"] = str(work / "home-bench")  # never the user's folder, even by accident
    report: dict = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "commit": commit(),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_streaming.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "loadavg_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "clients": args.clients, "model": MODEL, "size": SIZE, "quality": QUALITY, "partial_images": PARTIALS,
    }
    print(f"Streaming under load: {args.clients} clients, {args.requests} requests each way, "
          f"order {' / '.join(ORDER)} ...", flush=True)
    try:
        report.update(measure(args.clients, args.requests, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    a, b = report["plain"], report["streamed"]
    report["ratios"] = {
        "first_partial_p50_over_plain_p50": b["first_p50_ms"] / a["final_p50_ms"],
        "final_p50_streamed_over_plain": b["final_p50_ms"] / a["final_p50_ms"],
        "final_p99_streamed_over_plain": b["final_p99_ms"] / a["final_p99_ms"],
        "throughput_streamed_over_plain": b["images_per_s"] / a["images_per_s"] if a["images_per_s"] else float("nan"),
        "server_cpu_per_request_streamed_over_plain": b["server_cpu_ms_per_request"] / a["server_cpu_ms_per_request"],
    }

    rows: list[tuple[str, str, str, str]] = []
    checks: dict[str, bool] = {}

    def row(name: str, plain: str, streamed: str, ok: bool | None = None) -> None:
        rows.append((name, plain, streamed, "" if ok is None else ("PASS" if ok else "FAIL")))
        if ok is not None:
            checks[name] = ok

    ms = "{:.1f} ms".format
    row("requests sent / completed", f"{a['sent']} / {a['completed']}", f"{b['sent']} / {b['completed']}")
    row("first partial image, p50 / p95 / p99", "-",
        f"{ms(b['first_p50_ms'])} / {ms(b['first_p95_ms'])} / {ms(b['first_p99_ms'])}")
    row("final image (whole answer), p50", ms(a["final_p50_ms"]), ms(b["final_p50_ms"]))
    row("final image, p95", ms(a["final_p95_ms"]), ms(b["final_p95_ms"]))
    row("final image, p99", ms(a["final_p99_ms"]), ms(b["final_p99_ms"]))
    row("final image, max", ms(a["final_max_ms"]), ms(b["final_max_ms"]))
    row("throughput (images/s)", f"{a['images_per_s']:.1f}", f"{b['images_per_s']:.1f}")
    row("errors", f"{a['errors']} {a['error_kinds'] or ''}".strip(), f"{b['errors']} {b['error_kinds'] or ''}".strip(),
        a["errors"] == 0 and b["errors"] == 0)
    row("log rows / requests sent", f"{a['logged']} / {a['sent']}", f"{b['logged']} / {b['sent']}",
        a["logged"] == a["sent"] and b["logged"] == b["sent"])
    row("  rows as expected (200; stream column)", f"{a['logged_as_expected']}", f"{b['logged_as_expected']}",
        a["logged_as_expected"] == a["sent"] and b["logged_as_expected"] == b["sent"])
    row("server CPU per request", ms(a["server_cpu_ms_per_request"]), ms(b["server_cpu_ms_per_request"]))
    row("CPU cores: server / clients / other",
        f"{a['server_cpu_cores']:.2f} / {a['client_cpu_cores']:.2f} / {a['other_cpu_cores']:.2f}",
        f"{b['server_cpu_cores']:.2f} / {b['client_cpu_cores']:.2f} / {b['other_cpu_cores']:.2f}")
    q = report["ratios"]
    ratio_rows = [
        ("streamed first-partial p50 / plain p50", q["first_partial_p50_over_plain_p50"]),
        ("streamed final p50 / plain p50", q["final_p50_streamed_over_plain"]),
        ("streamed final p99 / plain p99", q["final_p99_streamed_over_plain"]),
        ("throughput streamed / plain", q["throughput_streamed_over_plain"]),
        ("server CPU per request streamed / plain", q["server_cpu_per_request_streamed_over_plain"]),
    ]
    report["checks"] = checks

    before = (report["loadavg_before"] or [float("nan")])[0]
    print(f"\nStreaming under load ({report['date']} at {report['commit']}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, 1-min load average before: {before:.2f})")
    print(f"{MODEL} {SIZE} quality={QUALITY}; streamed with partial_images={PARTIALS}; {args.clients} clients")
    if before > 0.5:
        print("warning: the machine was busy before the run; other programs skew these figures")
    header = ("figure", "plain", "streamed", "")
    widths = [max(len(x[i]) for x in rows + [header]) for i in range(4)]
    for cells in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    print("\nblocks, in order (other programs' CPU weighs on each differently):")
    for x in report["blocks"]:
        print(f"  {x['way']:<8} {x['block']}/2: {x['elapsed_s']:.1f} s, {x['images_per_s']:.1f} images/s, "
              f"p50 {x['final_p50_ms']:.0f} ms, CPU cores server {x['server_cpu_cores']:.2f} "
              f"other {x['other_cpu_cores']:.2f}")
    print()
    for name, value in ratio_rows:
        print(f"{name:<{widths[0] + 2}}{value:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
