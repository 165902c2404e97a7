"""Does each mistake learners really make get its one specific hint, after the error's last line?

Every hint in `course/content/hints.json` has a scenario script in `tests/scenarios/`, named for the
mistake; each runs as a real step (`python hint_….py 1`) with the real SDK against a server on
loopback, and must end with exactly that hint.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course.hints import CATALOGUE, hint_for_text
from tests.conftest import REPO
from tests.pngs import jpeg, mask, png

SCENARIOS = Path(__file__).with_name("scenarios")
HINT_IDS = [h["id"] for h in json.loads(CATALOGUE.read_text())["hints"]]


def run_scenario(hint_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = SCENARIOS / f"hint_{hint_id.replace('-', '_')}.py"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COURSE_LIVE"))}
    full.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, str(script), "1"], capture_output=True, text=True, env=full, timeout=60)


def test_every_hint_has_a_scenario() -> None:
    """Is there a scenario script for every hint in the catalogue?"""
    missing = [h for h in HINT_IDS if not (SCENARIOS / f"hint_{h.replace('-', '_')}.py").exists()]
    assert not missing


@pytest.mark.parametrize("hint_id", [h for h in HINT_IDS if h not in ("wrong-key", "rate-limit", "expired-url",
                                                                       "server-unreachable", "missing-key-live")])
def test_hint(server, hint_id: str) -> None:
    """Does this mistake end with its own hint, right after the traceback's last line?"""
    env = {
        "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-scenario-000000000000",
        "SCENARIO_JPEG": jpeg().hex(), "SCENARIO_WIDE_PNG": png((640, 480)).hex(),
        "SCENARIO_PNG_512": png((512, 512)).hex(), "SCENARIO_MASK_256": mask((256, 256)).hex(),
        "SCENARIO_RGB_PNG": png((64, 64), mode="RGB").hex(),
    }
    result = run_scenario(hint_id, env)
    assert_hint(result, hint_id)


def assert_hint(result: subprocess.CompletedProcess[str], hint_id: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.rstrip("\n").splitlines()
    assert lines[-1].startswith(f"hint [{hint_id}]: "), result.stderr
    assert lines[0].startswith("Traceback (most recent call last):")
    # the exception's own lines come before the hint, which is last
    assert re.search(r"^[\w.]*(Error|APIRemovedInV1)\b", "\n".join(lines[:-1]), re.M), result.stderr
    assert "course/steps.py" not in result.stderr  # the runner's frames are not shown


def test_invalid_size_hint_lists_that_models_sizes(server) -> None:
    """Does the invalid-size hint name the model and list its valid sizes?"""
    result = run_scenario("invalid-size", {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-s-00000000"})
    assert "'256x256' is not a size dall-e-3 can make. Valid sizes for dall-e-3: 1024x1024, 1792x1024, 1024x1792." \
        in result.stderr


def test_wrong_key_hint(start_server, tmp_path) -> None:
    """With a keys file, does an unknown key get the wrong-key hint?"""
    keys = tmp_path / "keys.txt"
    keys.write_text("sk-right-000000000000 ann\n")
    server = start_server(keys_file=keys)
    assert_hint(run_scenario("wrong-key", {"OPENAI_BASE_URL": server.base_url,
                                           "OPENAI_API_KEY": "sk-wrong-00000000000"}), "wrong-key")


def test_rate_limit_hint(start_server) -> None:
    """Past the images-per-minute limit, is the rate-limit hint given?"""
    server = start_server(rate_limit=2)
    assert_hint(run_scenario("rate-limit", {"OPENAI_BASE_URL": server.base_url,
                                            "OPENAI_API_KEY": "sk-rate-000000000000"}), "rate-limit")


def test_expired_url_hint(server) -> None:
    """Is fetching a URL after its hour explained?"""
    url = server.client().images.generate(prompt="a cat", size="256x256").data[0].url
    server.clock.advance(3601)
    assert_hint(run_scenario("expired-url", {"SCENARIO_URL": url, "OPENAI_API_KEY": "sk-x-0000000000",
                                             "OPENAI_BASE_URL": server.base_url}), "expired-url")


def test_unreachable_server_hint() -> None:
    """When nothing answers at the API address, is that explained?"""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    assert_hint(run_scenario("server-unreachable", {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                                                    "OPENAI_API_KEY": "sk-x-0000000000"}), "server-unreachable")


def test_missing_key_when_live_is_forced(tmp_path) -> None:
    """With COURSE_LIVE=1 and no key, does the learner hear that the key is missing?"""
    assert_hint(run_scenario("missing-key-live", {"COURSE_LIVE": "1", "COURSE_HOME": str(tmp_path)}),
                "missing-key-live")


def test_text_matching_for_the_grader() -> None:
    """Does matching captured stderr (as the grader sees it) find the same hint, filled from the request?"""
    stderr = "Traceback ...\nopenai.BadRequestError: Error code: 400 - You must provide n=1 for this model.\n"
    assert hint_for_text(stderr).id == "n-dalle3"
    hint = hint_for_text("Error code: 400 - '255x255' is not one of [...] - 'size'", {"model": "dall-e-2", "size": "255x255"})
    assert hint.text == "'255x255' is not a size dall-e-2 can make. Valid sizes for dall-e-2: 256x256, 512x512, 1024x1024."
    assert hint_for_text("all fine") is None
