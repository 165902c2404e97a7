"""Lesson 2: beyond the basics (DALL-E 3, base64, edits, variations, safety, GPT image models).

Run one step at a time:  python imageGen2.py 1   (python imageGen2.py lists the steps)
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
    """DALL-E 3: hd quality, natural style, revised prompt."""
    todo()  # your code here: see the lesson page for this step


def step2():
    """Ask for base64 and save the picture as a PNG."""
    todo()  # your code here: see the lesson page for this step


def step3():
    """Break an edit rule on purpose: a JPEG."""
    todo()  # your code here: see the lesson page for this step


def step4():
    """Edit a square PNG through a mask."""
    todo()  # your code here: see the lesson page for this step


def step5():
    """Make two variations of a picture."""
    todo()  # your code here: see the lesson page for this step


def step6():
    """Catch a content-policy refusal."""
    todo()  # your code here: see the lesson page for this step


def step7():
    """A current GPT image model: base64, webp, its own sizes."""
    todo()  # your code here: see the lesson page for this step


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5, step6, step7])
