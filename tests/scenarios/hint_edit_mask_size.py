"""Scenario: a mask of another size"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.images.edit(image=("a.png", bytes.fromhex(os.environ["SCENARIO_PNG_512"]), "image/png"),
                       mask=("m.png", bytes.fromhex(os.environ["SCENARIO_MASK_256"]), "image/png"), prompt="a hat")

if __name__ == "__main__":
    run_steps([step1])
