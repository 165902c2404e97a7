"""Can one grading run slow or fail another through the shared offline API? (A budget per channel.)

A real `course serve` started by the grader's `private_api`, real HTTP on loopback, two channels:
one abuses, the other must be served as if alone.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from course.offline.budget import LIMITS, LOG_VALUE_CHARS
from course.offline.requestlog import read_log
from grader.api import private_api

AUTH = {"Authorization": "Bearer sk-anything"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with private_api(tmp_path_factory.mktemp("budget")) as running:
        yield running


def generate(channel, **body: object) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.post(f"{channel.base_url}/images/generations", json={"prompt": "a fox", **body}, headers=AUTH,
                         timeout=60)


def test_images_past_the_runs_budget_get_a_429_and_others_are_served(api) -> None:  # type: ignore[no-untyped-def]
    greedy, honest = api.open_channel("tcp"), api.open_channel("tcp")
    statuses = [generate(greedy, size="256x256", n=10).status_code for _ in range(LIMITS.images // 10 + 1)]
    assert statuses[:-1] == [200] * (LIMITS.images // 10) and statuses[-1] == 429
    refused = generate(greedy, size="256x256")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert generate(honest, size="256x256").status_code == 200


def test_a_costly_render_is_refused_before_any_drawing(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    started = time.monotonic()
    reply = generate(channel, model="gpt-image-2", size="3840x2160", n=10)
    assert reply.status_code == 429 and "pixels" in reply.json()["error"]["message"]
    assert time.monotonic() - started < 1.0


def test_requests_at_once_are_capped(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    host, port = channel.address.split(":")
    waiting = []
    for _ in range(LIMITS.in_flight):  # headers sent, the body never: each request stays in flight
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST " + channel.prefix.encode() + b"/v1/images/generations HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        waiting.append(s)
    time.sleep(0.3)
    try:
        reply = generate(channel, size="256x256")
        assert reply.status_code == 429 and "at once" in reply.json()["error"]["message"]
    finally:
        for s in waiting:
            s.close()


def test_idle_connections_past_the_cap_are_closed(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    host, port = channel.address.split(":")
    connections = [socket.create_connection((host, int(port))) for _ in range(40)]
    for c in connections:  # a connection counts once it shows the channel's prefix (see test_channel_secrets)
        c.sendall(f"GET {channel.prefix}/v1/models HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.5)
    closed = 0
    for c in connections:
        c.settimeout(0.2)
        try:
            closed += c.recv(10) == b""
        except OSError:
            pass
        c.close()
    assert closed == 40 - 32
    assert generate(api.open_channel("tcp"), size="256x256").status_code == 200


def test_log_rows_are_bounded_and_a_flood_stops_at_the_runs_budget(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    huge = "x" * 1_000_000
    first = generate(channel, size="256x256", prompt=huge)
    assert first.status_code == 400  # too long a prompt: refused as the real API does
    (row,) = read_log(api.data_dir, channel=channel.name)
    assert len(row.params["prompt"]) < LOG_VALUE_CHARS + 40 and row.params["prompt"].endswith("characters]")
    statuses = [generate(channel, size="256x256", prompt=huge).status_code for _ in range(LIMITS.requests + 5)]
    assert statuses[-1] == 429 and statuses.count(429) >= 5
    size = sum(len(json.dumps(r.params)) for r in read_log(api.data_dir, channel=channel.name))
    assert size < LIMITS.log_bytes + 64 * 1024


def test_a_render_stops_when_its_client_goes(api) -> None:  # type: ignore[no-untyped-def]
    channel = api.open_channel("tcp")
    host, port = channel.address.split(":")
    body = json.dumps({"model": "gpt-image-2", "prompt": "a town", "size": "3840x2160", "n": 6, "quality": "low"}).encode()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST " + channel.prefix.encode() + b"/v1/images/generations HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.3)
    deadline = time.monotonic() + 20
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = read_log(api.data_dir, channel=channel.name)
        time.sleep(0.1)
    (row,) = rows
    assert row.status == 499 and row.error_code == "client_gone" and len(row.images) < 6


def test_a_learners_own_server_has_no_such_budget(start_server) -> None:  # type: ignore[no-untyped-def]
    """Budgets are for grading runs (channels): `course serve` for a learner or a class is not capped."""
    server = start_server()
    client = server.client()
    for _ in range(5):
        client.images.generate(model="dall-e-2", prompt="a fox", size="256x256", n=10)
    assert len(read_log(server.data_dir)) == 5


def test_the_limits_leave_room_for_every_step_of_the_lessons() -> None:
    assert LIMITS.images >= 10 and LIMITS.requests >= 50 and LIMITS.pixels >= 4 * 1536 * 1024
