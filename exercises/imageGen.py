"""Lesson 1: generating images from a text prompt.

Run one step at a time:  python imageGen.py 1   (python imageGen.py lists the steps)
"""

import course.auto  # connects the openai SDK: the offline Images API when no key is set
import openai
from openai import OpenAI

from course.steps import run_steps, todo

client = OpenAI()
PROMPT = "a corgi playing chess in a sunny library"


def step1():
    """Create an image from a prompt."""
    todo()  # your code here: see the lesson page for this step
    return response


def step2():
    """Print the whole response."""
    response = step1()
    todo()  # your code here: see the lesson page for this step


def step3():
    """Print only the image URL."""
    response = step1()
    todo()  # your code here: see the lesson page for this step


def step4():
    """Ask for an invalid size and read the error."""
    todo()  # your code here: see the lesson page for this step


def step5():
    """Go back to a valid size and print the URL."""
    step4()
    todo()  # your code here: see the lesson page for this step


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5])
