"""Scenario: subscripting the 1.x response like the 0.x dictionary"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    response = client.images.generate(prompt="a cat", n=1, size="256x256")
    print(response["data"][0]["url"])

if __name__ == "__main__":
    run_steps([step1])
