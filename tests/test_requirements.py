"""Set up the way courses set up: `pip install -r requirements.txt`, then `jupyter lab`, in a fresh venv.

Binder and most course platforms install a repository's requirements.txt and start Jupyter; nothing
else is run. This builds a new virtual environment (pip's cache makes the second build quick), installs
requirements.txt into it from the repository root, starts JupyterLab on loopback and asks it for its
status, and runs the lesson 1 notebook in that environment's own kernel with `jupyter nbconvert`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO



def _env(home: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
            "PIP_TRUSTED_HOST", "PIP_CACHE_DIR", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(Path.home()), COURSE_HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
               JUPYTER_DATA_DIR=str(home / "jupyter-data"), JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"))
    return env


@pytest.mark.slow
def test_pip_install_requirements_then_jupyter_lab(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    python, jupyter = venv / "bin" / "python", venv / "bin" / "jupyter"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=1500)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    listed = subprocess.run([str(python), "-c", "import openai, nbformat, ipywidgets, pytest, jupyterlab, notebook\n"
                             "from course.jupyter import try_it, question, progress, start\nprint('ok')"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert listed.stdout.strip() == "ok", listed.stderr

    # JupyterLab starts and answers.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                            "--ServerApp.token=", "--ServerApp.password=", f"--notebook-dir={REPO / 'exercises'}",
                            *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root; laptops do not
                           env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        status = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as reply:
                    status = json.load(reply)
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, "JupyterLab did not answer: " + (tmp_path / "lab.log").read_text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=30) as reply:
            assert reply.status == 200 and b"JupyterLab" in reply.read()
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
        log.close()


    # The lesson notebook runs in this environment's kernel, offline, every step passing.
    out = tmp_path / "out"
    executed = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute",
                               "--ExecutePreprocessor.timeout=300", "--output-dir", str(out),
                               str(REPO / "solutions" / "imageGen.ipynb")], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
    assert executed.returncode == 0, executed.stderr[-4000:]
    notebook = json.loads((out / "imageGen.ipynb").read_text(encoding="utf-8"))
    shown = json.dumps(notebook)
    for step in range(1, 6):
        assert f"data-step='{step}' data-passed='true'" in shown, step
    subprocess.run([str(python), "-m", "course", "stop"], cwd=tmp_path, env=env, capture_output=True, timeout=60)


def test_no_test_reads_beside_the_checkout() -> None:
    """A clone has nothing beside it: a test that opens `../shared/…` (or any folder beside the checkout) fails."""
    from tests.conftest import REPO, _beside_the_checkout

    beside = REPO.parent / "shared" / "reference" / "images-api.md"
    if REPO.parent == Path(REPO.parent.anchor):
        pytest.skip("the checkout is at the top of the filesystem")
    assert _beside_the_checkout(str(beside)) and not _beside_the_checkout(str(REPO / "README.md"))
    with pytest.raises(PermissionError, match="outside the checkout"):
        open(beside, encoding="utf-8")


def test_the_test_lock_pins_every_requirement_of_pyproject_with_hashes() -> None:
    """tests/requirements.lock (what the README's test command installs) holds every dependency of pyproject.toml
    and its test extras, at a version the range allows, each with its hashes: refresh it with `.ci/lock`."""
    import tomllib

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in ("jupyter", "cluster", "test"):
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra] if not r.startswith("images-api-course")]
    lines = (REPO / "tests" / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pinned: dict[str, str] = {}
    for index, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith("#"):
            spec, _, marker = line.rstrip(" \\").partition(";")
            requirement = Requirement(spec.strip() + (f"; {marker.strip()}" if marker.strip() else ""))
            if requirement.marker is None or requirement.marker.evaluate(default_environment()):
                pinned[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
            assert "--hash=sha256:" in lines[index + 1], f"{line} has no hash"
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate(default_environment()):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in tests/requirements.lock: run .ci/lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"tests/requirements.lock pins {name}=={pinned[name]}, outside {requirement.specifier}: run .ci/lock"
