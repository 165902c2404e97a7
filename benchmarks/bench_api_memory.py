"""Benchmark of the grading API's memory: a class of honest runs beside hostile ones.

    .venv/bin/python benchmarks/bench_api_memory.py              # both scenarios (~1 minute)
    .venv/bin/python benchmarks/bench_api_memory.py --runs 4     # fewer runs at once

Each scenario starts its own offline API as the grader does (`grader.api.private_api`: the memory
limit, a channel per run, TCP channels as without root) and measures the server process alone:

- `honest`: N runs at once (default 8, a grading machine's worth of workers), each making a lesson's
  requests one after another through the real SDK: a dall-e-2 generation by URL and its download, a
  dall-e-3 picture, a dall-e-2 edit with a mask and two variations of the 512x512 lounge, a GPT edit
  streamed with two partial pictures, a GPT edit by `file_id` after a Files upload, and a picture from
  the Responses API's image tool.
- `hostile`: N runs at once, each sending 4 requests at a time (its budget's worth), over and over
  until its budget refuses it: edits of an 8192x8192 PNG of 255 KB (256 MB once decoded), edits of 16
  such pictures together (1 GB), edits of 16 pictures of 2048x2048 (the most one request may decode),
  the same picture as a data URL in a JSON edit, JSON edits of 44 MB (a 33 MB data URL), and chunked
  uploads without a Content-Length.

For each: the server's peak resident memory (VmHWM of /proc/<pid>/status, the kernel's own
high-water mark), the peak of its data segment (VmData, read every 20 ms: what RLIMIT_DATA limits),
its resident memory when the scenario is over (what it keeps), its memory limit (RLIMIT_DATA, and its
cgroup's where there is one), the answers by status, whether the server is
still alive, and the wall time. The figures come from the checkout this script is in; run the same
file from another checkout (e.g. `git archive HEAD`) to compare. It prints a table, writes
benchmarks/out/api_memory.json, and exits 0: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import io
import json
import platform
import socket
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from openai import OpenAI  # noqa: E402
from PIL import Image  # noqa: E402

from grader import api as grading_api  # noqa: E402
from measured import commit  # noqa: E402

ASSETS = ROOT / "exercises" / "assets"
LOUNGE, MASK = (ASSETS / "lounge.png").read_bytes(), (ASSETS / "mask.png").read_bytes()
AUTH = {"Authorization": "Bearer sk-bench"}


def blank_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (side, side), (0, 0, 0, 0)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def status_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "VmData"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def data_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max data size"):
            return line.split()[3]
    return "?"


# --- an honest run: a lesson's requests -------------------------------------------------------------


def honest_run(base_url: str) -> list[int]:
    client = OpenAI(api_key="sk-bench-honest", base_url=base_url, max_retries=0)
    statuses = []

    def ok(call: Callable[[], Any]) -> Any:
        try:
            result = call()
            statuses.append(200)
            return result
        except Exception as exc:  # noqa: BLE001 - a refusal is a figure here, not a crash
            statuses.append(getattr(exc, "status_code", 0) or 0)
            return None

    try:
        made = ok(lambda: client.images.generate(model="dall-e-2", prompt="a red fox", size="256x256"))
        if made is not None:
            statuses.append(requests.get(made.data[0].url, timeout=60).status_code)
        ok(lambda: client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1024x1024"))
        ok(lambda: client.images.edit(model="dall-e-2", image=("lounge.png", LOUNGE, "image/png"),
                                      mask=("mask.png", MASK, "image/png"), prompt="a cat on the sofa",
                                      size="512x512", response_format="b64_json"))
        ok(lambda: client.images.create_variation(model="dall-e-2", image=("lounge.png", LOUNGE, "image/png"),
                                                  n=2, size="256x256"))

        def streamed() -> None:
            for _ in client.images.edit(model="gpt-image-1.5", image=("lounge.png", LOUNGE, "image/png"),
                                        prompt="the lounge at night", stream=True, partial_images=2,
                                        quality="low", size="1024x1024"):
                pass

        ok(streamed)
        uploaded = ok(lambda: client.files.create(file=("lounge.png", LOUNGE, "image/png"), purpose="vision"))
        if uploaded is not None:
            reply = requests.post(f"{base_url}/images/edits", headers=AUTH, timeout=120,
                                  json={"model": "gpt-image-1.5", "prompt": "a plant", "quality": "low",
                                        "images": [{"file_id": uploaded.id}]})
            statuses.append(reply.status_code)
        ok(lambda: client.responses.create(model="gpt-5.5", input="a cabin in the snow",
                                           tools=[{"type": "image_generation", "size": "1024x1024",
                                                   "quality": "low"}]))
    finally:
        client.close()
    return statuses


# --- a hostile run: as much memory as it can ask for -----------------------------------------------


class Hostile:
    def __init__(self) -> None:
        self.bomb = blank_png(8192)
        self.medium = blank_png(2048)
        self.data_url = "data:image/png;base64," + base64.b64encode(self.bomb).decode()
        padded = self.bomb + b"\0" * (33 * 1024 * 1024)  # a valid PNG, then 33 MB the decoder never reads
        self.big_json = json.dumps({"model": "gpt-image-1.5", "prompt": "x", "quality": "low", "images": [
            {"image_url": "data:image/png;base64," + base64.b64encode(padded).decode()}]}).encode()

    def edit(self, base_url: str, pictures: list[bytes]) -> int:
        files = [("image[]", (f"p{i}.png", p, "image/png")) for i, p in enumerate(pictures)]
        return requests.post(f"{base_url}/images/edits", headers=AUTH, files=files, timeout=300,
                             data={"model": "gpt-image-1.5", "prompt": "x", "size": "1024x1024",
                                   "quality": "low"}).status_code

    def json_edit(self, base_url: str) -> int:
        return requests.post(f"{base_url}/images/edits", headers=AUTH, timeout=300,
                             json={"model": "gpt-image-1.5", "prompt": "x", "quality": "low",
                                   "images": [{"image_url": self.data_url}]}).status_code

    def large_json_edit(self, base_url: str) -> int:
        return requests.post(f"{base_url}/images/edits", data=self.big_json, timeout=300,
                             headers={**AUTH, "Content-Type": "application/json"}).status_code

    def chunked_upload(self, address: str, prefix: str) -> int:
        host, port = address.split(":")
        head = (f"POST {prefix}/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        chunk = b"\0" * (1024 * 1024)
        with socket.create_connection((host, int(port)), timeout=60) as s:
            try:
                s.sendall(head + b"%x\r\n" % len(start) + start + b"\r\n")
                for _ in range(120):  # 120 MB, never ended: the server must stop it
                    s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                s.sendall(b"0\r\n\r\n")
                reply = s.recv(64)
            except OSError:
                return -1  # cut off by the server
        return int(reply.split()[1]) if reply.startswith(b"HTTP/1.1") else 0

    def run(self, channel: Any) -> list[int]:
        base = channel.base_url
        kinds = [lambda: self.edit(base, [self.bomb]), lambda: self.edit(base, [self.bomb] * 16),
                 lambda: self.edit(base, [self.medium] * 16), lambda: self.json_edit(base),
                 lambda: self.large_json_edit(base),
                 lambda: self.chunked_upload(channel.address, getattr(channel, "prefix", ""))]
        statuses: list[int] = []
        with ThreadPoolExecutor(max_workers=4) as pool:  # the run's 4 requests at once
            for _ in range(3):
                statuses += list(pool.map(lambda k: k(), kinds))
        return statuses


# --- a scenario ----------------------------------------------------------------------------------------


def scenario(name: str, runs: int, work: Callable[[Any, Any], list[int]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{name}-") as tmp, \
            grading_api.private_api(Path(tmp) / "api") as server:
        pid = server.proc.pid
        idle = status_mb(pid)
        channels = [server.open_channel("tcp") for _ in range(runs)]
        data_peak = [idle["VmData"]]
        watching = threading.Event()

        def watch_data() -> None:
            while not watching.wait(0.02):
                try:
                    data_peak[0] = max(data_peak[0], status_mb(pid)["VmData"])
                except (OSError, KeyError):
                    return

        watcher = threading.Thread(target=watch_data, daemon=True)
        watcher.start()
        started = time.monotonic()
        statuses: collections.Counter[int] = collections.Counter()
        lock = threading.Lock()

        def one(channel: Any) -> None:
            got = work(server, channel)
            with lock:
                statuses.update(got)

        threads = [threading.Thread(target=one, args=(c,)) for c in channels]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        watching.set()
        watcher.join()
        for channel in channels:
            server.close_channel(channel)
        time.sleep(1.0)
        alive = server.alive()
        end = status_mb(pid) if alive else {}
        cgroup = getattr(server, "cgroup", None)
        cgroup_limit = None
        if cgroup is not None:
            for file in ("memory.max", "memory.limit_in_bytes"):
                if (cgroup / file).exists():
                    cgroup_limit = int((cgroup / file).read_text())
        return {"runs": runs, "wall_s": round(wall, 1), "idle_rss_mb": idle["VmRSS"],
                "peak_rss_mb": end.get("VmHWM"), "peak_data_mb": data_peak[0], "rss_after_mb": end.get("VmRSS"),
                "alive": alive,
                "data_limit": data_limit(pid) if alive else "?",
                "cgroup_limit_mb": round(cgroup_limit / 2**20) if cgroup_limit else None,
                "statuses": dict(sorted(statuses.items()))}


def main() -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # create_variation: taught on purpose
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8, help="runs at once in each scenario (default 8)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "api_memory.json")
    args = ap.parse_args()
    hostile = Hostile()
    results = {}
    for name, work in (("honest", lambda server, channel: honest_run(channel.base_url)),
                       ("hostile", lambda server, channel: hostile.run(channel))):
        print(f"{name}: {args.runs} runs at once ...", flush=True)
        results[name] = scenario(name, args.runs, work)
        print(f"  {results[name]}", flush=True)
    print()
    print(f"{'scenario':<9} {'runs':>4} {'wall s':>7} {'idle MB':>8} {'peak MB':>8} {'data MB':>8} {'after MB':>9} "
          f"{'data limit':>11} {'cgroup MB':>9} alive  answers")
    for name, r in results.items():
        print(f"{name:<9} {r['runs']:>4} {r['wall_s']:>7} {r['idle_rss_mb']:>8} {r['peak_rss_mb']!s:>8} "
              f"{r['peak_data_mb']!s:>8} {r['rss_after_mb']!s:>9} {r['data_limit']:>11} {r['cgroup_limit_mb']!s:>9} "
              f"{'yes' if r['alive'] else 'NO':>5}  {r['statuses']}")
    report = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": commit(),
              "machine": platform.platform(), "python": platform.python_version(),
              "memory_limit": getattr(grading_api, "MEMORY", None), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
