"""The lesson's original openai 0.x code, run unchanged under `openai==0.28.*` against the offline API.

The lesson was written for the 0.x SDK (`openai.Image.create(...)`, `response['data'][0]['url']`,
`openai.error.InvalidRequestError`). These tests build a separate virtual environment with
`openai==0.28.*` (cached under pytest's cache folder, `.pytest_cache/`, so it is built once and never
committed), then run small scripts in it as subprocesses against a real offline server on loopback.

If pip cannot install `openai==0.28.*` the tests FAIL with pip's output; set `COURSE_SKIP_LEGACY=1` to
skip them instead (for machines with no package index).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from course.offline.requestlog import read_log

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "legacy"
REQUIREMENT = "openai==0.28.*"
KEY = "sk-legacy"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIZE_MESSAGE = "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'"
ENV_NAMES_TO_DROP = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COURSE_LIVE", "COURSE_OFFLINE_DATA_DIR",
                     "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_ORGANIZATION", "OPENAI_API_TYPE",
                     "OPENAI_API_VERSION", "OPENAI_API_KEY_PATH")


# --- the 0.28 virtual environment ------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _legacy_version(python: Path) -> str | None:
    if not python.exists():
        return None
    try:
        out = subprocess.run([str(python), "-c", "import openai; print(openai.version.VERSION)"],
                             check=False, capture_output=True, text=True, timeout=60, env=_base_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise builds of the shared venv across processes (pytest-xdist workers, parallel runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:
            pass
        yield
    finally:
        os.close(fd)


@pytest.fixture(scope="session")
def legacy_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a virtual environment with openai 0.28 installed, built once and cached."""
    if os.environ.get("COURSE_SKIP_LEGACY") == "1":
        pytest.skip("COURSE_SKIP_LEGACY=1: not building an openai 0.28 environment")
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("legacy-openai-0.28") if cache is not None else tmp_path_factory.mktemp("legacy-openai-0.28")
    venv = root / "venv"
    python = _venv_python(venv)
    with _file_lock(root / "lock"):
        version = _legacy_version(python)
        if version is not None and version.startswith("0.28"):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", REQUIREMENT],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=600,
                                      env=_base_env())
            except subprocess.TimeoutExpired as exc:
                pytest.fail(f"building the openai 0.28 environment timed out: {' '.join(step)}\n{exc}\n"
                            "Set COURSE_SKIP_LEGACY=1 to skip these tests on a machine without a package index.",
                            pytrace=False)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = (done.stdout + done.stderr)[-4000:]
                pytest.fail(f"could not build the openai 0.28 environment (is PyPI reachable?): "
                            f"{' '.join(step)} exited {done.returncode}\n{tail}\n"
                            "Set COURSE_SKIP_LEGACY=1 to skip these tests on a machine without a package index.",
                            pytrace=False)
        version = _legacy_version(python)
        if version is None or not version.startswith("0.28"):
            pytest.fail(f"the environment built for {REQUIREMENT} reports openai {version!r}", pytrace=False)
    return python


# --- running scripts in it ---------------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k not in ENV_NAMES_TO_DROP}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_legacy(python: Path, script: str | Path, *, env: dict[str, str], cwd: Path,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a script file, or the source text given, with the 0.28 interpreter and exactly `env` on top."""
    if isinstance(script, str):
        path = cwd / "script.py"
        path.write_text(script, encoding="utf-8")
        script = path
    full = _base_env()
    full.update(env)
    return subprocess.run([str(python), str(script)], check=False, capture_output=True, text=True,
                          timeout=timeout, env=full, cwd=str(cwd))


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output\nstderr:\n{done.stderr}"
    return json.loads(lines[-1])


# A wrapper for the probing scripts: run BODY, report what came back or what was raised as one JSON line.
PROBE = """\
import json, openai
try:
{body}
except openai.error.OpenAIError as exc:
    print(json.dumps({{"raised": type(exc).__name__, "module": type(exc).__module__, "str": str(exc),
                      "http_status": exc.http_status, "request_id": exc.request_id,
                      "headers": {{k.lower(): v for k, v in dict(exc.headers or {{}}).items()}}}}))
else:
    print(json.dumps({{"raised": None, "result": result}}))
"""


def probe(body: str) -> str:
    return PROBE.format(body="\n".join("    " + line for line in body.strip().splitlines()))


# --- images --------------------------------------------------------------------------------


def picture(size: int = 256) -> Image.Image:
    """An opaque RGBA picture with a pattern, so changed pixels show."""
    image = Image.new("RGBA", (size, size), (30, 120, 200, 255))
    draw = ImageDraw.Draw(image)
    for x in range(0, size, 8):
        draw.line((x, 0, x, size), fill=(250, 200, 40, 255))
    for y in range(0, size, 12):
        draw.line((0, y, size, y), fill=(200, 40, 90, 255))
    return image


