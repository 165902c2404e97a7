"""Scenario: style on a GPT image model"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.generate(model="gpt-image-1.5", prompt="a cat", style="vivid")

if __name__ == "__main__":
    run_steps([step1])
