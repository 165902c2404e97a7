"""Is every request, refused ones included, recorded durably with what was asked and what was given?"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import openai
import pytest

from course.offline.requestlog import read_log
from tests.pngs import png


def test_success_and_refusals_are_logged(server) -> None:
    """Are a success, a 400 and a 401 all in the log with their parameters, status and request id?"""
    client = server.client(api_key="sk-learner-alice-000000")
    ok = client.images.with_raw_response.generate(prompt="a cat", size="256x256", n=2)
    response = ok.parse()
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(prompt="a cat", size="255x255")
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(prompt="a cat", extra_headers={"Authorization": ""})
    rows = read_log(server.data_dir)
    assert [r.status for r in rows] == [200, 400, 401]
    first, second, third = rows
    assert first.key == "sk-learner-alice-000000" and first.route == "/v1/images/generations"
    assert first.model == "dall-e-2" and first.params == {"prompt": "a cat", "size": "256x256", "n": 2}
    assert first.urls == [d.url for d in response.data]
    assert len(first.image_ids) == 2 and all(i in u for i, u in zip(first.image_ids, first.urls))
    assert first.request_id == ok.headers["x-request-id"]
    assert second.error_code == "invalid_request_error" and second.request_id == bad.value.request_id
    assert second.params["size"] == "255x255"
    assert third.key is None and third.status == 401


def test_uploads_are_logged_by_digest(server) -> None:
    """Is an uploaded file logged by name, size and sha256 rather than by its bytes?"""
    data = png((64, 64), hole=True)
    server.client().images.edit(image=("me.png", data, "image/png"), prompt="a hat", size="256x256")
    (row,) = read_log(server.data_dir)
    assert row.params["image"]["filename"] == "me.png"
    assert row.params["image"]["bytes"] == len(data)
    assert len(row.params["image"]["sha256"]) == 64


def test_image_fetches_and_unknown_routes_are_logged(server) -> None:
    """Are URL fetches and 404s logged too?"""
    url = server.client().images.generate(prompt="a cat", size="256x256").data[0].url
    urllib.request.urlopen(url, timeout=10).read()
    with pytest.raises(openai.NotFoundError):
        server.client().post("/images/foo", body={}, cast_to=object)
    rows = read_log(server.data_dir)
    assert [r.status for r in rows] == [200, 200, 404]
    assert rows[1].method == "GET" and rows[1].image_ids == rows[0].image_ids


def test_read_log_filters_by_key(server) -> None:
    """Does read_log(key=...) return only that key's requests?"""
    server.client(api_key="sk-one-1111111111").images.generate(prompt="a cat", size="256x256")
    server.client(api_key="sk-two-2222222222").images.generate(prompt="a dog", size="256x256")
    rows = read_log(server.data_dir, key="sk-two-2222222222")
    assert [r.params["prompt"] for r in rows] == ["a dog"]


def test_learner_id_comes_from_the_keys_file(start_server, tmp_path) -> None:
    """With --keys, is each request logged under its learner id?"""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"sk-bob-0123456789abc": "bob"}))
    server = start_server(keys_file=keys)
    server.client(api_key="sk-bob-0123456789abc").images.generate(prompt="a cat", size="256x256")
    assert read_log(server.data_dir)[0].learner == "bob"


def test_course_log_command(server) -> None:
    """Does `course log --key` print that key's requests, and --json one object per line?"""
    server.client(api_key="sk-cli-0000000000").images.generate(prompt="a cat", size="256x256")
    cmd = [sys.executable, "-m", "course", "log", "--data-dir", str(server.data_dir)]
    out = subprocess.run(cmd + ["--key", "sk-cli-0000000000"], capture_output=True, text=True, check=True).stdout
    assert "/v1/images/generations" in out and "dall-e-2" in out and "200" in out
    lines = subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert [json.loads(line)["params"]["prompt"] for line in lines] == ["a cat"]
    none = subprocess.run(cmd + ["--key", "sk-nobody"], capture_output=True, text=True, check=True).stdout
    assert "No requests logged" in none


def test_log_survives_a_killed_server(tmp_path) -> None:
    """Is a logged row still there after the server process is killed with SIGKILL?"""
    import os
    import signal
    import time

    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "course", "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COURSE_HOME": str(tmp_path)},
    )
    try:
        line = proc.stdout.readline()
        base = line.split("listening on ", 1)[1].split()[0]
        client = openai.OpenAI(base_url=base, api_key="sk-kill-000000000", max_retries=0)
        client.images.generate(prompt="a cat", size="256x256")
        client.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    time.sleep(0.1)
    assert [r.status for r in read_log(data)] == [200]
