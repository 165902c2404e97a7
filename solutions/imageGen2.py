"""Lesson 2: beyond the basics (DALL-E 3, base64, edits, variations, safety, GPT image models).

Run one step at a time:  python imageGen2.py 1   (python imageGen2.py lists the steps)
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
    """DALL-E 3: hd quality, natural style, revised prompt."""
    # BEGIN SOLUTION
    response = client.images.generate(
        model="dall-e-3", prompt="a white siamese cat asleep on a stack of books",
        size="1024x1024", quality="hd", style="natural", n=1,
    )
    print("revised prompt:", response.data[0].revised_prompt)
    print(response.data[0].url)
    # END SOLUTION


def step2():
    """Ask for base64 and save the picture as a PNG."""
    # BEGIN SOLUTION
    response = client.images.generate(
        model="dall-e-2", prompt="a paper boat on a blue pond", size="256x256", response_format="b64_json",
    )
    picture = base64.b64decode(response.data[0].b64_json)
    target = HERE / "paper_boat.png"
    target.write_bytes(picture)
    print(f"saved {target.name} ({len(picture)} bytes)")
    # END SOLUTION


def step3():
    """Break an edit rule on purpose: a JPEG."""
    # BEGIN SOLUTION
    try:
        client.images.edit(
            model="dall-e-2", image=open(ASSETS / "lounge.jpg", "rb"), mask=open(ASSETS / "mask.png", "rb"),
            prompt="a sunlit lounge with a pool and a pink flamingo", n=1, size="512x512",
        )
    except openai.BadRequestError as error:
        print("The API refused the edit:", error.message)
    # END SOLUTION


def step4():
    """Edit a square PNG through a mask."""
    # BEGIN SOLUTION
    response = client.images.edit(
        model="dall-e-2", image=open(ASSETS / "lounge.png", "rb"), mask=open(ASSETS / "mask.png", "rb"),
        prompt="a sunlit lounge with a pool and a pink flamingo", n=1, size="512x512",
    )
    print(response.data[0].url)
    # END SOLUTION


def step5():
    """Make two variations of a picture."""
    # BEGIN SOLUTION
    response = client.images.create_variation(
        model="dall-e-2", image=open(ASSETS / "lounge.png", "rb"), n=2, size="256x256",
    )
    for item in response.data:
        print(item.url)
    # END SOLUTION


def step6():
    """Catch a content-policy refusal."""
    # BEGIN SOLUTION
    try:
        client.images.generate(model="dall-e-2", prompt="a zombie movie poster dripping with gore", size="256x256")
    except openai.BadRequestError as error:
        print("refused:", error.code)
    # END SOLUTION


def step7():
    """A current GPT image model: base64, webp, its own sizes."""
    # BEGIN SOLUTION
    response = client.images.generate(
        model="gpt-image-2", prompt="a lighthouse on a cliff at dawn, wide landscape",
        size="1536x1024", output_format="webp", quality="low",
    )
    picture = base64.b64decode(response.data[0].b64_json)
    target = HERE / "lighthouse.webp"
    target.write_bytes(picture)
    print(f"saved {target.name}: {response.size}, {response.usage.total_tokens} tokens")
    # END SOLUTION


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4, step5, step6, step7])
