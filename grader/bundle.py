"""`grader bundle`: the zip Gradescope takes as a course's autograder.

Gradescope unzips it into /autograder/source, runs `setup.sh` once when it builds the image, then
`run_autograder` for every submission (the submission in /autograder/submission, the verdict expected
in /autograder/results/results.json). /autograder/source stays hidden from students, so the answer
keys in `solutions/` can travel with the grader.

- It pins what it installs: `requirements.lock` lists every package the grader needs (pyproject.toml's
  dependencies and theirs), each at the version installed where the bundle was made (the one its
  tests ran with).
- It needs a base image with Python 3.11 or newer: Gradescope's Ubuntu 24.04 image (Python 3.12);
  `setup.sh` stops with that advice on an older one.
- `run_autograder` grades the assignment's lessons (`grader bundle --lesson 1`, every lesson
  without it), so every submission has the same maximum; it always leaves a results.json, even when
  grading fails, and exits 0, so Gradescope shows the reason instead of "the autograder failed".

The zip is deterministic (sorted names, fixed timestamps and modes), so building it twice gives the
same bytes and a changed bundle always means changed content.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

SOURCE_DIRS = ("course", "grader", "solutions")
SOURCE_FILES = ("requirements.txt", "pyproject.toml")
EXCLUDED_PARTS = {"__pycache__", ".venv", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
EXCLUDED_NAMES = {".DS_Store"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
EXECUTABLE = 0o100755  # regular file, rwxr-xr-x
REGULAR = 0o100644  # regular file, rw-r--r--
BASE_IMAGE = "Ubuntu 24.04 (Python 3.12), or any image with Python 3.11 or newer"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# Base image: @BASE_IMAGE@.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1 \
        || ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip python3-venv
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"the course needs Python 3.11 or newer, this image has {sys.version.split()[0]}: "
             "choose Gradescope's Ubuntu 24.04 base image")
PY

# Ubuntu 24.04 marks its Python as externally managed (PEP 668); the image is ours alone.
export PIP_BREAK_SYSTEM_PACKAGES=1
# Exactly the versions the grader was tested with, nothing newer by surprise.
pip3 install --no-cache-dir -r /autograder/source/requirements.lock
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it into results/results.json.
# It always leaves a results.json and exits 0: a submission that could not be graded gets a zero
# that says why (a problem on the grader's side), and the instructor can run it again.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
FAILED='{"score": 0, "output": "This submission could not be graded: the autograder itself failed (a problem on the grader side, not in your work). Your instructor can run it again.", "tests": []}'
mkdir -p "$ROOT/results"
# Gradescope's container has no CAP_SYS_ADMIN, so the learner's steps run as uids of their own (62000 and up),
# not as root: nothing here (the answer keys, checks and solutions in source/, the results) is theirs to read or
# write. A results.json already there was not written by this run: it goes.
chmod 700 "$ROOT" "$ROOT/source" "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT/source" || true
export PYTHONPATH="$ROOT/source${PYTHONPATH:+:$PYTHONPATH}"
python3 -m grader gradescope "$ROOT/submission" "$RESULTS"@LESSONS@
# Only what the grader wrote, as Gradescope's format, is kept.
if ! python3 - "$RESULTS" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    results = json.load(f)
assert isinstance(results, dict) and isinstance(results.get("score"), (int, float))
assert isinstance(results.get("tests", []), list)
PY
then
    printf '%s\n' "$FAILED" >"$RESULTS"
fi
exit 0
"""


def _excluded(relative: Path) -> bool:
    """Caches, virtual environments and tests never ship; everything else under the source dirs does."""
    return (any(part in EXCLUDED_PARTS for part in relative.parts) or relative.name in EXCLUDED_NAMES
            or relative.suffix in EXCLUDED_SUFFIXES)


def _git_files(repo: Path) -> set[str] | None:
    """Tracked and untracked-but-not-ignored files, so images a solution run left behind stay out.

    None when `repo` is not a git checkout (an unpacked release): then every file is a candidate.
    """
    try:
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                 "--", *SOURCE_DIRS, *SOURCE_FILES],
                                capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name}


