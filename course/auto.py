"""`import course.auto` connects the `openai` SDK (see `course.connect`) for the lesson's model."""

from .connect import connect

connection = connect()
