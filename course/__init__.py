"""A course kit for OpenAI's Images API, with an offline Images API built in.

In a learner's script, one line connects the real `openai` SDK to the right API:

    import course.auto          # or: import course; course.connect()

See `course.connect` for what that line does, and `course --help` for the CLI.

The base, which every learner's script may import (standard library only, or nearly): `errors`, `paths`,
`untrusted_text`, `connect` and `auto` (the SDK connected), `steps` (the runner at the bottom of each lesson
script), `handoffs` (a step that calls an earlier one is judged on its own work), `hints` (the hint catalogue),
`scripts` (running a file as `python file.py` would). Above it, by floor: `lesson/` (the model) and `offline/`
(the offline Images API), and `codio_env/` (Codio's test environment for a guide's code tests: its helper
library, its partial points, its workspace folder); `jupyter/` (notebooks and widgets); `terminal/` (the `course`
command) and `build` (`course build`, which uses both the lessons and the notebooks).
"""

from .connect import Connection, connect

__all__ = ["Connection", "connect"]
__version__ = "0.9.0"
