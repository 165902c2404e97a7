"""Can one grading run take the shared offline API's memory from the others? (Memory budgeted like CPU.)

A real `course serve` started by the grader's `private_api`, real HTTP on loopback: pictures whose
headers promise hundreds of millions of pixels in a few hundred KB, uploads sent chunked, a client that
leaves halfway, a run's files seen from another run, and a server started with little memory.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import requests
from openai import OpenAI
from PIL import Image
from urllib3 import encode_multipart_formdata

from course.offline import render
from course.offline.budget import LIMITS
from course.offline.requestlog import Record, read_log
from grader.api import MEMORY, Channel, PrivateAPI, private_api

pytestmark = pytest.mark.slow  # hostile loads on the API's memory

AUTH = {"Authorization": "Bearer sk-anything"}
LOUNGE = (Path(__file__).resolve().parent.parent / "exercises" / "assets" / "lounge.png").read_bytes()


def blank_png(width: int, height: int) -> bytes:
    """A transparent picture: a few hundred KB of PNG for 8192x8192, 256 MB once decoded."""
    buf = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 0)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


BOMB = blank_png(8192, 8192)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with private_api(tmp_path_factory.mktemp("memory")) as running:
        yield running


def memory_mb(pid: int, field: str) -> float:
    """A line of /proc/PID/status in MB: VmRSS (resident now), VmHWM (the most it has ever been)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the process's resident memory now (Linux's clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def edit(channel: Channel, pictures: list[bytes], **fields: str) -> requests.Response:
    files = [("image[]", (f"p{i}.png", data, "image/png")) for i, data in enumerate(pictures)]
    return requests.post(f"{channel.base_url}/images/edits", headers=AUTH, files=files, timeout=120,
                         data={"model": "gpt-image-1.5", "prompt": "a lounge", "size": "1024x1024", "quality": "low",
                               **fields})


