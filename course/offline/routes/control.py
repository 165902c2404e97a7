"""The server's own routes, outside the API: its health, and the grader's channels on the control socket
(see `channels`). Neither is logged nor counted."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from .. import memory
from ..channels import ChannelError
from ..services import Services

HEALTH = "/__course__/health"
ControlHandler = Callable[[Services, Request], Awaitable[Response]]


def health(services: Services) -> Response:
    """What any client may ask: whether the server answers, and its pid (the parent's, with workers)."""
    return JSONResponse({"ok": True, "pid": services.server_pid})


def router(services: Services) -> Router:
    """The control socket's routes; any other request there is a 404 that names it."""
    def at(path: str, handler: ControlHandler, methods: list[str] | None = None) -> Route:
        return Route(path, ControlEndpoint(handler, services), methods=methods)

    anything = ControlEndpoint(no_route, services)
    return Router([at("/__course__/channels", open_channel, ["POST"]),
                   at("/__course__/channels/{name:path}", close_channel, ["DELETE"]),
                   at(HEALTH, server_health),
                   Route("/{path:path}", anything)], redirect_slashes=False, default=anything)


async def open_channel(services: Services, request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ChannelError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ChannelError("the body is not a JSON object")
    return JSONResponse(await services.channels.open(body.get("name"), body.get("kind", "unix")))


async def close_channel(services: Services, request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[-1]
    served = services.channels.served(name)
    closed = services.channels.close(name)
    if served:  # a run that made no request (most of a guide's code tests) uploaded nothing and used nothing
        await run_in_threadpool(services.files.delete_channel, name)  # a run's files end with it
        await run_in_threadpool(memory.give_back)  # and what its requests used is not kept for the next
    return JSONResponse({"closed": closed})


async def server_health(services: Services, request: Request) -> Response:
    return JSONResponse({"ok": True, "pid": services.server_pid, "channels": len(services.channels)})


async def no_route(services: Services, request: Request) -> Response:
    return JSONResponse({"error": f"no control route {request.method} {request.url.path}"}, status_code=404)


class ControlEndpoint:
    """A control route's ASGI app: what the channels cannot honour is a 400 (or a 500 when the system
    refuses a socket), with the reason for the grader's log."""

    def __init__(self, handler: ControlHandler, services: Services) -> None:
        self.handler, self.services = handler, services

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[Any]]) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handler(self.services, request)
        except ChannelError as exc:
            response = JSONResponse({"error": str(exc)}, status_code=400)
        except OSError as exc:
            response = JSONResponse({"error": f"cannot open the channel: {exc}"}, status_code=500)
        await response(scope, receive, send)
