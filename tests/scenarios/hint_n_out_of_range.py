"""Scenario: n=11"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.generate(prompt="a cat", n=11, size="256x256")

if __name__ == "__main__":
    run_steps([step1])
