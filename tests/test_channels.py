"""Does every request count for the run that made it, whatever key it carries (a channel per run)?

A real `course serve` started by the grader's own `private_api` (sockets bound by the grader, no
handshake through a pipe), real HTTP on loopback and on Unix sockets, the real `openai` SDK.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import openai
import pytest
import requests
from openai import OpenAI

from course.errors import CourseError
from course.offline.requestlog import read_log
from grader.api import private_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with private_api(tmp_path_factory.mktemp("api")) as running:
        running.started_in = time.monotonic() - started
        yield running


def test_it_starts_without_a_handshake_through_a_pipe(api) -> None:  # type: ignore[no-untyped-def]
    assert api.alive() and api.health()
    assert api.started_in < 20, f"took {api.started_in:.1f} s"


def test_requests_belong_to_their_channel_whatever_key_they_carry(api) -> None:  # type: ignore[no-untyped-def]
    one, two = api.open_channel("tcp"), api.open_channel("tcp")
    try:
        first = OpenAI(api_key="sk-proj-my-own-key-0123456789", base_url=one.base_url, max_retries=0)
        second = OpenAI(api_key="sk-someone-else", base_url=two.base_url, max_retries=0)
        first.images.generate(model="dall-e-2", prompt="a fox", size="256x256")
        second.images.generate(model="dall-e-2", prompt="a hen", size="256x256", n=2)
        with pytest.raises(openai.BadRequestError):
            first.images.generate(model="dall-e-2", prompt="a fox", size="255x255")
        # by hand, with requests and no SDK at all
        reply = requests.post(f"{one.base_url}/images/generations", json={"prompt": "an owl", "size": "512x512"},
                           headers={"Authorization": "Bearer anything-at-all"})
        assert reply.status_code == 200
        first.close(), second.close()
    finally:
        api.close_channel(one)
        api.close_channel(two)
    mine = read_log(api.data_dir, channel=one.name)
    theirs = read_log(api.data_dir, channel=two.name)
    assert [r.status for r in mine] == [200, 400, 200] and {r.key for r in mine} == {"sk-proj-my-own-key-0123456789",
                                                                                      "anything-at-all"}
    assert [r.params.get("n") for r in theirs] == [2]
    assert all(len(r.images) == int(r.params.get("n", 1)) for r in mine + theirs if r.status == 200)


def test_a_unix_channel_and_a_request_answered_after_it_closed(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("unix")
    assert Path(channel.address).is_socket()
    body = json.dumps({"prompt": "a late heron", "size": "256x256"}).encode()
    head = (f"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer late\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(channel.address)
        s.sendall(head)
        time.sleep(0.2)  # accepted now; the body comes after the channel is closed
        api.close_channel(channel)
        assert not Path(channel.address).exists()
        s.sendall(body)
        reply = b"".join(iter(lambda: s.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 200")
    (late,) = read_log(api.data_dir, channel=channel.name)
    assert late.key == "late" and late.status == 200


def test_the_control_routes_answer_only_on_the_control_socket(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    try:
        opened = requests.post(f"http://{channel.address}/__course__/channels", json={"name": "mine", "kind": "tcp"})
        assert opened.status_code == 404 and "Invalid URL" in opened.text
        main = requests.post(api.base_url.removesuffix("/v1") + "/__course__/channels", json={"name": "x", "kind": "tcp"})
        assert main.status_code == 404
    finally:
        api.close_channel(channel)


def test_a_server_that_cannot_start_says_why_at_once(tmp_path: Path) -> None:
    blocked = tmp_path / "data"
    blocked.mkdir()
    (blocked / "requests.sqlite3").mkdir()  # the request log cannot be opened: the server stops at once
    started = time.monotonic()
    with pytest.raises(CourseError) as caught:
        with private_api(blocked):
            pass
    assert "did not start: it stopped" in str(caught.value)
    assert time.monotonic() - started < 20


def test_a_runs_files_end_with_its_channel_and_an_unused_channel_closes_cheaply(api) -> None:  # type: ignore[no-untyped-def]
    """A file a run uploaded is deleted when its channel closes; a channel no connection reached (most of a guide's
    code tests never call the API) closes without that clean-up, and another run's files are left alone."""
    keep, used, unused = api.open_channel("tcp"), api.open_channel("tcp"), api.open_channel("unix")
    try:
        def upload(channel):  # type: ignore[no-untyped-def]
            with OpenAI(api_key="sk-files", base_url=channel.base_url, max_retries=0) as client:
                return client.files.create(file=("notes.jsonl", b'{"a": 1}\n'), purpose="user_data").id

        kept, gone = upload(keep), upload(used)
        stored = {p.stem for p in api.data_dir.rglob("file-*.json")}
        assert {kept, gone} <= stored, stored
        api.close_channel(used)
        api.close_channel(unused)
        stored = {p.stem for p in api.data_dir.rglob("file-*.json")}
        assert gone not in stored and kept in stored, stored
        assert _control(api, "GET", "/__course__/health")["channels"] == 1
    finally:
        api.close_channel(keep)
    assert kept not in {p.stem for p in api.data_dir.rglob("file-*.json")}


def _control(api, method: str, route: str) -> dict:  # type: ignore[no-untyped-def]
    from grader.api import PrivateAPI

    assert isinstance(api, PrivateAPI)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(api.control)
        s.sendall(f"{method} {route} HTTP/1.1\r\nHost: grader\r\nConnection: close\r\n\r\n".encode())
        raw = b"".join(iter(lambda: s.recv(65536), b""))
    return json.loads(raw.partition(b"\r\n\r\n")[2])
