"""What one step's run may take from the shared offline API, so that no learner slows or fails another.

Each channel (a step's run, see `channels`) has a budget: requests in flight at once, requests in all,
images and pixels drawn, bytes uploaded, bytes of request log written. Past one, the request gets
the real API's 429 (`rate_limit_exceeded`), and its log row is kept small. The learner's own
steps need a small part of each (a lesson step makes a few requests for a few small images).
Connections per channel are capped where they are accepted (`channels`), and a render stops when its
client has gone (`app`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .errors import APIError


@dataclass(frozen=True)
class Limits:
    in_flight: int = 4  # requests being answered at once
    requests: int = 300  # requests in all (image downloads included)
    images: int = 40
    pixels: int = 64 * 1024 * 1024  # 7 images at 3840x2160, or 1000 at 256x256
    upload_bytes: int = 100 * 1024 * 1024
    log_bytes: int = 2 * 1024 * 1024
    connections: int = 32  # open at once


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


def bounded(params: object) -> object:
    """Parameters as they go into a log row: long strings cut, the whole at most LOG_PARAMS_BYTES."""
    import json

    def cut(value: object, depth: int = 0) -> object:
        if isinstance(value, str):
            return value if len(value) <= LOG_VALUE_CHARS else value[:LOG_VALUE_CHARS] + f"…[{len(value)} characters]"
        if depth > 4:
            return "…"
        if isinstance(value, dict):
            return {str(k)[:200]: cut(v, depth + 1) for k, v in list(value.items())[:100]}
        if isinstance(value, list):
            return [cut(v, depth + 1) for v in value[:100]]
        return value

    shorter = cut(params)
    text = json.dumps(shorter, default=str)
    if len(text) > LOG_PARAMS_BYTES:
        return {"_cut": text[:LOG_PARAMS_BYTES]}
    return shorter
