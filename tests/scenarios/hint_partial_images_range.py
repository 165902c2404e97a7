"""Scenario: partial_images=4 (a stream sends 0 to 3)"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    for event in client.images.generate(model="gpt-image-1.5", prompt="a cat", size="1024x1024", quality="low",
                                        stream=True, partial_images=4):
        print(event.type)

if __name__ == "__main__":
    run_steps([step1])
