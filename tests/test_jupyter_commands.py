"""The Jupyter command of docs/learners/jupyter.md, as people run it: as root in a container (with `--allow-root`,
as the page says) and as an ordinary user (as it is). tests/test_docs.py checks the page still says so."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, as_nobody

JUPYTER = Path(sys.executable).with_name("jupyter")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not JUPYTER.exists(), reason="needs the [jupyter] extra")]


def serves(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 90) -> tuple[bool, str]:
    """Start `command`; True once it says where it serves (then it is stopped), with what it printed."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 1)[0]:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                said.append(line)
                if "http://127.0.0.1:" in line and ("lab" in line or "tree" in line or "?token=" in line):
                    return True, "".join(said)
        said.append(proc.stdout.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        return False, "".join(said)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def exercises_copy(into: Path) -> Path:
    shutil.copytree(REPO / "exercises", into / "exercises")
    return into / "exercises"


def test_as_root_jupyter_lab_starts_with_allow_root_as_the_page_says(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the case of root")
    folder = exercises_copy(tmp_path)
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    refused, said = serves([str(JUPYTER), "lab", "imageGen.ipynb", "--no-browser", "--port", "0"], folder, env, 60)
    assert not refused and "--allow-root" in said, said  # what the page warns of
    started, said = serves([str(JUPYTER), "lab", "imageGen.ipynb", "--no-browser", "--port", "0", "--allow-root"],
                           folder, env)
    assert started, said


def test_as_a_user_jupyter_lab_starts_as_it_is() -> None:
    prefix = as_nobody()
    if prefix is None:
        pytest.skip("needs root to become an ordinary user")
    base = Path(tempfile.mkdtemp(prefix="jupyter-as-user-", dir="/tmp"))
    try:
        folder = exercises_copy(base)
        for path in [base, *base.rglob("*")]:
            os.lchown(path, 65534, 65534)
        env = {"PATH": f"{JUPYTER.parent}:/usr/bin:/bin", "HOME": str(base), "PYTHONPATH": str(REPO)}
        started, said = serves([*prefix, str(JUPYTER), "lab", "imageGen.ipynb", "--no-browser", "--port", "0"], folder,
                               env)
        assert started, said
    finally:
        shutil.rmtree(base, ignore_errors=True)
