"""Server-sent events: a streamed answer, its partial pictures, and sending it.

A route that streams returns a `Streamed`: a generator function the app runs on a
render thread, one event at a time, so that a client that goes away stops the
work between two events. Each event goes out as the API writes it,

    event: image_generation.partial_image
    data: {"type": "image_generation.partial_image", ...}

and the request's log row is written before the last event leaves, so that
whoever reads the log after the client has its answer finds the row there.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from PIL import Image

# The coarsest stage first: the picture drawn at 1/32 of its size and blown up, then finer.
STAGE_FACTORS = {1: (8,), 2: (16, 6), 3: (32, 12, 5)}


@dataclass
class Streamed:
    """What a streaming route returns: `events(cancel)` yields `(event type, payload)` pairs; `cancel`
    is set when the client has gone, and the generator is closed."""

    events: Callable[[threading.Event], Iterator[tuple[str, dict[str, Any]]]]
    headers: dict[str, str] = field(default_factory=dict)


def encode_event(kind: str, payload: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode("utf-8")


def stages(picture: Image.Image, count: int) -> list[Image.Image]:
    """`count` (0-3) partial pictures of `picture`, coarsest first: each the final picture shrunk by a
    factor and blown up again in blocks, so every stage is the same picture seen less sharply."""
    if count <= 0:
        return []
    w, h = picture.size
    out = []
    for factor in STAGE_FACTORS[min(count, 3)]:
        small = picture.resize((max(1, w // factor), max(1, h // factor)), Image.Resampling.BOX)
        out.append(small.resize((w, h), Image.Resampling.NEAREST))
    return out


class StreamStats:
    """What the log row says of a stream: events and bytes sent, whether it finished."""

    def __init__(self) -> None:
        self.events = 0
        self.bytes = 0
        self.completed = False

    def as_dict(self, partial_images: int) -> dict[str, Any]:
        return {"events": self.events, "partial_images": partial_images, "bytes": self.bytes,
                "completed": self.completed}


async def next_event(iterator: Iterator[tuple[str, dict[str, Any]]], run: Callable[..., Any],
                     gone: asyncio.Future[None]) -> tuple[str, dict[str, Any]] | None:
    """The next event, drawn on a render thread; None at the end. Raises `Gone` if the client
    leaves first (the event being drawn is finished, then dropped)."""
    work = asyncio.ensure_future(run(_next_or_none, iterator))
    await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    if not work.done():
        await asyncio.gather(work, return_exceptions=True)
        raise Gone()
    return work.result()


def _next_or_none(iterator: Iterator[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]] | None:
    return next(iterator, None)


class Gone(Exception):
    """The client went away in the middle of a stream."""
