"""Scenario: reading .data on a stream event, as on an ImagesResponse"""
import base64
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    stream = client.images.generate(model="gpt-image-1.5", prompt="a cat", size="1024x1024", quality="low",
                                    stream=True, partial_images=1)
    for event in stream:
        picture = base64.b64decode(event.data[0].b64_json)

if __name__ == "__main__":
    run_steps([step1])
