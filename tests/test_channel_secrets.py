"""Can another step use a run's TCP channel? (A secret path prefix for each TCP channel.)

Without a grading box, each step reaches the API through a loopback port of its own, which any process
of the same user can find in /proc/net/tcp. A real `course serve` started by the grader's `private_api`,
real HTTP on loopback, the real `openai` SDK: the honest step has its channel's base URL; the other step
knows only the port.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from openai import OpenAI

from course.offline.channels import HEAD_SECONDS
from course.offline.requestlog import read_log
from grader.api import Channel, PrivateAPI, private_api

LOUNGE = (Path(__file__).resolve().parent.parent / "exercises" / "assets" / "lounge.png").read_bytes()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with private_api(tmp_path_factory.mktemp("secrets")) as running:
        yield running


def port_of(channel: Channel) -> tuple[str, int]:
    host, port = channel.address.split(":")
    return host, int(port)


def send_raw(address: tuple[str, int], path: str) -> bytes:
    """A request head with a body announced and never sent (so that, counted, it would stay in flight);
    returns everything the server sends before it closes the connection."""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer stolen\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode())
        return b"".join(iter(lambda: s.recv(65536), b""))  # ends only when the server closes


def test_a_tcp_channel_has_a_secret_prefix_of_its_own_and_a_unix_channel_none(api: PrivateAPI) -> None:
    one, two, unix = api.open_channel("tcp"), api.open_channel("tcp"), api.open_channel("unix")
    try:
        assert re.fullmatch(r"/c/[A-Za-z0-9_-]{32}", one.prefix) and one.prefix != two.prefix
        assert one.base_url == f"http://{one.address}{one.prefix}/v1"
        assert unix.prefix == "" and unix.base_url == f"http://{unix.address}/v1"
    finally:
        for channel in (one, two, unix):
            api.close_channel(channel)


def test_an_honest_step_generates_edits_and_downloads_through_its_channel(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    client = OpenAI(api_key="sk-honest-0123456789", base_url=channel.base_url, max_retries=0)
    try:
        url = client.images.generate(model="dall-e-2", prompt="a fox", size="256x256").data[0].url
        assert url is not None and url.startswith(f"http://{channel.address}{channel.prefix}/private/")
        picture = requests.get(url, timeout=30)
        assert picture.status_code == 200 and picture.content.startswith(PNG)
        edited = client.images.edit(model="gpt-image-1.5", image=("lounge.png", LOUNGE, "image/png"),
                                    prompt="the lounge at night", size="1024x1024", quality="low")
        assert base64.b64decode(edited.data[0].b64_json or "").startswith(PNG)
        missing = requests.get(f"{channel.base_url}/nothing", headers={"Authorization": "Bearer k"}, timeout=30)
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    finally:
        client.close()
        api.close_channel(channel)
    rows = read_log(api.data_dir, channel=channel.name)
    assert [r.route for r in rows][:1] + [r.route for r in rows][2:] == ["/v1/images/generations",
                                                                          "/v1/images/edits", "/v1/nothing"]
    assert rows[1].route.startswith("/private/org-") and rows[1].status == 200 and rows[1].urls == [url]
    assert rows[0].urls == [url] and all(channel.prefix not in r.route for r in rows)


def test_a_step_that_knows_only_the_port_uses_none_of_the_runs_budget(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    address = port_of(channel)
    held = [socket.create_connection(address) for _ in range(40)]  # more than the channel's 32 connections
    answers: list[bytes] = []

    def attack() -> None:  # at once with the honest requests: without the prefix, or with a made-up one
        for i in range(10):
            guess = "" if i % 2 == 0 else "/c/" + secrets.token_urlsafe(24)
            answers.append(send_raw(address, f"{guess}/v1/images/generations"))

    attacker = threading.Thread(target=attack)
    client = OpenAI(api_key="sk-honest-0123456789", base_url=channel.base_url, max_retries=0)
    try:
        attacker.start()
        with ThreadPoolExecutor(max_workers=4) as pool:  # the run's own 4 requests at once
            made = list(pool.map(lambda i: client.images.generate(model="dall-e-2", prompt=f"a fox {i}",
                                                                  size="256x256", response_format="b64_json"),
                                 range(6)))
        attacker.join(timeout=60)
    finally:
        client.close()
        for s in held:
            s.close()
        api.close_channel(channel)
    assert len(made) == 6 and all(r.data[0].b64_json for r in made)
    assert len(answers) == 10
    for answer in answers:  # the real 404, and the connection closed after it
        assert answer.startswith(b"HTTP/1.1 404") and b"Invalid URL (POST /" in answer, answer[:200]
    rows = read_log(api.data_dir, channel=channel.name)
    assert [(r.status, r.route, r.key) for r in rows] == [(200, "/v1/images/generations", "sk-honest-0123456789")] * 6


def test_a_connection_that_sends_no_request_head_is_closed_within_seconds(api: PrivateAPI) -> None:
    channel = api.open_channel("tcp")
    try:
        with socket.create_connection(port_of(channel)) as idle:
            idle.settimeout(HEAD_SECONDS + 5)
            started = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, with nothing said
            assert HEAD_SECONDS - 0.5 < time.monotonic() - started < HEAD_SECONDS + 3
    finally:
        api.close_channel(channel)


def test_the_grading_servers_own_port_serves_no_request_outside_a_channel(api: PrivateAPI) -> None:
    before = len(read_log(api.data_dir))
    reply = requests.post(f"{api.base_url}/images/generations", json={"prompt": "a fox", "size": "256x256"},
                          headers={"Authorization": "Bearer k"}, timeout=30)
    assert reply.status_code == 404 and reply.json()["error"]["message"] == "Invalid URL (POST /v1/images/generations)"
    assert reply.headers["connection"] == "close" and len(read_log(api.data_dir)) == before
