"""What one step's run may take from the shared offline API, so that no learner slows or fails another.

Each channel (a step's run, see `channels`) has a budget: requests in flight at once, requests in all,
images and pixels drawn, pixels of uploaded pictures decoded, bytes uploaded (counted as they arrive,
so a chunked body without a Content-Length counts too), bytes of request log written. Past one, the
request gets the real API's 429 (`rate_limit_exceeded`), and its log row is kept small. The learner's
own steps need a small part of each (a lesson step makes a few requests for a few small images).
Connections per channel are capped where they are accepted (`channels`), and a render or a decode
stops when its client has gone (`renderers`).

Beside the runs' budgets, two rooms are shared by all runs, so that many runs spending their budgets
together cannot use up the server's memory: large request bodies held at once (`BodyRoom`, here) and
pixels decoded at once (`uploads.DECODING`). A request waits for room rather than fail; a lesson's
small requests never need any. The middleware that keeps them is `budgeting`.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field

from .errors import APIError


@dataclass(frozen=True)
class Limits:
    in_flight: int = 4  # requests being answered at once
    requests: int = 300  # requests in all (image downloads included)
    images: int = 40
    pixels: int = 64 * 1024 * 1024  # 7 images at 3840x2160, or 1000 at 256x256
    # Pixels of uploaded pictures decoded (edits, variations, the Responses tool's input), checked from
    # their headers before a pixel is decoded. A lesson step's edits decode about a million (a 512x512
    # picture and its mask, a few times); this is one 8192x8192 picture, the largest accepted, or 128
    # edits of a 512x512 picture with its mask. A decoded pixel costs up to 4 bytes of the server's memory.
    input_pixels: int = 64 * 1024 * 1024
    upload_bytes: int = 100 * 1024 * 1024
    log_bytes: int = 2 * 1024 * 1024
    connections: int = 32  # open at once (on a TCP channel, those that have shown its secret prefix)


LIMITS = Limits()
LOG_VALUE_CHARS = 2000  # a string longer than this is cut in the log row (a prompt, a form field)
LOG_PARAMS_BYTES = 16 * 1024  # and a row's parameters at most this much, whatever their shape


def over(what: str, limit: str) -> APIError:
    return APIError(429, f"Rate limit exceeded for {what} in this grading run. Limit: {limit}. The course's "
                         "offline API gives each run a budget so that no run slows another.",
                    type="requests", code="rate_limit_exceeded")


@dataclass
class Usage:
    in_flight: int = 0
    requests: int = 0
    images: int = 0
    pixels: int = 0
    input_pixels: int = 0
    upload_bytes: int = 0
    log_bytes: int = 0


@dataclass
class Budgets:
    """The usage of every channel, behind one lock (the app answers on several threads)."""

    limits: Limits = LIMITS
    _usage: dict[str, Usage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, channel: str, body_bytes: int) -> None:
        """A request arrives: count it, or refuse it (429) before any work."""
        with self._lock:
            usage = self._usage.setdefault(channel, Usage())
            if usage.log_bytes > self.limits.log_bytes:
                raise over("request log", f"{self.limits.log_bytes // 1024} KB per run")
            if usage.requests >= self.limits.requests:
                raise over("requests", f"{self.limits.requests} per run")
            if usage.in_flight >= self.limits.in_flight:
                raise over("requests at once", f"{self.limits.in_flight} at once")
            if usage.upload_bytes + body_bytes > self.limits.upload_bytes:
                raise over("uploads", f"{self.limits.upload_bytes // 2**20} MB per run")
            usage.requests += 1
            usage.in_flight += 1
            usage.upload_bytes += body_bytes

    def upload(self, channel: str, more_bytes: int) -> None:
        """Body bytes beyond those declared (a chunked body declares none): counted as they arrive, so
        that reading stops (429) as soon as the run's uploads are spent."""
        with self._lock:
            usage = self._usage.setdefault(channel, Usage())
            if usage.upload_bytes + more_bytes > self.limits.upload_bytes:
                raise over("uploads", f"{self.limits.upload_bytes // 2**20} MB per run")
            usage.upload_bytes += more_bytes

    def decode(self, channel: str, pixels: int) -> None:
        """Uploaded pictures are about to be decoded (their headers say how large): count their pixels,
        or refuse (429) before any is decoded."""
        with self._lock:
            usage = self._usage.setdefault(channel, Usage())
            if usage.input_pixels + pixels > self.limits.input_pixels:
                raise over("decoded input pixels", f"{self.limits.input_pixels // 2**20} million per run")
            usage.input_pixels += pixels

    def done(self, channel: str, log_bytes: int) -> None:
        with self._lock:
            usage = self._usage.setdefault(channel, Usage())
            usage.in_flight = max(0, usage.in_flight - 1)
            usage.log_bytes += log_bytes

    def draw(self, channel: str, images: int, pixels_each: int) -> None:
        """A valid request is about to be drawn: count its images and pixels, or refuse it (429)."""
        with self._lock:
            usage = self._usage.setdefault(channel, Usage())
            if usage.images + images > self.limits.images:
                raise over("images", f"{self.limits.images} per run")
            if usage.pixels + images * pixels_each > self.limits.pixels:
                raise over("pixels", f"{self.limits.pixels // 2**20} million per run")
            usage.images += images
            usage.pixels += images * pixels_each

    def forget(self, channel: str) -> None:
        with self._lock:
            self._usage.pop(channel, None)


