"""Scenario: a JPEG sent to a dall-e-2 edit"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.edit(image=("photo.jpg", bytes.fromhex(os.environ["SCENARIO_JPEG"]), "image/jpeg"), prompt="a hat")

if __name__ == "__main__":
    run_steps([step1])
