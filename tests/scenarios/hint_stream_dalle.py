"""Scenario: stream=True on a DALL·E model"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    for event in client.images.generate(model="dall-e-3", prompt="a cat", stream=True, partial_images=2):
        print(event.type)

if __name__ == "__main__":
    run_steps([step1])
