"""The offline API's SDK-facing calls (Images API, Responses incl. stored responses and image-id turns, Files) through
the `openai` releases at the ends of the range pyproject.toml allows and between: the lowest (1.40.0), the last of
1.x (1.109.1) and of 2.x (2.54.0), and the installed one (the newest the project is developed with). Each older release gets its own
virtual environment from PyPI (`openai==X` and an httpx it can use), kept under pytest's cache folder so it is
made once; `tests/compat/sdk_calls.py` runs in it against a server this test starts, strictly validating every
body and event with that release's own types.

A call whose method or type a release lacks (the Responses API before 1.66, say) is reported as skipped with the
reason, and the test skips with it: never a silent pass. Slow (a virtual environment per release), so it runs with
`pytest --full`. Set COURSE_SKIP_SDK_VERSIONS=1 to skip it on a machine with no package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("sdk_calls.py")
CACHE = REPO / ".pytest_cache" / "compat-sdk"
INSTALLED = "installed"
VERSIONS = ["1.40.0", "1.109.1", "2.54.0", INSTALLED]
GROUPS = ["images", "responses", "stored_responses", "image_id_turns", "files"]
# openai before 1.55.3 passes `proxies` to httpx, which httpx 0.28 removed (see pyproject.toml).
HTTPX = "httpx>=0.23,<0.28"
# What each release lacks, as sdk_calls.py reports it: the only skips allowed.
LACKS = {
    "1.40.0": {"images_streamed", "responses_create", "responses_streamed", "responses_async",
               "responses_input_images", "responses_previous", "stored_retrieve", "stored_delete",
               "stored_input_items", "image_id_turn", "image_id_turn_streamed"},
}


def sdk_python(version: str) -> Path:
    """The interpreter of a virtual environment with `openai==version` (made once, then reused)."""
    if version == INSTALLED:
        return Path(sys.executable)
    if os.environ.get("COURSE_SKIP_SDK_VERSIONS") == "1":
        pytest.skip("COURSE_SKIP_SDK_VERSIONS=1: no virtual environment made for openai " + version)
    venv = CACHE / f"openai-{version}"
    python = venv / "bin" / "python"
    if python.exists() and installed_version(python) == version:
        return python
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_", "REQUESTS_CA", "TMPDIR"))}}
    for command in ([sys.executable, "-m", "venv", "--clear", str(venv)],
                    [str(python), "-m", "pip", "install", "-q", f"openai=={version}", HTTPX]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert installed_version(python) == version
    return python


def installed_version(python: Path) -> str | None:
    done = subprocess.run([str(python), "-c", "import openai; print(openai.__version__)"], capture_output=True,
                          text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("version", VERSIONS)
def test_the_sdk_calls_work_under_each_release(server: Any, version: str, group: str) -> None:
    python = sdk_python(version)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTHONPATH", "VIRTUAL_ENV"))}
    done = subprocess.run([str(python), str(SCRIPT), server.base_url, group], capture_output=True, text=True,
                          timeout=300, env=env, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert version == INSTALLED or result["version"] == version, result["version"]
    assert not result["failed"], "\n".join(f"{name}:\n{trace}" for name, trace in result["failed"].items())
    lacking = LACKS.get(version, set())
    assert set(result["skipped"]) <= lacking, f"skipped, though openai {result['version']} has it: {result['skipped']}"
    assert set(result["ran"]) | set(result["skipped"]) and not set(result["ran"]) & lacking
    if result["skipped"]:
        pytest.skip(f"openai {result['version']} ran {len(result['ran'])} calls; skipped: "
                    + "; ".join(f"{name} ({why})" for name, why in result["skipped"].items()))