CUT_MARK = re.compile(r"…\[\d+ characters\]$")  # what `shortened` appends to a string it cut


def shortened(params: object) -> object:
    """Parameters with long strings cut (a huge prompt, a data URL), at most 100 keys or items a level and 5
    levels deep. Doing it twice changes nothing, so a request may shorten its parameters as soon as it has
    read them (a 40 MB data URL need not wait in memory for the log row)."""

    def cut(value: object, depth: int = 0) -> object:
        if isinstance(value, str):
            if len(value) <= LOG_VALUE_CHARS or (len(value) <= LOG_VALUE_CHARS + 40 and CUT_MARK.search(value)):
                return value
            return value[:LOG_VALUE_CHARS] + f"…[{len(value)} characters]"
        if depth > 4:
            return "…"
        if isinstance(value, dict):
            return {str(k)[:200]: cut(v, depth + 1) for k, v in list(value.items())[:100]}
        if isinstance(value, list):
            return [cut(v, depth + 1) for v in value[:100]]
        return value

    return cut(params)


def bounded(params: object) -> object:
    """Parameters as they go into a log row: long strings cut, the whole at most LOG_PARAMS_BYTES."""
    shorter = shortened(params)
    text = json.dumps(shorter, default=str)
    if len(text) > LOG_PARAMS_BYTES:
        return {"_cut": text[:LOG_PARAMS_BYTES]}
    return shorter


class BodyRoom:
    """Request bodies held in memory at once, across all runs. A body is read whole and then parsed (a
    JSON body takes about four times its size while it is), so a few runs sending 50 MB bodies together
    could use up the server's memory and fail everyone's requests. A body of SMALL_BODY or more takes
    room for its length before it is read, and waits while there is none; a smaller one never waits, so
    a lesson's requests are never held up by someone else's large uploads."""

    SMALL_BODY = 1024 * 1024

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0
        self._changed: asyncio.Condition | None = None  # made on the server's event loop, when first needed

    async def take(self, size: int) -> int:
        """Room for a body of `size` bytes, waited for if there is none; returns what was taken, for `give`."""
        if size < self.SMALL_BODY:
            return 0
        size = min(size, self.capacity)
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.capacity)
            self.used += size
        return size

    async def give(self, taken: int) -> None:
        if not taken:
            return
        assert self._changed is not None
        async with self._changed:
            self.used -= taken
            self._changed.notify_all()


BODIES_AT_ONCE = 128 * 1024 * 1024  # about two and a half bodies of the largest size (50 MB)
