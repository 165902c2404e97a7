"""Where a guide's notebook finds its guide: a path relative to the notebook's own folder, never an absolute one.

A notebook written by `course notebook GUIDE` names its guide as a path from the folder the notebook is in
(`"."` when it lies in the guide's own folder), so that the guide folder, copied elsewhere or handed to
learners with its notebook, still works. Its Try-it and question cells resolve that path here:

    guide_folder(".")   # the guide's folder (holding .guides), found from the notebook's folder

The notebook's folder is the one Jupyter says the notebook is in (`JPY_SESSION_NAME`, which Jupyter's server
gives each notebook's kernel; `__vsc_ipynb_file__` in VS Code), else the kernel's working folder, which
Jupyter starts in the notebook's folder. Standard library only: a Try-it cell does not import the widgets.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CourseError

__all__ = ["guide_folder", "notebook_folder"]


def notebook_folder() -> Path:
    """The folder of the notebook this kernel runs, as far as the kernel can know it (else the working folder)."""
    for path in (os.environ.get("JPY_SESSION_NAME", ""), _vscode_notebook()):
        if path and os.path.isabs(path) and Path(path).parent.is_dir():
            return Path(path).parent
    return Path.cwd()


def _vscode_notebook() -> str:
    try:
        from IPython import get_ipython
    except ImportError:
        return ""
    shell = get_ipython()
    name = shell.user_ns.get("__vsc_ipynb_file__", "") if shell is not None else ""
    return name if isinstance(name, str) else ""


def guide_folder(path: str | Path) -> Path:
    """The guide at `path`, a path from the notebook's folder: its folder holding `.guides`, or a place inside its
    `.guides` (an absolute path is taken as it is, when it is there). Raises CourseError naming what to do when no
    guide is there."""
    given = Path(path)
    place = (given if given.is_absolute() else notebook_folder() / given).resolve()
    if (place / ".guides").is_dir() or (place.exists() and (given.is_absolute() or ".guides" in place.parts)):
        return place
    where = "in this notebook's folder" if str(path) in ("", ".") else f"at {str(path)!r} from this notebook's folder"
    raise CourseError(f"this notebook's guide is not {where} ({place} holds no guide: no .guides folder), so its "
                      "buttons and questions can't run.",
                      hint="keep the notebook where `course notebook` wrote it, beside the guide as it was (copy the "
                           "guide's folder with the notebook in it), or write it again from the guide: course "
                           "notebook GUIDE --out FOLDER.")
