"""A course kit for OpenAI's Images API, with an offline Images API built in.

In a learner's script, one line connects the real `openai` SDK to the right API:

    import course.auto          # or: import course; course.connect()

See `course.connect` for what that line does, and `course --help` for the CLI.
"""

from .connect import Connection, connect

__all__ = ["Connection", "connect"]
__version__ = "0.9.0"