def source_files(repo: Path) -> list[str]:
    """The repository's files that go in the bundle, as sorted POSIX paths relative to `repo`."""
    candidates = [path for directory in SOURCE_DIRS if (repo / directory).is_dir()
                  for path in (repo / directory).rglob("*") if path.is_file()]
    candidates += [repo / name for name in SOURCE_FILES if (repo / name).is_file()]
    names = {path.relative_to(repo).as_posix() for path in candidates if not _excluded(path.relative_to(repo))}
    allowed = _git_files(repo)
    if allowed is not None:
        names &= allowed
    return sorted(names)


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    """Fixed time, Unix attributes (so unzip restores the executable bit), deflated."""
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def pinned_requirements(pyproject: Path) -> str:
    """The kit's own dependencies (pyproject.toml's `[project] dependencies`: what grading needs, not the
    learners' Jupyter) and everything they need: their entries of the checkout's hashed, universal lock
    (`tests/requirements.lock`, every Python the kit allows, the versions its tests pass with), where it has
    one; else each at the version installed here."""
    names = _dependency_names(pyproject)
    lock = pyproject.parent / "tests" / "requirements.lock"
    if lock.is_file():
        blocks = _lock_blocks(lock.read_text(encoding="utf-8"))
        if names <= set(blocks):
            return "".join("".join(blocks[name]) for name in sorted(names))
    return _installed_pins(pyproject)


def _lock_blocks(text: str) -> dict[str, list[str]]:
    """A hashed lock's entries by package name: each one's requirement line and its hash lines (a package may
    have several, one per Python, each with its marker); comments left out."""
    from packaging.utils import canonicalize_name

    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            name = canonicalize_name(line.split("==")[0].split(";")[0].strip())
            current = blocks.setdefault(name, [])
        if current is not None:
            current.append(line if line.endswith("\n") else line + "\n")
    return blocks


def _dependency_names(pyproject: Path) -> set[str]:
    """The names of the kit's dependencies and of everything they need, as installed here."""
    from packaging.utils import canonicalize_name

    return {canonicalize_name(line.split("==")[0]) for line in _installed_pins(pyproject).splitlines() if line}


def _installed_pins(pyproject: Path) -> str:
    """Each of the kit's dependencies, and theirs, at the version installed here."""
    import importlib.metadata as metadata
    import tomllib

    from packaging.requirements import InvalidRequirement, Requirement

    from course.errors import CourseError

    wanted: list[tuple[str, frozenset[str]]] = []
    for line in tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]:
        requirement = Requirement(line)
        wanted.append((requirement.name, frozenset(requirement.extras)))
    pinned: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        name, extras = wanted.pop()
        if (name.lower(), extras) in seen:
            continue
        seen.add((name.lower(), extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise CourseError(f"{name} is not installed here, so the bundle cannot pin its version.",
                              hint="install the course first (pip install -e .), then make the bundle.") from None
        pinned[dist.metadata["Name"].lower()] = dist.version
        for spec in dist.requires or []:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                continue
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in (extras or {""})):
                wanted.append((requirement.name, frozenset(requirement.extras)))
    return "".join(f"{name}=={version}\n" for name, version in sorted(pinned.items()))


def make_bundle(out_zip: Path, repo: Path, lessons: list[str] | None = None) -> Path:
    """Write Gradescope's autograder zip for the course in `repo` to `out_zip`; returns `out_zip`.
    `lessons` (numbers or scripts, as `--lesson` takes them) are the assignment; every lesson without."""
    chosen = "".join(f" --lesson {lesson}" for lesson in lessons or [])
    entries: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP_SH.replace("@BASE_IMAGE@", BASE_IMAGE).encode("utf-8"), EXECUTABLE),
        "run_autograder": (RUN_AUTOGRADER.replace("@LESSONS@", chosen).encode("utf-8"), EXECUTABLE),
        "requirements.lock": (pinned_requirements(repo / "pyproject.toml").encode("utf-8"), REGULAR),
    }
    for name in source_files(repo):
        entries[name] = ((repo / name).read_bytes(), REGULAR)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w") as bundle:
        for name in sorted(entries):
            data, mode = entries[name]
            bundle.writestr(_entry(name, mode), data, compresslevel=9)
    return out_zip
