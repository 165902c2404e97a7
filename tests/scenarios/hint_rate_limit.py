"""Scenario: more images in a minute than the limit"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    for _ in range(3):
        client.images.generate(prompt="a cat", size="256x256")

if __name__ == "__main__":
    run_steps([step1])
