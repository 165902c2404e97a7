"""Lesson 3: streaming and conversations (partial images, streamed edits, the Responses API's image tool).

Run one step at a time:  python imageGen3.py 1   (python imageGen3.py lists the steps)
"""

import base64
from pathlib import Path

import course.auto  # connects the openai SDK: the offline Images API when no key is set
import openai
from openai import OpenAI

from course.steps import run_steps, todo

client = OpenAI()
HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"


def step1():
    """Stream a generation: partial images, then the finished one."""
    todo()  # your code here: see the lesson page for this step


def step2():
    """Stream an edit of the lounge picture."""
    todo()  # your code here: see the lesson page for this step


def step3():
    """Make a picture with the Responses API's image tool."""
    todo()  # your code here: see the lesson page for this step


def step4():
    """Change the picture with a follow-up in the same conversation."""
    todo()  # your code here: see the lesson page for this step


def step5():
    """Ask for more partial images than a stream may send, and read the error."""
    todo()  # your code here: see the lesson page for this step


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5])
