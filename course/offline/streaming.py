"""Server-sent events: a streamed answer, its partial pictures, and sending it.

A route that streams returns a `Streamed`: a generator function that `send_events` runs on a
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
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

import anyio
from PIL import Image
from starlette.requests import Request

from . import errors
from .errors import APIError
from .headers import OPENAI_VERSION
from .policy import organization
from .renderers import RenderThreads, until_gone
from .rows import Row

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


async def send_events(streamed: Streamed, request: Request, send: Callable[..., Awaitable[Any]], row: Row,
                      renderers: RenderThreads) -> None:
    """Send a stream of server-sent events, drawn one at a time on a render thread. The row is written
    before the last event goes out (or when the client leaves, as a 499 with what was sent)."""
    row.streams = True
    record = row.record
    cancel = threading.Event()
    events = streamed.events(cancel)
    stats = StreamStats()
    partial = int(record.params.get("partial_images") or 0) if isinstance(record.params, dict) else 0
    gone = asyncio.ensure_future(until_gone(request))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": stream_headers(streamed, row)})
        await send_each(events, renderers, gone, send, row, stats, partial)
    except (Gone, OSError):
        cancel.set()
        record.status, record.error_code = 499, "client_gone"
        record.duration_ms = round(row.elapsed_ms(), 3)
        record.stream = stats.as_dict(partial)
        row.write()
    except Exception:
        traceback.print_exc(file=sys.stderr)
        record.status, record.error_code = 500, "server_error"
        record.stream = stats.as_dict(partial)
        row.write()
        error = {"type": "error", **errors.server_error().body()["error"]}
        try:
            await send({"type": "http.response.body", "body": encode_event("error", error), "more_body": False})
        except Exception:
            pass
    finally:
        gone.cancel()
        await anyio.to_thread.run_sync(events.close)


def stream_headers(streamed: Streamed, row: Row) -> list[tuple[bytes, bytes]]:
    record = row.record
    org = [(b"openai-organization", organization(record.learner, record.key).encode())] if record.key else []
    headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"), *org,
               (b"openai-version", OPENAI_VERSION.encode()), (b"x-request-id", (row.record.request_id or "").encode()),
               (b"openai-processing-ms", str(int(row.elapsed_ms())).encode())]
    return headers + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in streamed.headers.items()]


async def send_each(events: Iterator[tuple[str, dict[str, Any]]], renderers: RenderThreads, gone: asyncio.Future[None],
                    send: Callable[..., Awaitable[Any]], row: Row, stats: StreamStats, partial: int) -> None:
    """Every event as soon as it is drawn, the next one drawn meanwhile; a refusal found mid-stream goes out
    as the stream's error event. Raises `Gone` when the client leaves."""
    record = row.record
    errored = False  # an error event went out (a refused picture inside a completed stream is no such error)
    pending = await next_event(events, renderers.run, gone)
    while pending is not None:
        try:
            following = await next_event(events, renderers.run, gone)
        except APIError as exc:
            following, errored = None, True
            pending = ("error", {"type": "error", **exc.body()["error"]})
            record.error_code, record.error_message = exc.code or exc.type, exc.message
        chunk = encode_event(*pending)
        stats.events += 1
        stats.bytes += len(chunk)
        if following is None:  # the last event: the row first, so the log never lags the answer
            stats.completed = not errored
            record.status = 200
            record.duration_ms = round(row.elapsed_ms(), 3)
            record.stream = stats.as_dict(partial)
            row.write()
            await send({"type": "http.response.body", "body": chunk, "more_body": False})
            return
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if gone.done():
            raise Gone()
        pending = following
    record.status = 200
    record.stream = stats.as_dict(partial)
    row.write()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
