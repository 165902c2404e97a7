"""Scenario: fetching an image URL after its hour"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    import urllib.request

    urllib.request.urlopen(os.environ["SCENARIO_URL"]).read()

if __name__ == "__main__":
    run_steps([step1])