def mask_with_hole(size: int = 256) -> Image.Image:
    """Opaque everywhere but a fully transparent centre square: edit only the middle."""
    mask = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=(0, 0, 0, 0))
    return mask


def save_png(image: Image.Image, path: Path) -> Path:
    image.save(path, "PNG")
    return path


def decode_png(data: bytes) -> Image.Image:
    assert data[:8] == PNG_MAGIC, f"not a PNG: {data[:16]!r}"
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read()


def issued_urls(data_dir: Path) -> list[str]:
    return [url for record in read_log(data_dir) for url in record.urls]


# --- a) the lesson's code, unchanged -------------------------------------------------------


def test_lesson_code_runs_unchanged(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    done = run_legacy(legacy_python, LEGACY / "lesson.py",
                      env={"OPENAI_API_BASE": server.base_url, "OPENAI_API_KEY": KEY}, cwd=tmp_path)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    image_url = lines[-1].strip()
    printed = json.loads("\n".join(lines[:-1]))  # print(response) shows the OpenAIObject as JSON
    assert set(printed) >= {"created", "data"}, printed
    assert isinstance(printed["created"], int)
    assert printed["data"] == [{"url": image_url}]
    assert image_url in issued_urls(server.data_dir)
    image = decode_png(fetch(image_url))
    assert image.size == (256, 256)


# --- b) a 400 becomes openai.error.InvalidRequestError with the bare message ----------------


def test_invalid_size_raises_invalid_request_error(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    script = probe('result = openai.Image.create(prompt="a dog smoking a cigar in a poker room.", n=1, size="255x255")')
    report = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url,
                                                              "OPENAI_API_KEY": KEY}, cwd=tmp_path))
    assert report["raised"] == "InvalidRequestError" and report["module"] == "openai.error", report
    assert report["str"] == SIZE_MESSAGE  # no "Request req_…: " prefix
    assert report["http_status"] == 400
    assert report["request_id"] is None
    assert "request-id" not in report["headers"], report["headers"]
    assert report["headers"].get("x-request-id", "").startswith("req_"), report["headers"]


# --- c) response_format="b64_json" ---------------------------------------------------------


def test_b64_json(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    script = probe("""
response = openai.Image.create(prompt="a dog smoking a cigar in a poker room.", n=1, size="256x256",
                               response_format="b64_json")
result = {"keys": sorted(response["data"][0].keys()), "b64": response["data"][0]["b64_json"],
          "created": response["created"]}
""")
    report = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url,
                                                              "OPENAI_API_KEY": KEY}, cwd=tmp_path))
    assert report["raised"] is None, report
    assert report["result"]["keys"] == ["b64_json"]
    try:
        data = base64.b64decode(report["result"]["b64"], validate=True)
    except binascii.Error as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"b64_json is not base64: {exc}")
    assert decode_png(data).size == (256, 256)


# --- d) edits and variations (multipart uploads from 0.28) --------------------------------


def test_edit_keeps_pixels_outside_the_mask(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    original = picture(256)
    mask = mask_with_hole(256)
    save_png(original, tmp_path / "image.png")
    save_png(mask, tmp_path / "mask.png")
    script = probe("""
with open("image.png", "rb") as image, open("mask.png", "rb") as mask:
    response = openai.Image.create_edit(image=image, mask=mask, prompt="a red ball in the middle", n=1,
                                        size="256x256")
result = {"url": response["data"][0]["url"], "keys": sorted(response.keys())}
""")
    report = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url,
                                                              "OPENAI_API_KEY": KEY}, cwd=tmp_path))
    assert report["raised"] is None, report
    url = report["result"]["url"]
    assert url in issued_urls(server.data_dir)
    edited = decode_png(fetch(url)).convert("RGBA")
    assert edited.size == (256, 256)
    kept = [(x, y) for y in range(256) for x in range(256) if mask.getpixel((x, y))[3] != 0]
    changed_outside = [(x, y) for (x, y) in kept if edited.getpixel((x, y)) != original.getpixel((x, y))]
    assert not changed_outside, f"{len(changed_outside)} pixels outside the mask changed, e.g. {changed_outside[:5]}"
    hole = [(x, y) for y in range(256) for x in range(256) if mask.getpixel((x, y))[3] == 0]
    assert any(edited.getpixel(p) != original.getpixel(p) for p in hole), "nothing inside the mask was edited"


def test_variation(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    save_png(picture(256), tmp_path / "image.png")
    script = probe("""
with open("image.png", "rb") as image:
    response = openai.Image.create_variation(image=image, n=2, size="256x256")
result = {"urls": [item["url"] for item in response["data"]]}
""")
    report = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url,
                                                              "OPENAI_API_KEY": KEY}, cwd=tmp_path))
    assert report["raised"] is None, report
    urls = report["result"]["urls"]
    assert len(urls) == 2
    issued = issued_urls(server.data_dir)
    for url in urls:
        assert url in issued
        assert decode_png(fetch(url)).size == (256, 256)


