"""Scenario: responses.create without the image_generation tool"""
import base64
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    response = client.responses.create(model="gpt-5", input="Draw a wooden cabin by a lake")
    images = [item.result for item in response.output if item.type == "image_generation_call"]
    print(len(base64.b64decode(images[0])))

if __name__ == "__main__":
    run_steps([step1])
