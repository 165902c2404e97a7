"""A route's ASGI app: its handler gets the services, the request and the request's log record; what it
returns goes out, a `Response` as it is and a `Streamed` as server-sent events."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .. import streaming
from ..requestlog import Record
from ..rows import row_of
from ..services import Services
from ..streaming import Streamed

Handler = Callable[[Services, Request, Record], Awaitable["Response | Streamed"]]


class Endpoint:
    def __init__(self, handler: Handler, services: Services) -> None:
        self.handler, self.services = handler, services

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[Any]]) -> None:
        request = Request(scope, receive)
        row = row_of(scope)
        answer = await self.handler(self.services, request, row.record)
        if isinstance(answer, Streamed):
            await streaming.send_events(answer, request, send, row, self.services.renderers)
        else:
            await answer(scope, receive, send)
