"""Scenario: the picture looked for in the wrong item of response.output (the assistant's message)"""
import base64
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    response = client.responses.create(model="gpt-5", input="Draw a wooden cabin by a lake",
                                       tools=[{"type": "image_generation", "size": "1024x1024", "quality": "low"}])
    print(len(base64.b64decode(response.output[-1].result)))

if __name__ == "__main__":
    run_steps([step1])
