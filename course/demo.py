"""`course demo`: the offline API end to end, through the real SDK, as a learner's script would use it."""

from __future__ import annotations

import urllib.request
from pathlib import Path

PROMPT = "a red fox reading a blue book under a yellow lamp"


def run_demo(out: Path) -> int:
    from .connect import connect

    connection = connect()
    from openai import OpenAI

    client = OpenAI()
    response = client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="256x256")
    url = response.data[0].url
    assert url is not None
    print(f"Asked {connection.base_url} for: {PROMPT!r}")
    print(f"Image URL (valid for one hour): {url}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "demo.png"
    with urllib.request.urlopen(url, timeout=30) as reply:
        target.write_bytes(reply.read())
    print(f"Saved the image to {target}")
    return 0
