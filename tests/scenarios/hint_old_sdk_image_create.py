"""Scenario: the lesson's 0.x call under openai >= 1"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    response = openai.Image.create(prompt="a cat", n=1, size="256x256")
    print(response)

if __name__ == "__main__":
    run_steps([step1])
