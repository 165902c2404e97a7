"""Scenario: live use forced with COURSE_LIVE=1 but no OPENAI_API_KEY."""

import course.auto  # noqa: F401
from openai import OpenAI

from course.steps import run_steps


def step1():
    client = OpenAI()
    client.images.generate(prompt="a cat", size="256x256")


if __name__ == "__main__":
    run_steps([step1])
