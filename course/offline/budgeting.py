"""The runs' budgets as middleware (see `budget` for what they are): a grading run's request is counted,
or refused with the API's 429 before any work, and charged its log row once it is over; the bytes of its
body beyond those declared are counted as they arrive. Every request with a large body, a run's or not,
first waits for room among the bodies held at once, and gives the memory back once it is over.

It sits inside the request log (`recording`), so that a refusal here is logged like any other.
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from . import memory
from .budget import BodyRoom, Budgets
from .recording import ASGIApp, body_size, declared_length
from .rows import row_of


class KeepBudgets:
    def __init__(self, app: ASGIApp, budgets: Budgets, bodies: BodyRoom, max_body: int) -> None:
        self.app, self.budgets, self.bodies, self.max_body = app, budgets, bodies, max_body

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[Any]]) -> None:
        row = row_of(scope)
        channel = row.record.channel
        declared, size = declared_length(scope), body_size(scope, self.max_body)
        if size >= BodyRoom.SMALL_BODY:  # a large body, read and parsed: its memory goes back too, once all is over
            row.when_finished(give_back_soon)
        if channel is not None:  # a grading run's request: within its budget, or a 429 before any work
            self.budgets.start(channel, declared)
            row.when_finished(functools.partial(self.budgets.done, channel))
            receive = Uploads(receive, self.budgets, channel, declared).receive
        room = Room(self.bodies, await self.bodies.take(size))
        try:
            await self.app(scope, receive, room.giving_back(send))
        finally:
            await room.give()


def give_back_soon(_charged: int) -> None:
    memory.give_back_soon()


class Room:
    """The room a request's body took among the bodies held at once: given back when its answer starts
    (the body has been read and parsed by then), or when the request fails before any answer."""

    def __init__(self, bodies: BodyRoom, taken: int) -> None:
        self.bodies, self.taken = bodies, taken

    async def give(self) -> None:
        taken, self.taken = self.taken, 0
        await self.bodies.give(taken)

    def giving_back(self, send: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await self.give()
            await send(message)

        return sending


class Uploads:
    """A run's request body as it arrives: bytes beyond those declared (a chunked body declares none) count
    against the run's uploads, so that reading stops with a 429 as soon as its budget is spent, not after
    the whole body."""

    def __init__(self, receive: Callable[..., Awaitable[Any]], budgets: Budgets, channel: str, declared: int) -> None:
        self._receive, self.budgets, self.channel, self.declared = receive, budgets, channel, declared
        self.seen = 0

    async def receive(self) -> Any:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = len(message.get("body", b""))
            self.seen += chunk
            beyond = min(chunk, self.seen - self.declared)
            if beyond > 0:
                self.budgets.upload(self.channel, beyond)
        return message
