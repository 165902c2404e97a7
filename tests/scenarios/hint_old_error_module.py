"""Scenario: catching openai.error.InvalidRequestError under openai >= 1"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    try:
        client.images.generate(prompt="a cat", n=1, size="255x255")
    except openai.error.InvalidRequestError as error:
        print(error)

if __name__ == "__main__":
    run_steps([step1])