def raw_multipart(channel: Channel, route: str, fields: list[tuple[str, object]]) -> tuple[bytes, bytes]:
    """The head and the body of a multipart POST on the channel, for a client that sends them by hand."""
    body, content_type = encode_multipart_formdata(fields)
    head = (f"POST {channel.prefix}/v1{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head, body


def address_of(channel: Channel) -> tuple[str, int]:
    host, port = channel.address.split(":")
    return host, int(port)


def rows_of(api: PrivateAPI, channel: Channel, wait: float = 20.0) -> list[Record]:
    deadline = time.monotonic() + wait
    rows = read_log(api.data_dir, channel=channel.name)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = read_log(api.data_dir, channel=channel.name)
    return rows


def test_a_request_whose_pictures_together_are_too_large_is_refused_before_any_is_decoded(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    reset_peak(api.proc.pid)
    started = time.monotonic()
    reply = edit(channel, [BOMB] * 4)  # each within the 8192x8192 limit, 1 GB decoded together
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "image_too_large", reply.text
    assert "together" in reply.json()["error"]["message"]
    assert time.monotonic() - started < 2.0
    assert memory_mb(api.proc.pid, "VmHWM") < memory_mb(api.proc.pid, "VmRSS") + 64  # nothing was decoded


def test_decoded_pixels_past_the_runs_budget_get_a_429_before_decoding_and_others_are_served(api: PrivateAPI) -> None:
    greedy, honest = api.open_channel("tcp"), api.open_channel("tcp")
    half = blank_png(8192, 4096)
    statuses = [edit(greedy, [half]).status_code for _ in range(LIMITS.input_pixels // (8192 * 4096))]
    assert statuses == [200] * len(statuses)
    started = time.monotonic()
    refused = edit(greedy, [LOUNGE])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert "decoded input pixels" in refused.json()["error"]["message"] and time.monotonic() - started < 1.0
    assert edit(honest, [LOUNGE]).status_code == 200


def test_an_edit_stops_decoding_when_its_client_goes(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    picture = blank_png(2048, 2048)  # 16 of them: the most one request may decode, about a second of work
    head, body = raw_multipart(channel, "/images/edits", [("model", "gpt-image-1.5"), ("prompt", "x"),
                                                          *[("image[]", (f"p{i}.png", picture, "image/png"))
                                                            for i in range(16)]])
    with socket.create_connection(address_of(channel)) as s:
        s.sendall(head + body)
        time.sleep(0.15)  # the body is read, the decoding under way: then the client leaves
    (row,) = rows_of(api, channel)
    assert row.status == 499 and row.error_code == "client_gone"
    decoded = int(row.error_message.split(" of 16 decoded")[0].rsplit(" ", 1)[-1])
    assert decoded < 16, row.error_message


def test_an_upload_cut_short_by_its_client_is_logged_as_gone_not_as_a_server_error(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    head, body = raw_multipart(channel, "/images/edits", [("model", "gpt-image-1.5"), ("prompt", "x"),
                                                          ("image[]", ("p.png", LOUNGE, "image/png"))])
    with socket.create_connection(address_of(channel)) as s:
        s.sendall(head + body[: len(body) // 2])
        time.sleep(0.2)
    (row,) = rows_of(api, channel)
    assert (row.status, row.error_code) == (499, "client_gone")
    assert "before its request had arrived" in row.error_message


def test_a_chunked_upload_counts_against_the_runs_uploads_as_it_streams(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    part = b"\0" * (40 * 1024 * 1024)
    body, content_type = encode_multipart_formdata([("purpose", "vision"), ("file", ("big.bin", part, "image/png"))])
    head = (f"POST {channel.prefix}/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()

    def send_chunked() -> tuple[int, bytes]:
        """Send the body in 1 MB chunks; returns how much went out and what came back."""
        sent = 0
        with socket.create_connection(address_of(channel), timeout=30) as s:
            try:
                s.sendall(head)
                for start in range(0, len(body), 1024 * 1024):
                    chunk = body[start:start + 1024 * 1024]
                    s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    sent += len(chunk)
                s.sendall(b"0\r\n\r\n")
                return sent, b"".join(iter(lambda: s.recv(65536), b""))[:200]
            except OSError:
                return sent, b""

    assert send_chunked()[1].startswith(b"HTTP/1.1 200")  # 40 MB of the run's 100 MB
    assert send_chunked()[1].startswith(b"HTTP/1.1 200")  # 80 MB
    sent, _ = send_chunked()  # past 100 MB after about 20 MB of it: refused there, the rest never read
    assert sent < len(body)
    last = rows_of(api, channel)[-1]
    assert last.status == 429 and last.error_code == "rate_limit_exceeded" and "uploads" in last.error_message


def test_a_runs_files_are_its_own_and_go_when_its_channel_closes(api: PrivateAPI) -> None:
    mine, theirs = api.open_channel("tcp"), api.open_channel("tcp")
    owner = OpenAI(api_key="sk-owner", base_url=mine.base_url, max_retries=0)
    other = OpenAI(api_key="sk-other", base_url=theirs.base_url, max_retries=0)
    try:
        uploaded = owner.files.create(file=("lounge.png", LOUNGE, "image/png"), purpose="vision")
        assert owner.files.retrieve(uploaded.id).id == uploaded.id
        assert [f.id for f in owner.files.list().data] == [uploaded.id]
        for look in (lambda: other.files.retrieve(uploaded.id), lambda: other.files.content(uploaded.id),
                     lambda: other.files.delete(uploaded.id)):
            with pytest.raises(openai.NotFoundError) as caught:
                look()
            assert caught.value.body["message"] == f"No such File object: {uploaded.id}"  # type: ignore[index]
        assert other.files.list().data == []
        by_id = requests.post(f"{theirs.base_url}/images/edits", headers=AUTH, timeout=60,
                              json={"model": "gpt-image-1.5", "prompt": "x", "images": [{"file_id": uploaded.id}]})
        assert by_id.status_code == 400 and by_id.json()["error"]["code"] == "file_not_found"
        stored = api.data_dir / "files" / f"{uploaded.id}.bin"
        assert stored.exists()
    finally:
        owner.close(), other.close()
        api.close_channel(mine)
        api.close_channel(theirs)
    assert not stored.exists() and not stored.with_suffix(".json").exists()


def test_memory_a_run_decoded_is_given_back_when_its_requests_end(api: PrivateAPI) -> None:
    warm = api.open_channel("tcp")
    assert edit(warm, [LOUNGE]).status_code == 200
    before = memory_mb(api.proc.pid, "VmRSS")
    reset_peak(api.proc.pid)
    replies: list[int] = []
    runs = [api.open_channel("tcp") for _ in range(3)]
    threads = [threading.Thread(target=lambda c=c: replies.append(edit(c, [BOMB]).status_code)) for c in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [200, 200, 200]
    assert memory_mb(api.proc.pid, "VmHWM") < 1000  # one 8192x8192 picture decoded at a time
    assert memory_mb(api.proc.pid, "VmRSS") < before + 64  # and none of it kept


def test_large_bodies_sent_by_many_runs_at_once_are_read_a_few_at_a_time(api: PrivateAPI) -> None:
    padded = blank_png(64, 64) + b"\0" * (33 * 1024 * 1024)  # a valid picture, then 33 MB never decoded
    body = json.dumps({"model": "gpt-image-1.5", "prompt": "x", "quality": "low", "size": "1024x1024",
                       "images": [{"image_url": "data:image/png;base64," + base64.b64encode(padded).decode()}]})
    runs = [api.open_channel("tcp") for _ in range(4)]
    reset_peak(api.proc.pid)
    with ThreadPoolExecutor(max_workers=8) as pool:  # each run sends two: 350 MB of JSON at once
        statuses = list(pool.map(lambda c: requests.post(f"{c.base_url}/images/edits", data=body, timeout=120,
                                                         headers={**AUTH, "Content-Type": "application/json"}),
                                 runs + runs))
    assert [r.status_code for r in statuses] == [200] * 8
    assert memory_mb(api.proc.pid, "VmHWM") < 700  # each takes about 4 times its size while it is parsed


def test_the_grader_runs_its_offline_api_within_a_memory_limit(api: PrivateAPI) -> None:
    limits = Path(f"/proc/{api.proc.pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max data size")]
    assert line.split()[3:5] == [str(MEMORY), str(MEMORY)]
    if api.cgroup is not None:  # root, cgroups writable: a memory cgroup of its own too
        cgroups = Path(f"/proc/{api.proc.pid}/cgroup").read_text()
        assert api.cgroup.name in cgroups


def test_an_edit_too_large_for_the_servers_memory_is_a_clean_500_and_the_server_goes_on(tmp_path: Path) -> None:
    with private_api(tmp_path / "small", memory=400 * 1024**2) as small:
        channel = small.open_channel("tcp")
        reply = edit(channel, [BOMB])
        assert reply.status_code == 500 and reply.json()["error"]["type"] == "server_error", reply.text
        assert "memory" in reply.json()["error"]["message"]
        after = requests.post(f"{channel.base_url}/images/generations", headers=AUTH, timeout=60,
                              json={"prompt": "a fox", "size": "256x256"})
        assert after.status_code == 200 and small.alive()
        assert [r.status for r in read_log(small.data_dir, channel=channel.name)] == [500, 200]


def test_pictures_kept_for_reuse_stay_within_their_bytes() -> None:
    def live_pixel_bytes() -> int:
        gc.collect()
        return sum(o.width * o.height * len(o.getbands()) for o in gc.get_objects() if isinstance(o, Image.Image))

    before = live_pixel_bytes()
    for i in range(20):  # a gradient ramp per picture size: 20 sizes of 4.5 MB each
        render.draw_prompt(f"a wide view {i}", 3008 - 16 * i, 1504, seed=i)
    assert live_pixel_bytes() - before < 48 * 1024 * 1024