# --- e) keys ----------------------------------------------------------------------------------


def test_missing_key_is_refused_by_the_sdk_before_sending(legacy_python: Path, server: Any, tmp_path: Path) -> None:
    script = probe("""
assert openai.api_key is None
result = openai.Image.create(prompt="a dog smoking a cigar in a poker room.", n=1, size="256x256")
""")
    report = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url}, cwd=tmp_path))
    assert report["raised"] == "AuthenticationError", report
    assert "No API key provided" in report["str"]
    assert report["http_status"] is None  # raised by the SDK itself ...
    assert read_log(server.data_dir) == []  # ... so the server never saw a request


def masked(key: str) -> str:
    """The real service's masking: first 8 characters, one '*' per hidden character, last 4."""
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def test_wrong_key_against_a_keys_file(legacy_python: Path, start_server: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("sk-good-0123456789abcdef alice\n", encoding="utf-8")
    server = start_server(keys_file=keys)
    wrong = "sk-wrong-abcdefghijklmnopqrstuvwxyz"
    expected = (f"Incorrect API key provided: {masked(wrong)}. "
                "You can find your API key at https://platform.openai.com/account/api-keys.")
    assert expected.startswith("Incorrect API key provided: sk-wrong" + "*" * 23 + "wxyz.")
    call = 'result = openai.Image.create(prompt="a dog smoking a cigar in a poker room.", n=1, size="256x256")'
    report = last_json(run_legacy(legacy_python, probe(call), env={"OPENAI_API_BASE": server.base_url,
                                                                   "OPENAI_API_KEY": wrong}, cwd=tmp_path))
    assert report["raised"] == "AuthenticationError", report
    assert report["str"] == expected
    assert report["http_status"] == 401
    # and the right key from the same file works
    script = probe(call.replace("result =", "response =") + '\nresult = response["data"][0]["url"]')
    good = last_json(run_legacy(legacy_python, script, env={"OPENAI_API_BASE": server.base_url,
                                                            "OPENAI_API_KEY": "sk-good-0123456789abcdef"},
                                cwd=tmp_path))
    assert good["raised"] is None, good
    assert [r.learner for r in read_log(server.data_dir) if r.status == 200] == ["alice"]


# --- f) the course's connect line under 0.28 ----------------------------------------------


def _stop_background_server(home: Path) -> None:
    env = _base_env()
    env["COURSE_HOME"] = str(home)
    subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "course", "stop"], check=False,
                   capture_output=True, text=True, timeout=60, env=env, cwd=str(REPO))
    state_file = home / "server" / "state.json"
    try:
        pid = int(json.loads(state_file.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # the server we started, by its pid


def _run_lesson_under_connect_line(legacy_python: Path, home: Path, work: Path) -> None:
    done = run_legacy(legacy_python, LEGACY / "lesson_auto.py",
                      env={"PYTHONPATH": str(REPO), "COURSE_HOME": str(home)}, cwd=work)
    log = home / "server" / "server.log"
    server_log = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else "(no server.log)"
    assert done.returncode == 0, (f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}\n"
                                  f"background server's log:\n{server_log}")
    assert "offline Images API" in done.stderr
    lines = done.stdout.strip().splitlines()
    image_url = lines[-1].strip()
    printed = json.loads("\n".join(lines[:-1]))
    assert printed["data"] == [{"url": image_url}]
    state = json.loads((home / "server" / "state.json").read_text(encoding="utf-8"))
    assert image_url.startswith(state["url"].removesuffix("/v1") + "/")
    assert image_url in issued_urls(Path(state["data_dir"]))
    assert decode_png(fetch(image_url)).size == (256, 256)


def test_connect_line_starts_a_server_that_0_28_uses(legacy_python: Path, tmp_path: Path) -> None:
    """No server yet: the connect line, run by the 0.28 interpreter, must start one the lesson then reaches."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    try:
        _run_lesson_under_connect_line(legacy_python, home, work)
    finally:
        _stop_background_server(home)


def test_connect_line_reuses_a_running_server_under_0_28(legacy_python: Path, tmp_path: Path) -> None:
    """A background server already started by the course's own environment: 0.28 picks up OPENAI_API_BASE."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = _base_env()
    env["COURSE_HOME"] = str(home)
    try:
        started = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", "import course.auto"],
                                 check=False, capture_output=True, text=True, timeout=60, env=env, cwd=str(work))
        assert started.returncode == 0, started.stderr
        assert "started it in the background" in started.stderr
        _run_lesson_under_connect_line(legacy_python, home, work)
    finally:
        _stop_background_server(home)
