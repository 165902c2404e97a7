"""Lesson 1: generating images from a text prompt.

Run one step at a time:  python imageGen.py 1   (python imageGen.py lists the steps)
"""

import course.auto  # connects the openai SDK: the offline Images API when no key is set
import openai
from openai import OpenAI

from course.steps import run_steps, todo

client = OpenAI()
PROMPT = "a corgi playing chess in a sunny library"


def step1():
    """Create an image from a prompt."""
    # BEGIN SOLUTION
    response = client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="256x256")
    # END SOLUTION
    return response


def step2():
    """Print the whole response."""
    response = step1()
    # BEGIN SOLUTION
    print(response)
    # END SOLUTION


def step3():
    """Print only the image URL."""
    response = step1()
    # BEGIN SOLUTION
    image_url = response.data[0].url
    print(image_url)
    # END SOLUTION


def step4():
    """Ask for an invalid size and read the error."""
    # BEGIN SOLUTION
    try:
        client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="255x255")
    except openai.BadRequestError as error:
        print("The API refused the request:", error.message)
    # END SOLUTION


def step5():
    """Go back to a valid size and print the URL."""
    step4()
    # BEGIN SOLUTION
    response = client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="512x512")
    print(response.data[0].url)
    # END SOLUTION


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5])
