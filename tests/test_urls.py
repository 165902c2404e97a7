"""Are image URLs shaped like the real signed blob URLs, alive for exactly an hour, and tamper-proof?"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

URL_RE = re.compile(
    r"^http://127\.0\.0\.1:\d+/private/org-[A-Za-z0-9]{24}/user-[A-Za-z0-9]{24}/img-[A-Za-z0-9]{24}\.png"
    r"\?st=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ&se=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ&sp=r&sv=2021-08-06&sr=b"
    r"&rscd=inline&rsct=image/png&skoid=[0-9a-f-]{36}&sktid=[0-9a-f-]{36}&skt=[^&]+&ske=[^&]+&sks=b&skv=2021-08-06"
    r"&sig=[A-Za-z0-9%]+$"
)


def status_of(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_url_has_the_real_shape_and_an_hour_either_side(server) -> None:
    """Is the URL's shape the real one, with st = created - 1 h and se = created + 1 h?"""
    response = server.client().images.generate(prompt="a cat", size="256x256")
    url = response.data[0].url
    assert URL_RE.match(url), url
    query = parse_qs(urlsplit(url).query)
    assert query["st"] == [iso(response.created - 3600)]
    assert query["se"] == [iso(response.created + 3600)]
    assert query["sig"][0].endswith("=")  # base64, %3D-encoded in the URL
    assert "%3D" in url.rsplit("sig=", 1)[1]


def test_url_lives_exactly_sixty_minutes(server) -> None:
    """Does the URL answer until the hour is up, and 403 from that second on?"""
    url = server.client().images.generate(prompt="a cat", size="256x256").data[0].url
    server.clock.advance(3599)
    assert status_of(url)[0] == 200
    server.clock.advance(1)
    code, body = status_of(url)
    assert code == 403
    assert b"<Code>AuthenticationFailed</Code>" in body
    assert b"Signature not valid in the specified time frame" in body


@pytest.mark.parametrize("tamper", ["path", "expiry", "signature"])
def test_tampered_url_is_refused(server, tamper: str) -> None:
    """Does changing the image id, the expiry or the signature get a 403?"""
    url = server.client().images.generate(prompt="a cat", size="256x256").data[0].url
    if tamper == "path":
        bad = re.sub(r"img-(\w)", lambda m: "img-" + ("A" if m[1] != "A" else "B"), url)
    elif tamper == "expiry":
        se = parse_qs(urlsplit(url).query)["se"][0]
        later = iso(time.mktime(time.strptime(se, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone + 86400)
        bad = url.replace("se=" + se.replace(":", "%3A"), "se=" + later.replace(":", "%3A"))
    else:
        bad = url.replace("sig=", "sig=A")
    assert bad != url
    code, body = status_of(bad)
    assert code == 403
    assert b"Signature did not match" in body


def test_expired_files_are_swept_but_the_log_is_kept(server) -> None:
    """After the URLs' hour, are the image files removed while the request log keeps every row?"""
    from course.offline.requestlog import read_log

    client = server.client()
    for _ in range(3):
        client.images.generate(prompt="a cat", size="256x256", n=2)
    assert server.app.services.store.count() == 6
    server.clock.advance(1800)
    assert server.app.services.sweep() == 0
    server.clock.advance(3 * 3600)
    assert server.app.services.sweep() == 6
    assert server.app.services.store.count() == 0
    assert len(read_log(server.data_dir)) == 3


def test_sweeper_runs_by_itself(start_server) -> None:
    """Does a running server sweep on its own, without anyone calling sweep()?"""
    server = start_server(sweep_interval=0.05)
    server.client().images.generate(prompt="a cat", size="256x256")
    assert server.app.services.store.count() == 1
    server.clock.advance(3 * 3600)
    deadline = time.monotonic() + 5
    while server.app.services.store.count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.app.services.store.count() == 0


def test_urls_survive_a_restart(start_server, tmp_path) -> None:
    """Does a URL issued before a restart still work after it (same data dir)?"""
    data = tmp_path / "shared-data"
    url = start_server(data_dir=data).client().images.generate(prompt="a cat", size="256x256").data[0].url
    second = start_server(data_dir=data)
    moved = re.sub(r":\d+/", f":{second.port}/", url, count=1)
    assert status_of(moved)[0] == 200
