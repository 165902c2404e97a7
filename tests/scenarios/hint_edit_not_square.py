"""Scenario: a 640x480 PNG sent to a variation"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.create_variation(image=("wide.png", bytes.fromhex(os.environ["SCENARIO_WIDE_PNG"]), "image/png"))

if __name__ == "__main__":
    run_steps([step1])
