"""Scenario: a follow-up whose previous_response_id the API does not know (copied from another run)"""
import os
import openai
from openai import OpenAI

from course.steps import run_steps

client = OpenAI(max_retries=0)


def step1():
    client.responses.create(model="gpt-5", input="Now make it blue",
                            previous_response_id="resp_" + "0123456789abcdef" * 3,
                            tools=[{"type": "image_generation", "size": "1024x1024", "quality": "low"}])

if __name__ == "__main__":
    run_steps([step1])
