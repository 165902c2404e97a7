"""The range README promises, installed as users install it: Python 3.11.2 (Debian's and Ubuntu's own), 3.12 and
3.13, each with `openai` at the lowest release pyproject.toml allows (1.40) or the newest, from PyPI with
`pip install -e '.[cluster]'` (no lock: what pip picks today). Each runs the Quick start's main job (`course demo`,
offline, no key) and grades a small class locally; the ends of the range also grade it with `--cluster local:2`,
which must give the same gradebook.

Slow (a virtual environment from PyPI per combination), so it runs with `pytest --full`, as CI runs it. A Python
of the range that this machine lacks skips its combinations, except under CI=true, where it fails.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORRECT = REPO / "tests" / "fixtures" / "submissions" / "correct_everything"
CRASHES = REPO / "tests" / "fixtures" / "submissions" / "step4_uncaught_traceback"
LOWEST_OPENAI = "1.40.0"

pytestmark = pytest.mark.slow

# (Python, its version prefix, openai: a version or "newest", whether a cluster grades too)
COMBINATIONS = [
    ("3.11.2", "3.11.2", LOWEST_OPENAI, True),
    ("3.11.2", "3.11.2", "newest", True),
    ("3.12", "3.12.", "newest", False),
    ("3.13", "3.13.", LOWEST_OPENAI, False),
    ("3.13", "3.13.", "newest", True),
]


def find_python(wanted: str) -> str | None:
    """An interpreter of version `wanted` (a prefix such as 3.12.): the system's first, then pyenv's."""
    candidates = ["/usr/bin/python3", shutil.which("python3") or "", shutil.which(f"python{wanted[:4]}") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python3") for p in sorted(pyenv.iterdir())]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        done = subprocess.run([candidate, "-c", "import platform, venv, ensurepip; print(platform.python_version())"],
                              capture_output=True, text=True)
        if done.returncode == 0 and (done.stdout.strip() + ".").startswith(wanted if wanted.endswith(".") else wanted + "."):
            return candidate
    return None


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(encoding="utf-8") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize(("label", "version", "openai", "cluster"), COMBINATIONS,
                         ids=[f"python{c[0]}-openai-{c[2]}" for c in COMBINATIONS])
def test_installed_as_users_install_it_the_demo_and_grading_work(tmp_path: Path, label: str, version: str,
                                                                 openai: str, cluster: bool) -> None:
    python = find_python(version)
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test Python {label}, which this machine lacks")
        pytest.skip(f"no Python {label} here")
    venv = tmp_path / "venv"
    env = {"PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "COURSE_HOME": str(tmp_path / "course-home"), "LANG": "C.UTF-8",
           **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_", "REQUESTS_CA", "TMPDIR"))}}
    (tmp_path / "home").mkdir()
    run([python, "-m", "venv", str(venv)], tmp_path, env)
    wanted = [f"openai=={openai}"] if openai != "newest" else []
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", f"{REPO}[cluster]", *wanted], tmp_path, env)
    installed = run([str(venv / "bin" / "python"), "-c", "import openai, sys; print(sys.version.split()[0], openai.__version__)"],
                    tmp_path, env).stdout.split()
    assert installed[0].startswith(version.rstrip(".")) and (openai == "newest" or installed[1] == openai), installed

    try:
        demo = run([str(venv / "bin" / "course"), "demo"], tmp_path, env)
        assert list((tmp_path / "images").rglob("*.png")), demo.stdout[-2000:]
    finally:  # the demo's background server would hold port 8765 for two idle hours
        subprocess.run([str(venv / "bin" / "course"), "stop"], cwd=tmp_path, env=env, capture_output=True, timeout=60)

    for name, source in (("ada", CORRECT), ("bo", CRASHES)):
        shutil.copytree(source, tmp_path / "class" / name)
    grade = [str(venv / "bin" / "grader"), "grade", "class", "--lesson", "1", "--quiet", "--jobs", "2"]
    run([*grade, "--out", "local"], tmp_path, env)
    local = gradebook(tmp_path / "local")
    assert local["ada"]["percent"] == "100" and local["bo"]["total"] not in ("", local["bo"]["possible"]), local
    if cluster:
        run([*grade, "--out", "cluster", "--cluster", "local:2"], tmp_path, env)
        assert gradebook(tmp_path / "cluster") == local


@pytest.mark.parametrize("version", ["3.11.2", "3.13."])
def test_the_gradescope_bundles_lock_installs_on_the_ends_of_the_range(tmp_path: Path, version: str) -> None:
    """setup.sh installs the bundle's requirements.lock with pip: every entry hashed, and a version for every Python
    the bundle accepts (Debian's 3.11.2 included), so pip resolves it there (a dry run)."""
    python = find_python(version)
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test Python {version}, which this machine lacks")
        pytest.skip(f"no Python {version} here")
    sys.path.insert(0, str(REPO))
    from grader.bundle import pinned_requirements

    lock = tmp_path / "requirements.lock"
    lock.write_text(pinned_requirements(REPO / "pyproject.toml"))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_", "REQUESTS_CA", "TMPDIR"))}}
    run([python, "-m", "venv", str(tmp_path / "venv")], tmp_path, env)
    run([str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--dry-run", "--require-hashes",
         "-r", str(lock)], tmp_path, env)
