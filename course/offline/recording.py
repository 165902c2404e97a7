"""The request log as middleware: every request the API answers or refuses gets one row, written before
its answer goes out, and every refusal the real API's error envelope.

Around the routes (`routes`) and the runs' budgets (`budgeting`), it times each request, gives it a
`req_…` id and a `Row` (`rows`), reads its body no further than `max_body` (the API's 413 past it),
turns an `APIError` raised anywhere below into the real envelope (a server out of memory, or any
other error, into the API's own answer for it, so that a bug never becomes a dropped connection), and
stamps the API's headers on the answer as its row is written. A client that goes away before its
answer gets a row that says so (499) and no answer. A stream writes its row itself (`streaming`).
"""

from __future__ import annotations

import sys
import time
import traceback
import uuid
from typing import Any, Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from . import errors, headers
from .channels import STATE_KEY
from .errors import APIError
from .policy import key_from_headers, organization
from .renderers import ClientGone
from .requestlog import Record, RequestLog
from .rows import ROW_KEY, Row

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]
GONE = "The client went away before its request had arrived."


class RecordRequests:
    def __init__(self, app: ASGIApp, log: RequestLog, clock: Callable[[], float], max_body: int) -> None:
        self.app, self.log, self.clock, self.max_body = app, log, clock, max_body

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[Any]]) -> None:
        started = time.perf_counter()
        record = Record(time=self.clock(), method=scope["method"], route=scope["path"], status=0,
                        request_id="req_" + uuid.uuid4().hex, channel=(scope.get("state") or {}).get(STATE_KEY))
        row = scope[ROW_KEY] = Row(record, self.log, started)
        body = Body(receive, self.max_body, declared_length(scope), body_size(scope, self.max_body))
        answer = Answer(scope, send, row, body)
        refusal = None
        try:
            await self.app(scope, body.receive, answer.send)
        except Exception as exc:
            if answer.started:  # too late for another answer: the error goes on up, to the server
                row.finish(row.size)
                raise
            if isinstance(exc, (ClientGone, ClientDisconnect)):  # nobody to answer: the row says why
                record.status, record.error_code = 499, "client_gone"
                record.error_message = str(exc) or GONE
                row.write()
                row.finish(0)
                return
            # Made here, sent below: the error's traceback (and the request's uploads in its frames) goes first.
            refusal = answer.envelope(as_api_error(exc))
        if refusal is not None:
            await refusal(scope, receive, answer.send)
        row.finish(row.size)


def as_api_error(exc: Exception) -> APIError:
    """The real API's answer to an error: an `APIError` as it is; the server's memory limit (this request
    fails, the server and the others go on) and any other error (never a dropped connection) as its own."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, MemoryError):
        return errors.out_of_memory()
    traceback.print_exc(file=sys.stderr)
    return errors.server_error()


class Answer:
    """The request's way out: an answer sent whole gets the API's headers, and its row is written just
    before it starts (a stream writes its own row)."""

    def __init__(self, scope: dict[str, Any], send: Callable[..., Awaitable[Any]], row: Row, body: Body) -> None:
        self.scope, self._send, self.row, self.body = scope, send, row, body
        self.started = False

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not self.started:
            self.started = True
            if not self.row.streams:
                message = {**message, "headers": self.sealed(message)}
        await self._send(message)

    def sealed(self, start: dict[str, Any]) -> headers.Headers:
        """The answer's headers once its row is written."""
        out = list(start.get("headers", []))
        if self.body.unread():  # refused before its body was read (too large, past the run's uploads): stop reading it
            headers.put(out, "connection", "close")
        elapsed = self.row.elapsed_ms()
        if not self.scope["path"].startswith("/private/"):
            headers.stamp(out, self.row.record.request_id or "", elapsed, self.organization())
        self.row.record.status = start["status"]
        self.row.record.duration_ms = round(elapsed, 3)
        self.row.write()
        return out

    def organization(self) -> str | None:
        """The organisation of the request's key, for `openai-organization`; None when no key was sent."""
        record = self.row.record
        key = record.key or key_from_headers(dict(self.scope.get("headers") or []).get(b"authorization", b"")
                                             .decode("latin-1"))
        return organization(record.learner, key) if key else None

    def envelope(self, exc: APIError) -> JSONResponse:
        """The real API's error envelope, the row told what it says."""
        record = self.row.record
        record.error_code = exc.code or exc.type
        record.error_message = exc.message
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class Body:
    """A request's body as it arrives: past `max_body` the API's 413; whether it was read to its end."""

    def __init__(self, receive: Callable[..., Awaitable[Any]], max_body: int, declared: int, size: int) -> None:
        self._receive, self.max_body, self.declared, self.size = receive, max_body, declared, size
        self.seen, self.complete = 0, False

    async def receive(self) -> Any:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.seen > self.max_body:
                raise errors.body_too_large(self.max_body)
        return message

    def unread(self) -> bool:
        """Whether the request has a body that was not read to its end."""
        return not self.complete and self.size > 0


def declared_length(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0


def body_size(scope: dict[str, Any], max_body: int) -> int:
    """The most a request's body may hold: its declared length, or (chunked, none declared) the largest body."""
    chunked = b"chunked" in dict(scope.get("headers", [])).get(b"transfer-encoding", b"").lower()
    return max_body if chunked else declared_length(scope)
