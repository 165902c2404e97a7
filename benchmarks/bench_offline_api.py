"""Benchmark of the offline Images API: per-request cost, load, and the connect line.

    .venv/bin/python benchmarks/bench_offline_api.py            # full run (~2-3 minutes)
    .venv/bin/python benchmarks/bench_offline_api.py --quick    # smoke run (~40 s)

Three parts, each against a real server subprocess on 127.0.0.1 only:

1. Per-request server time for dall-e-2 generations (256x256 and 1024x1024), measured as the
   wall time of sequential requests over one keep-alive connection (and the server's own
   `openai-processing-ms` header), beside "the floor": `render.draw_prompt` + `render.encode`
   called in-process. The ratio server/floor is the server's overhead.
2. Load: N concurrent keep-alive clients (default 50) with distinct prompts at 256x256 for
   --duration seconds, from a minimal HTTP/1.1 client on raw asyncio (uvloop when installed),
   so the generator stays cheap on the CPU it shares with the server. Afterwards the server's
   SQLite request log must hold exactly one record per request sent.
3. The connect line: a learner's step script run as a fresh subprocess (a) with `import course.auto`
   and a warm background server, (b) without it, OPENAI_BASE_URL/OPENAI_API_KEY set by hand to the
   same server, (c) with `import course.auto` and no server running (fresh COURSE_HOME each time);
   plus `import course.auto` alone with a warm server.

Every run uses temporary COURSE_HOME / data folders, never the user's. It prints a table with each
figure, its target and PASS/FAIL, writes benchmarks/out/offline_api.json, and exits 0: it reports,
it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
HOST = "127.0.0.1"
AUTH = "Bearer sk-bench"
WORKERS = 1
COLOURS = ["red", "blue", "green", "orange", "purple", "teal", "gold", "pink"]
THINGS = ["fox", "lighthouse", "teapot", "bicycle", "owl", "castle", "cactus", "robot"]

STEP = (
    "import course.auto\n"
    "from openai import OpenAI\n"
    "c=OpenAI()\n"
    'r=c.images.generate(model="dall-e-2",prompt="a cat",n=1,size="256x256")\n'
    "print(r.data[0].url)\n"
)
STEP_PLAIN = STEP.replace("import course.auto\n", "")


def prompt_for(client: int, i: int) -> str:
    return f"a {COLOURS[(client + i) % 8]} {THINGS[(client * 3 + i) % 8]} in a quiet garden, study {client}-{i}"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def clean_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY", "COURSE_LIVE")
           and not k.startswith("COURSE_OFFLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if home is not None:
        env["COURSE_HOME"] = str(home)
    return env


def system_busy_seconds() -> float:
    """CPU seconds all processes spent busy since boot, from /proc/stat (Linux); nan elsewhere."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux); nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its direct children (the server's workers)."""
    total = cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return total


# --- a server subprocess -------------------------------------------------------------------


