"""What a step may read, and what it may not, in the weaker boxes (no mount namespace to hide things).

The full box shows a step the `course` package without its lessons, checks and questions, bound into
a root of its own. Without it, a step sees the machine's filesystem, so:

- steps import the course from a **public copy**: `course/` without its lessons, checks and questions,
  and the few grader modules the warm engine runs, copied once per grading process into a folder every
  user may read and none but root may write (`public_root`);
- where steps run as a uid of their own (root without CAP_SYS_ADMIN: Gradescope, Docker), everything
  that uid must not read (the answer keys, checks and solutions in the checkout, the submissions, the
  out folder, Gradescope's source and results) is made readable by its owner only, where it was not
  (`make_private`), and the grader says so once;
- that uid must still reach Python and its packages: `unreachable` says which it cannot, so a machine
  whose Python lives in a private folder (a pyenv under /root) is refused with the reason before any
  step runs, instead of every step failing as if the learner's code did.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRETS = ("solutions", "course/content/lessons", "course/content/assessments")  # what no step may read
# What the warm engine's zygote and the plain launcher import (`python -m grader.box.zygote`, `grader.box.jail`).
GRADER_MODULES = ("__init__.py", *(f"box/{name}.py" for name in (
    "__init__", "zygote", "jail", "build", "job", "kernel", "mounts", "limits", "cgroups", "kill", "relay", "host",
    "pid_namespace", "privileges", "weak_box", "syscalls", "landlock", "streams")))

_PUBLIC: Path | None = None


def _ignored(folder: str, names: list[str]) -> set[str]:
    here = Path(folder).resolve()
    hidden = {REPO / s for s in SECRETS}
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo")) or here / n in hidden}


def public_root() -> Path:
    """The folder holding the public copy (`course/` and `grader/`), made once per process, removed at its exit."""
    global _PUBLIC
    if _PUBLIC is not None and _PUBLIC.is_dir():
        return _PUBLIC
    root = Path(tempfile.mkdtemp(prefix="course-public-"))
    shutil.copytree(REPO / "course", root / "course", ignore=_ignored)
    for name in GRADER_MODULES:
        (root / "grader" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "grader" / name, root / "grader" / name)
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    _PUBLIC = root
    return root


def secrets_in_checkout() -> list[Path]:
    return [REPO / s for s in SECRETS if (REPO / s).exists()]


def reaches(uid: int, paths: list[Path]) -> list[Path]:
    """Which of `paths` a process running as `uid` (no groups, no capabilities) could read or enter: asked of
    a forked child that becomes that uid, so every folder above each path counts, as the kernel sees it."""
    folders = [p.is_dir() for p in paths]  # asked here, as root: the child may not even see them
    read, write = os.pipe()
    with warnings.catch_warnings():  # the child only switches uid, asks the kernel and exits: no lock is taken
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            found = [str(i) for i, p in enumerate(paths) if os.access(p, os.R_OK) or (folders[i] and os.access(p, os.X_OK))]
            os.write(write, ",".join(found).encode())
            os._exit(0)
        except BaseException:  # noqa: BLE001 - cannot tell: the caller treats every path as reachable
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        said = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return list(paths)
    return [paths[int(i)] for i in said.split(",") if i]


def make_private(uid: int, paths: list[Path]) -> list[Path]:
    """Make each of `paths` that `uid` could reach readable by its owner only (group and others lose every
    right); returns those changed. The grader (root) still reads them."""
    changed = []
    for path in reaches(uid, [p for p in paths if p.exists()]):
        mode = stat.S_IMODE(path.stat().st_mode)
        os.chmod(path, mode & 0o700)
        changed.append(path)
    left = reaches(uid, changed)
    if left:
        raise PermissionError(f"{left[0]} is still readable by uid {uid} after chmod go-rwx")
    return changed


def unreachable(uid: int, course_root: Path) -> list[Path]:
    """What a step running as `uid` needs and cannot read: Python, its standard library and packages, the public
    copy of the course."""
    from importlib.util import find_spec

    sdk = find_spec("openai")  # found, not imported: importing the SDK costs the grader a second
    needed = [Path(sys.executable), Path(os.__file__), course_root / "course" / "__init__.py"]
    if sdk is not None and sdk.origin:
        needed.append(Path(sdk.origin))
    return [p for p in needed if p not in reaches(uid, needed)]
