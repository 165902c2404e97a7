"""Scenario: n=2 on dall-e-3"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.generate(model="dall-e-3", prompt="a cat", n=2)

if __name__ == "__main__":
    run_steps([step1])