class Server:
    """`python -m course serve --port 0 --data-dir DIR` as a subprocess; the port comes from its stdout."""

    def __init__(self, data_dir: Path, home: Path, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [PY, "-m", "course", "serve", "--host", HOST, "--port", "0", "--data-dir", str(data_dir),
             "--workers", str(workers)],
            cwd=str(ROOT), env=clean_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        self.port = 0
        self.output: list[str] = []
        found = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"listening on http://([^:/]+):(\d+)/v1", line)
                if m and not found.is_set():
                    self.port = int(m.group(2))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30) or not self.port:
            self.stop()
            raise RuntimeError("server did not announce its port:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- a lean blocking HTTP/1.1 client (sequential requests, part 1) -------------------------


def gen_request(port: int, prompt: str, size: str) -> bytes:
    body = json.dumps({"model": "dall-e-2", "prompt": prompt, "n": 1, "size": size}).encode()
    return (f"POST /v1/images/generations HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: {AUTH}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers


class BlockingClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status, headers = parse_head(head)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self.buf = rest[length:]
        return status, headers, rest[:length]

    def close(self) -> None:
        self.sock.close()


def floor_ms(size: int, count: int) -> list[float]:
    from course.offline import render

    render.encode(render.draw_prompt(prompt_for(99, 0), size, size, 1), "png")  # fonts, caches
    times = []
    for i in range(count):
        prompt = prompt_for(7, i)
        seed = render.seed_for(0, "generations", "dall-e-2", prompt, f"{size}x{size}", i)
        t = time.perf_counter()
        render.encode(render.draw_prompt(prompt, size, size, seed), "png")
        times.append((time.perf_counter() - t) * 1000)
    return times


def part_per_request(work: Path, quick: bool) -> dict:
    counts = {256: 40 if quick else 200, 1024: 10 if quick else 40}
    server = Server(work / "data-seq", work / "home-seq")
    result: dict = {}
    try:
        client = BlockingClient(server.port)
        for size, count in counts.items():
            spec = f"{size}x{size}"
            for i in range(5):  # warm up
                client.request(gen_request(server.port, prompt_for(1000 + size, i), spec))
            wall, header, errors = [], [], 0
            for i in range(count):
                raw = gen_request(server.port, prompt_for(size, i), spec)
                t = time.perf_counter()
                status, headers, _ = client.request(raw)
                wall.append((time.perf_counter() - t) * 1000)
                errors += status != 200
                header.append(float(headers.get("openai-processing-ms", "nan")))
            floor = floor_ms(size, count)
            result[spec] = {
                "requests": count, "errors": errors,
                "server_wall_ms_median": statistics.median(wall),
                "server_wall_ms_p95": pct(wall, 95),
                "processing_ms_header_median": statistics.median(header),
                "floor_ms_median": statistics.median(floor),
                "floor_ms_p95": pct(floor, 95),
                "ratio_server_over_floor": statistics.median(wall) / statistics.median(floor),
                "overhead_ms": statistics.median(wall) - statistics.median(floor),
            }
        client.close()
    finally:
        server.stop()
    return result


# --- the load generator (part 2): asyncio protocol, HTTP/1.1 keep-alive ----------------------


class Conn(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.need = -1
        self.status = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            self.status = int(head[9:12])
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            self.need = end + 4 + (int(m.group(1)) if m else 0)
        if len(self.buf) >= self.need:
            del self.buf[: self.need]
            self.need = -1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(self.status)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("connection closed"))

    async def request(self, raw: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return await self.waiter


async def load(port: int, clients: int, duration: float, timeout: float = 10.0) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = loop.time() + duration
    last_done = [loop.time()]
    per_second: list[int] = []  # completions in each second of the run

    async def one(cid: int) -> None:
        nonlocal sent
        conn: Conn | None = None
        i = 0
        while loop.time() < deadline:
            if conn is None or conn.transport is None or conn.transport.is_closing():
                _, conn = await loop.create_connection(Conn, HOST, port)
            raw = gen_request(port, prompt_for(cid, i), "256x256")
            i += 1
            t = time.perf_counter()
            sent += 1
            try:
                status = await asyncio.wait_for(conn.request(raw), timeout)
            except (asyncio.TimeoutError, OSError, ConnectionError) as exc:
                errors.append(type(exc).__name__)
                if conn.transport is not None:
                    conn.transport.close()
                conn = None
                continue
            latencies.append((time.perf_counter() - t) * 1000)
            last_done[0] = loop.time()
            second = int(last_done[0] - start)
            while len(per_second) <= second:
                per_second.append(0)
            per_second[second] += 1
            if status != 200:
                errors.append(f"HTTP {status}")
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    start = loop.time()
    last_done[0] = start
    cpu0 = time.process_time()
    await asyncio.gather(*(one(c) for c in range(clients)))
    elapsed = last_done[0] - start
    return {"sent": sent, "completed": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "elapsed_s": elapsed, "latencies": latencies,
            "client_cpu_s": time.process_time() - cpu0, "per_second": per_second}


def run_loop(coro):  # type: ignore[no-untyped-def]
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def part_load(work: Path, clients: int, duration: float) -> dict:
    from course.offline.requestlog import read_log

    data_dir = work / "data-load"
    server = Server(data_dir, work / "home-load", workers=WORKERS)
    try:
        client = BlockingClient(server.port)
        for i in range(20):  # warm up: imports, fonts, the thread pool
            client.request(gen_request(server.port, prompt_for(5000, i), "256x256"))
        client.close()
        before = read_log(data_dir)
        since = before[-1].id or 0 if before else 0
        cpu0, busy0 = tree_cpu_seconds(server.proc.pid), system_busy_seconds()
        r = run_loop(load(server.port, clients, duration))
        server_cpu = tree_cpu_seconds(server.proc.pid) - cpu0
        busy = system_busy_seconds() - busy0
        time.sleep(0.2)
        logged = read_log(data_dir, since_id=since)
    finally:
        server.stop()
    lat = r.pop("latencies")
    r.update({
        "clients": clients, "duration_s": duration,
        "requests_per_s": r["completed"] / r["elapsed_s"] if r["elapsed_s"] > 0 else 0.0,
        "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99), "max_ms": max(lat, default=0.0),
        "logged": len(logged), "logged_status_200": sum(1 for x in logged if x.status == 200),
        "server_cpu_s": server_cpu,
        "server_cpu_cores": server_cpu / r["elapsed_s"] if r["elapsed_s"] > 0 else float("nan"),
        "client_cpu_cores": r["client_cpu_s"] / r["elapsed_s"] if r["elapsed_s"] > 0 else float("nan"),
        # CPU used by everything else on the machine meanwhile: other programs skew every figure here
        "other_cpu_cores": (busy - server_cpu - r["client_cpu_s"]) / r["elapsed_s"] if r["elapsed_s"] > 0 else 0.0,
    })
    return r


# --- the connect line (part 3) ---------------------------------------------------------------


def run_script(path: Path, env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run([PY, str(path)], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=120)
    return (time.perf_counter() - t) * 1000, proc


def course_stop(home: Path) -> None:
    """`course stop` for that COURSE_HOME, then wait until the server it names has gone."""
    state_file = home / "server" / "state.json"
    pid = None
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        pass
    subprocess.run([PY, "-m", "course", "stop"], env=clean_env(home), cwd=str(ROOT), capture_output=True,
                   timeout=60)
    if pid is None:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)  # the server this benchmark started, by its pid
    except ProcessLookupError:
        pass


def part_connect(work: Path, runs: int, cold_runs: int) -> dict:
    scripts = work / "scripts"
    scripts.mkdir()
    step, plain = scripts / "step.py", scripts / "step_plain.py"
    step.write_text(STEP)
    plain.write_text(STEP_PLAIN)
    timer = scripts / "import_auto.py"
    timer.write_text("import time\nt = time.perf_counter()\nimport course.auto\n"
                     "print((time.perf_counter() - t) * 1000)\n")
    home = work / "home-warm"
    env_a = clean_env(home)
    failures: list[str] = []
    result: dict = {}
    try:
        first_ms, proc = run_script(step, env_a, scripts)  # starts the background server
        if proc.returncode != 0:
            failures.append("first run: " + proc.stderr[-500:])
        state = json.loads((home / "server" / "state.json").read_text())
        env_b = clean_env(home)
        env_b["OPENAI_BASE_URL"] = state["url"]
        env_b["OPENAI_API_KEY"] = "sk-bench"
        run_script(step, env_a, scripts)  # warm both paths once (page cache, .pyc)
        run_script(plain, env_b, scripts)
        a_ms, b_ms, imp_ms = [], [], []
        for i in range(runs):
            order = [("a", step, env_a, a_ms), ("b", plain, env_b, b_ms)]
            for name, path, env, sink in order if i % 2 == 0 else order[::-1]:
                ms, proc = run_script(path, env, scripts)
                if proc.returncode != 0 or "/private/" not in proc.stdout:
                    failures.append(f"{name}: rc={proc.returncode} {proc.stderr[-300:]}")
                sink.append(ms)
            _, proc = run_script(timer, env_a, scripts)
            try:
                imp_ms.append(float(proc.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                failures.append("import timer: " + proc.stderr[-300:])
        course_stop(home)

        c_ms = []
        for i in range(cold_runs):
            cold_home = work / f"home-cold-{i}"
            course_stop(cold_home)  # nothing runs there: the step must start its own server
            ms, proc = run_script(step, clean_env(cold_home), scripts)
            if proc.returncode != 0 or "started it in the background" not in proc.stderr:
                failures.append(f"c: rc={proc.returncode} {proc.stderr[-300:]}")
            c_ms.append(ms)
            course_stop(cold_home)
    finally:
        course_stop(home)
        for i in range(cold_runs):
            course_stop(work / f"home-cold-{i}")
    a, b, c = statistics.median(a_ms), statistics.median(b_ms), statistics.median(c_ms)
    result.update({
        "runs": runs, "cold_runs": cold_runs, "first_run_ms": first_ms,
        "a_warm_ms_median": a, "b_plain_ms_median": b, "c_cold_ms_median": c,
        "a_minus_b_ms": a - b, "c_minus_b_ms": c - b,
        "a_ms_min": min(a_ms), "b_ms_min": min(b_ms), "c_ms_min": min(c_ms),
        "import_course_auto_ms_median": statistics.median(imp_ms),
        "a_ms": a_ms, "b_ms": b_ms, "c_ms": c_ms, "import_ms": imp_ms, "failures": failures,
    })
    return result


# --- report ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run: 5 s of load, fewer samples")
    ap.add_argument("--duration", type=float, default=None, help="seconds of load (default 30; 5 with --quick)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent load clients (default 50)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes for the load part (default 1, as `course serve`)")
    ap.add_argument("--runs", type=int, default=None, help="alternating runs of steps (a)/(b) (default 10)")
    ap.add_argument("--cold-runs", type=int, default=None, help="runs of step (c) (default 5)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: request,load,connect")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "offline_api.json")
    args = ap.parse_args()
    global WORKERS
    WORKERS = args.workers
    duration = args.duration if args.duration is not None else (5.0 if args.quick else 30.0)
    runs = args.runs if args.runs is not None else (3 if args.quick else 10)
    cold_runs = args.cold_runs if args.cold_runs is not None else (2 if args.quick else 5)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    work = Path(tempfile.mkdtemp(prefix="bench-offline-api-"))
    os.environ["COURSE_HOME"] = str(work / "home-bench")  # never the user's folder, even by accident
    report: dict = {
        "loadavg_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_offline_api.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    try:
        if "request" not in skip:
            print("[1/3] per-request server time vs the Pillow floor ...", flush=True)
            report["per_request"] = part_per_request(work, args.quick)
        if "load" not in skip:
            print(f"[2/3] load: {args.clients} clients for {duration:g} s ...", flush=True)
            report["load"] = part_load(work, args.clients, duration)
        if "connect" not in skip:
            print(f"[3/3] connect line: {runs} alternating runs, {cold_runs} cold ...", flush=True)
            report["connect"] = part_connect(work, runs, cold_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows: list[tuple[str, str, str, str]] = []
    checks: dict[str, bool] = {}

    def row(name: str, value: str, target: str = "-", ok: bool | None = None) -> None:
        rows.append((name, value, target, "" if ok is None else ("PASS" if ok else "FAIL")))
        if ok is not None:
            checks[name] = ok

    for spec, r in report.get("per_request", {}).items():
        row(f"server time {spec} (median wall, keep-alive)", f"{r['server_wall_ms_median']:.2f} ms")
        row(f"  openai-processing-ms {spec} (median)", f"{r['processing_ms_header_median']:.0f} ms")
        row(f"  Pillow floor {spec} (median)", f"{r['floor_ms_median']:.2f} ms")
        row(f"  overhead {spec} server/floor", f"{r['ratio_server_over_floor']:.2f}x "
            f"(+{r['overhead_ms']:.2f} ms)")
    if "load" in report:
        r = report["load"]
        row(f"load: requests/s ({r['clients']} clients, {r['duration_s']:g} s)", f"{r['requests_per_s']:.1f}",
            ">= 200", r["requests_per_s"] >= 200)
        row("load: p50 latency", f"{r['p50_ms']:.1f} ms")
        row("load: p95 latency", f"{r['p95_ms']:.1f} ms")
        row("load: p99 latency", f"{r['p99_ms']:.1f} ms", "< 250 ms", r["p99_ms"] < 250)
        row("load: errors", f"{r['errors']} {r['error_kinds'] or ''}".strip(), "0", r["errors"] == 0)
        row("load: log records vs requests sent", f"{r['logged']} / {r['sent']}", "equal", r["logged"] == r["sent"])
        row("load: CPU cores used (server / load generator / other)",
            f"{r['server_cpu_cores']:.2f} / {r['client_cpu_cores']:.2f} / {r['other_cpu_cores']:.2f}")
    if "connect" in report:
        r = report["connect"]
        row("(b) step, base URL set by hand (median)", f"{r['b_plain_ms_median']:.0f} ms")
        row("(a) step + import course.auto, warm server", f"{r['a_warm_ms_median']:.0f} ms")
        row("  (a) - (b)", f"{r['a_minus_b_ms']:+.0f} ms", "<= 50 ms", r["a_minus_b_ms"] <= 50)
        row("(c) step + import course.auto, no server", f"{r['c_cold_ms_median']:.0f} ms")
        row("  (c) - (b)", f"{r['c_minus_b_ms']:+.0f} ms", "<= 1500 ms", r["c_minus_b_ms"] <= 1500)
        row("  minima (a) / (b) / (c)", f"{r['a_ms_min']:.0f} / {r['b_ms_min']:.0f} / {r['c_ms_min']:.0f} ms")
        row("import course.auto alone, warm server", f"{r['import_course_auto_ms_median']:.1f} ms")
        if r["failures"]:
            row("connect: script failures", str(len(r["failures"])), "0", False)
    report["checks"] = checks
    report["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None

    widths = [max(len(x[i]) for x in rows + [("figure", "value", "target", "")]) for i in range(4)]
    print()
    before = (report["loadavg_before"] or [float("nan")])[0]
    print(f"Offline Images API benchmark  ({report['date']}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, 1-min load average before: {before:.2f})")
    if before > 0.5:
        print("warning: the machine was busy before the run; other programs skew these figures")
    header = ("figure", "value", "target", "")
    for cells in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    if "connect" in report and report["connect"]["failures"]:
        print("\nconnect failures:", *report["connect"]["failures"][:5], sep="\n  ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
