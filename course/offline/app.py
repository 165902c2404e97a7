"""The ASGI application: the doors a request may come through, and the offline API behind them.

`OfflineAPI` is built from the shared `Services` and starlette's `Router` (`routes`), inside two
pieces of middleware: the request log (`recording`: a row per request, written before the answer
goes out, and the real API's error envelope) around the runs' budgets (`budgeting`). Before them,
the doors: a request on the grader's control socket goes to its own routes (`routes.control`); one on
a TCP channel must show the channel's secret prefix, which is taken off its path (`channels`); the
health check answers anyone; and a grader's server serves the API through channels only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from . import errors, routes
from .budgeting import KeepBudgets
from .channels import CONTROL_KEY, PREFIX_KEY, STATE_KEY
from .config import ServerConfig
from .headers import OPENAI_VERSION
from .recording import RecordRequests
from .routes import codio_points, control
from .services import create_services


class OfflineAPI:
    """The offline Images API as an ASGI app. `clock` is replaceable so tests can move time. The server
    sets `control_socket` (the grader's, see `channels`) and `on_idle` (called after `idle_timeout`)
    before it starts."""

    def __init__(self, config: ServerConfig | None = None, *, clock: Callable[[], float] = time.time,
                 server_pid: int | None = None, activity: Any = None) -> None:
        self.config = config or ServerConfig()
        self.services = create_services(self.config, clock=clock, server_pid=server_pid, activity=activity)
        self.control_socket: Any = None
        self.on_idle: Callable[[], None] | None = None
        self.router = routes.api(self.services, lifespan=self.running)
        s = self.services
        self.api = RecordRequests(KeepBudgets(self.router, s.budgets, s.bodies, self.config.max_body), s.log, s.clock,
                                  self.config.max_body)
        self.control = control.router(self.services)
        self.codio_points = codio_points.PointsStore()  # a guide's code tests' partial points (`routes.codio_points`)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[Any]]) -> None:
        if scope["type"] == "lifespan":
            await self.router(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        self.services.activity.value = time.monotonic()
        state = scope.get("state") or {}
        if state.get(CONTROL_KEY):
            if scope["path"].startswith(codio_points.CONTROL):
                await codio_points.hand_over(self.codio_points, scope, receive, send)
                return
            await self.control(scope, receive, send)
            return
        prefix = state.get(PREFIX_KEY)
        if prefix:  # a TCP channel: only a request that knows its secret prefix is the run's
            inside = without_prefix(scope, prefix)
            if inside is None:
                await outside_channel(scope, receive, send)
                return
            scope = inside
        if scope["path"] == control.HEALTH:
            await control.health(self.services)(scope, receive, send)
            return
        if self.control_socket is not None and state.get(STATE_KEY) is None:
            # The grader's server serves runs through their channels only: a request on its own port, which
            # any process can find, would be answered outside every run's budget.
            await outside_channel(scope, receive, send)
            return
        if state.get(STATE_KEY) is not None and codio_points.is_points(scope["path"]):
            await codio_points.receive_points(self.codio_points, state[STATE_KEY], scope, receive, send)
            return
        await self.api(scope, receive, send)

    @asynccontextmanager
    async def running(self, _app: Any) -> AsyncIterator[None]:
        """From startup to shutdown: what expired while the server was down is swept, then housekeeping
        runs, and the control socket (when given) opens the grader's channels."""
        self.services.sweep()
        housekeeping = asyncio.create_task(self.housekeeping())
        listener = None
        if self.control_socket is not None:
            self.control_socket.setblocking(False)
            listener = await asyncio.get_running_loop().create_server(
                self.services.channels.factory({CONTROL_KEY: True}), sock=self.control_socket)
        try:
            yield
        finally:
            housekeeping.cancel()
            if listener is not None:
                listener.close()
            self.services.channels.close_all()

    async def housekeeping(self) -> None:
        """Sweep expired pictures and responses now and then; past `idle_timeout` without a request, stop."""
        idle = self.config.idle_timeout
        interval = self.config.sweep_interval if idle is None else min(self.config.sweep_interval, max(0.05, idle / 4))
        while True:
            await asyncio.sleep(interval)
            await run_in_threadpool(self.services.sweep)
            if idle is not None and time.monotonic() - self.services.activity.value > idle and self.on_idle:
                self.on_idle()


def without_prefix(scope: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The request as if its channel's prefix were not there; None when its path does not start with it."""
    raw = scope.get("raw_path") or scope["path"].encode("latin-1", "replace")
    mark = prefix.encode("ascii")
    if not (raw == mark or raw.startswith(mark + b"/")):
        return None
    path = scope["path"][len(prefix):] or "/"
    return {**scope, "path": path, "raw_path": raw[len(mark):] or b"/"}


async def outside_channel(scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                          send: Callable[..., Awaitable[Any]]) -> None:
    """A request on a TCP channel without the channel's prefix, or on a grading server's own port: whoever
    sent it found a port, not a run's channel. The real API's 404, nothing counted or logged, and the
    connection closed."""
    error = errors.invalid_url(scope["method"], scope["path"])
    await JSONResponse(error.body(), status_code=error.status,
                       headers={"openai-version": OPENAI_VERSION, "x-request-id": "req_" + uuid.uuid4().hex,
                                "connection": "close"})(scope, receive, send)
