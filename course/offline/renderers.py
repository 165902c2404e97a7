"""The render threads: Pillow work off the event loop, on a few threads only (more would just queue on
the GIL), stopped between two pictures when the client that asked goes away."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, Callable

import anyio
from starlette.requests import Request

from . import uploads


class ClientGone(Exception):
    """The client went away before its images were drawn: the drawing stopped."""


class RenderThreads:
    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._limiter: anyio.CapacityLimiter | None = None  # made on the server's event loop, when first needed

    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on a render thread; its result, or its error raised here."""
        return (await anyio.to_thread.run_sync(returning, fn, *args, limiter=self.limiter())).take()

    async def run_for(self, request: Request, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args, cancel=event)` on a render thread for `request` (whose body has been read): a client
        that goes away sets `cancel`, which stops the work between two pictures, and ClientGone is raised."""
        cancel = threading.Event()
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(returning, fn, *args, cancel=cancel),
                                                              limiter=self.limiter()))
        gone = asyncio.ensure_future(until_gone(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            left = not work.done()
            if left:
                cancel.set()
            gone.cancel()
        outcome = await work  # soon, when it was left: the work stops at its next look at `cancel`
        if left:
            stopped = outcome.take_error()
            raise ClientGone(str(stopped) if isinstance(stopped, uploads.Stopped) else "")
        return outcome.take()


class Outcome:
    """What a call on a worker thread came to, its result or its error, taken out once. An error raised on
    the thread would be kept by the thread pool's own frame, in a cycle that holds the request's uploads
    and pictures until the garbage collector happens to run; carried out in this box and raised again on
    the event loop, it goes with the request."""

    __slots__ = ("result", "error")

    def __init__(self, result: Any, error: Exception | None) -> None:
        self.result, self.error = result, error

    def take_error(self) -> Exception | None:
        error, self.result, self.error = self.error, None, None
        return error

    def take(self) -> Any:
        result, error = self.result, self.take_error()
        if error is None:
            return result
        try:
            raise error
        finally:
            error = None  # the raised error refers to this frame: the frame must not refer to the error


def returning(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    try:
        return Outcome(fn(*args, **kwargs), None)
    except Exception as exc:  # noqa: BLE001 - raised again on the event loop by Outcome.take
        return Outcome(None, exc)


async def until_gone(request: Request) -> None:
    """Returns once the client has gone (its body already read, the next message can only say so)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return
