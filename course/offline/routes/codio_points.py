"""Codio's partial points URLs for a guide's code test in the grader's box: the box reaches only this server
(its loopback port is forwarded to its run's channel), so the URLs a test is given point here, and what it sends
is kept by channel until the grader takes it. Outside the API: neither logged nor counted in a run's budget.

    GET|POST /__codio__/partial-points?token=…&points=N         on a run's channel  (CODIO_PARTIAL_POINTS_URL)
    GET|POST /__codio__/partial-points-v2?token=…               on a run's channel  (CODIO_PARTIAL_POINTS_V2_URL)
    GET /__course__/codio-points/<channel>  -> {"sent": [...]}  on the control socket: taken, and forgotten here

What a request means is `course.codio_env.points`'s, the same as the quiz's endpoint. A channel keeps its last
KEPT sends, and the server the sends of its last CHANNELS channels, so nothing a run sends can grow it without end.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from course.codio_env.points import MAX_BODY, PATH, PATH_V2, Sent, read_sent

CONTROL = "/__course__/codio-points/"
KEPT = 16
CHANNELS = 1024


class PointsStore:
    """What each channel's test sent, until the grader takes it."""

    def __init__(self) -> None:
        self.sent: OrderedDict[str, list[Sent]] = OrderedDict()

    def add(self, channel: str, sent: Sent) -> None:
        kept = self.sent.pop(channel, [])
        self.sent[channel] = [*kept[-(KEPT - 1):], sent]
        while len(self.sent) > CHANNELS:
            self.sent.popitem(last=False)

    def take(self, channel: str) -> list[Sent]:
        return self.sent.pop(channel, [])


def is_points(path: str) -> bool:
    return path.rstrip("/") in (PATH, PATH_V2)


async def receive_points(store: PointsStore, channel: str, scope: dict[str, Any],
                         receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]) -> None:
    """A test's score, on its run's channel: kept, and answered 200 (or 400 with why it was not taken)."""
    request = Request(scope, receive)
    body = b""
    if request.method not in ("GET", "HEAD"):
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_BODY:
            sent = Sent("", 0, 0.0, error="the request is larger than Codio's 1 MB limit on feedback")
            await JSONResponse({"error": sent.error}, status_code=413)(scope, receive, send)
            return
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                break
    sent = read_sent(scope["path"], scope.get("query_string", b"").decode("latin-1"), body,
                     request.headers.get("content-type", ""))
    store.add(channel, sent)
    answer = JSONResponse({"error": sent.error}, status_code=400) if sent.error else JSONResponse({"ok": True})
    await answer(scope, receive, send)


async def hand_over(store: PointsStore, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                    send: Callable[..., Awaitable[Any]]) -> None:
    """The grader takes what a channel's test sent (the channel's name ends the path)."""
    channel = scope["path"][len(CONTROL):]
    await JSONResponse({"sent": [s.to_dict() for s in store.take(channel)]})(scope, receive, send)
