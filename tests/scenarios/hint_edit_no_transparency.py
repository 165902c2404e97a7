"""Scenario: an opaque RGB picture edited without a mask"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.edit(image=("rgb.png", bytes.fromhex(os.environ["SCENARIO_RGB_PNG"]), "image/png"), prompt="a hat")

if __name__ == "__main__":
    run_steps([step1])
