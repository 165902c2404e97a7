"""Where the course keeps a user's state. Standard library only: imported by every learner's script."""

from __future__ import annotations

import os
from pathlib import Path


def user_dir() -> Path:
    """`$COURSE_HOME`, else `$XDG_STATE_HOME/course`, else `~/.local/state/course`."""
    if os.environ.get("COURSE_HOME"):
        return Path(os.environ["COURSE_HOME"]).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "course"


def server_dir() -> Path:
    """The shared background server's state file, lock and log."""
    return user_dir() / "server"


def offline_data_dir() -> Path:
    """The default data folder of the offline API: request log, images, signing secret."""
    return user_dir() / "offline-api"
