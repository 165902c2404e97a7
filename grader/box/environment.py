"""The environments of the processes a step can look into: minimal, so nothing of the grader's own (keys, tokens,
paths) is ever in them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .mounts import PYTHON_LINKS

REPO = Path(__file__).resolve().parent.parent.parent
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def python_env(course_root: Path = REPO) -> dict[str, str]:
    """A minimal environment for every process a step can look into (the zygote, the plain launcher, the
    offline API): a forked step inherits the zygote's memory, and a step running as the grader's own
    user (no root) can read their /proc files, so nothing of the grader's environment (keys, tokens,
    paths) may be in them. `course_root` is where `course` is imported from (the checkout, or the public
    copy the weaker boxes show their steps)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
            "PYTHONPATH": str(course_root), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}


def step_env(home: str, base_url: str, course_root: str) -> dict[str, str]:
    """A step's own environment, small and explicit: nothing of the grader's own leaks into the learner's run.
    `course_root` holds the `course` package the step imports (the checkout in the full box, else its public copy)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": course_root,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "COURSE_HOME": home + "/.course-home",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_BASE": base_url,
        # Any key works here: requests are told apart by the channel they come through, not by key.
        "OPENAI_API_KEY": "sk-grading-offline",
    }


def command_path(*, full_box: bool, python: str = "") -> str:
    """PATH for a guide's code test: the grader's own Python first (`python` and `python3` with the packages it has,
    read-only): in the full box the environment `python` of `command_python` (quicker to start), else the grader's
    own folder; then, in the full box, links for a name that folder lacks (`mounts.python_links`), then the
    system's folders, where `java`, `node` and `ruby` are."""
    first = os.path.join(python, "bin") if python else os.path.dirname(sys.executable)
    return ":".join([first, *([PYTHON_LINKS] if full_box else []), SYSTEM_PATH])
