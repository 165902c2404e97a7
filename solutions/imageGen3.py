"""Lesson 3: streaming and conversations (partial images, streamed edits, the Responses API's image tool).

Run one step at a time:  python imageGen3.py 1   (python imageGen3.py lists the steps)
"""

import base64
from pathlib import Path

import course.auto  # connects the openai SDK: the offline Images API when no key is set
import openai
from openai import OpenAI

from course.steps import run_steps, todo

client = OpenAI()
HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"


def step1():
    """Stream a generation: partial images, then the finished one."""
    # BEGIN SOLUTION
    stream = client.images.generate(
        model="gpt-image-1.5", prompt="a red fox curled up in the snow, watercolour",
        size="1024x1024", quality="low", stream=True, partial_images=2,
    )
    for event in stream:
        print(event.type)
        picture = base64.b64decode(event.b64_json)
        if event.type == "image_generation.partial_image":
            target = HERE / f"partial-{event.partial_image_index}.png"
        else:
            target = HERE / "fox.png"
        target.write_bytes(picture)
        print("  saved", target.name)
    # END SOLUTION


def step2():
    """Stream an edit of the lounge picture."""
    # BEGIN SOLUTION
    stream = client.images.edit(
        model="gpt-image-1.5", image=open(ASSETS / "lounge.png", "rb"),
        prompt="the same lounge at night, lit by candles", size="1024x1024", quality="low",
        stream=True, partial_images=1,
    )
    for event in stream:
        print(event.type)
        if event.type == "image_edit.completed":
            target = HERE / "lounge_night.png"
            target.write_bytes(base64.b64decode(event.b64_json))
            print("  saved", target.name)
    # END SOLUTION


def step3():
    """Make a picture with the Responses API's image tool."""
    # BEGIN SOLUTION
    response = client.responses.create(
        model="gpt-5", input="Draw a wooden cabin by a lake at sunset",
        tools=[{"type": "image_generation", "size": "1024x1024", "quality": "low"}],
    )
    images = [item.result for item in response.output if item.type == "image_generation_call"]
    target = HERE / "cabin.png"
    target.write_bytes(base64.b64decode(images[0]))
    print("saved", target.name)
    print("response id:", response.id)
    return response
    # END SOLUTION


def step4():
    """Change the picture with a follow-up in the same conversation."""
    # BEGIN SOLUTION
    first = step3()
    response = client.responses.create(
        model="gpt-5", previous_response_id=first.id, input="Now make it blue",
        tools=[{"type": "image_generation", "size": "1024x1024", "quality": "low"}],
    )
    images = [item.result for item in response.output if item.type == "image_generation_call"]
    target = HERE / "cabin_blue.png"
    target.write_bytes(base64.b64decode(images[0]))
    print("saved", target.name)
    print("response id:", response.id, "follows", first.id)
    # END SOLUTION


def step5():
    """Ask for more partial images than a stream may send, and read the error."""
    # BEGIN SOLUTION
    try:
        stream = client.images.generate(
            model="gpt-image-1.5", prompt="paper lanterns over a river at night",
            size="1024x1024", quality="low", stream=True, partial_images=4,
        )
        for event in stream:
            print(event.type)
    except openai.BadRequestError as error:
        print(f"refused ({error.param}):", error.message)
    # END SOLUTION


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5])
