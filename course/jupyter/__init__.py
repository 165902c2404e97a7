"""The course in Jupyter.

    from course.jupyter import progress, question, start, try_it

- `widgets`    what runs in the learner's kernel: connect, Try-it, questions and progress as widgets
- `notebooks`  the lesson notebooks, written from the lesson scripts and pages (`course notebook`)
- `question_box` and `task_boxes`  one answering loop for every assessment, and each type's inputs
- `try_buttons`  a guide's Try-it button run outside Codio, in the terminal and in a guide's notebook
- `guide_notebooks`  any Codio guide as one notebook (`course notebook GUIDE`)
- `guide_place`  where a guide's notebook finds its guide: a path from the notebook's own folder
- `live`       a Try-it run shown as it happens: its output and the pictures as they come
- `cells`      the notebook's cells as the kernel knows them (a step's cell number, tracebacks naming cells)

The names above are loaded from `widgets` on first use, so writing a notebook does not import
ipywidgets.
"""

from typing import Any

__all__ = ["progress", "question", "start", "try_it"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'course.jupyter' has no attribute {name!r}")
