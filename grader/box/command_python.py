"""The Python a guide's code test finds on PATH in the full box: the grader's own interpreter and packages, started
without what only the grader needs.

A guide's tests start Python again and again (`python3 code/loops.py`, a test script that runs the learner's program
once more): on a large guide, about ninety times a learner. Started from the grader's virtual environment, each
start reads that environment's `.pth` files, and an editable install's (`pip install -e .`, as the Quick start
installs the kit) imports its finder, pathlib and more: 17 ms of a start's 23 ms in the box. So a code test gets a
small environment of its own, made once per grader process (`folder()`), whose interpreter is the grader's and whose
packages are the grader's, named by path:

    pyvenv.cfg                              home = the interpreter's folder; no system packages
    bin/python, bin/python3                 links to the grader's interpreter
    lib/pythonX.Y/site-packages/grader.pth  the grader's package folders, one a line, and the folders its own
                                            .pth files name; never their `import` lines

A test sees the same interpreter and the same packages (read-only, bound into the box); what it no longer gets is
the kit's own `course` and `grader` through the editable install's finder, which no guide's test imports.
"""

from __future__ import annotations

import atexit
import os
import shutil
import site
import sys
import tempfile
import threading
from pathlib import Path

_MADE: list[str] = []
_LOCK = threading.Lock()


def folder() -> str:
    """The environment's folder, made the first time it is asked for (its `bin` goes first on a code test's PATH)."""
    with _LOCK:
        if not _MADE or not os.path.isdir(_MADE[0]):
            _MADE[:] = [make(Path(tempfile.mkdtemp(prefix="course-python-")))]
            atexit.register(shutil.rmtree, _MADE[0], True)
        return _MADE[0]


def make(root: Path) -> str:
    """Lay the environment out in `root` (readable by every uid: the box's steps run as their own)."""
    interpreter = os.path.realpath(sys.executable)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = root / "lib" / version / "site-packages"
    packages.mkdir(parents=True)
    (root / "bin").mkdir()
    for name in ("python", "python3", version):
        os.symlink(interpreter, root / "bin" / name)
    (root / "pyvenv.cfg").write_text(
        f"home = {os.path.dirname(interpreter)}\ninclude-system-site-packages = false\n"
        f"version = {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}\n", encoding="utf-8")
    (packages / "grader.pth").write_text("".join(f"{path}\n" for path in package_folders()), encoding="utf-8")
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return str(root)


def package_folders() -> list[str]:
    """The folders the grader's own interpreter imports packages from (its site-packages), then each folder that a
    `.pth` file there names by path; `import` lines run code at every start, and are left out."""
    found: list[str] = []
    for packages in site.getsitepackages():
        if not os.path.isdir(packages) or packages in found:
            continue
        found.append(packages)
        for name in sorted(os.listdir(packages)):
            if not name.endswith(".pth"):
                continue
            try:
                lines = Path(packages, name).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
                    continue
                path = os.path.join(packages, line)
                if os.path.isdir(path) and path not in found:
                    found.append(path)
    return found
