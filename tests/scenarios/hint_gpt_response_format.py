"""Scenario: response_format on a GPT image model"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.generate(model="gpt-image-2", prompt="a cat", response_format="url")

if __name__ == "__main__":
    run_steps([step1])
