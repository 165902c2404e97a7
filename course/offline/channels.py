"""Channels: a listener of its own for each run the grader makes, so its requests are known to be its own.

A learner may pass any key (`OpenAI(api_key="sk-…")`, a `.env` file, httpx by hand), so a key
cannot tell whose a request is. The grader therefore opens a channel for every step it runs and
points that run, and only that run, at it: a Unix socket bound into the step's box, or (without
root, where there is no box) a loopback port of its own. Every request accepted on a channel is
logged with the channel's name, decided when the connection is accepted, so even a request still
being served after its step ended is put down to the run that made it.

A loopback port is no secret: any process of the same user finds it in /proc/net/tcp. So a TCP
channel also has a secret path prefix (`/c/<32 random URL-safe characters>`), handed only to its step
in its base URL (`http://127.0.0.1:PORT/c/…/v1`). A request without it gets the real 404 and its
connection is closed; it counts for nothing in the run's budget and is not logged. A connection counts
against the channel's connection cap only once its first request line has shown the prefix, and one
that has not sent a whole request head within HEAD_SECONDS is closed, so another step's idle or
wrong connections never crowd out the run's own. A Unix channel is reached only inside its box: it
has no prefix, and its connections count when accepted. A server with channels (one with a control
socket, the grader's) serves no request outside them: its own port answers the same 404.

The grader opens and closes channels over the control socket, which only it can reach (a folder of
its own, never bound into a box):

    POST /__course__/channels  {"name": "...", "kind": "unix" | "tcp"}  -> {"name", "kind", "address", "prefix"}
    DELETE /__course__/channels/<name>                                    -> {"closed": true}

A Unix channel is a socket file in the channel folder; a TCP channel listens on 127.0.0.1 without
SO_REUSEADDR, so its port is never handed to another channel while a connection of its own lives.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Any

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATE_KEY = "course_channel"  # in each request's scope["state"]: the channel it came through
PREFIX_KEY = "course_prefix"  # and, for a TCP channel, the secret prefix its requests' paths start with
CONNECTIONS = 32  # open at once on one channel: a run cannot use up the server's file descriptors
CONTROL_KEY = "course_control"  # set on requests that came through the control socket
HEAD_SECONDS = 5.0  # a TCP channel's connection must send a whole request head within this, or is closed
HEAD_BYTES = 16 * 1024  # the most of a first request head looked at; a longer one is not a client's


def prefix_of(scope: dict[str, Any]) -> str:
    """The secret prefix of the TCP channel a request came through ("" on any other)."""
    return (scope.get("state") or {}).get(PREFIX_KEY) or ""


def new_prefix() -> str:
    """`/c/` and 32 URL-safe characters (192 random bits): not guessable, and fine in any URL."""
    return "/c/" + secrets.token_urlsafe(24)


class ChannelError(Exception):
    """A control request the channels cannot honour (bad name, duplicate, no folder for Unix sockets)."""


class Channels:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._server: Any = None  # the uvicorn.Server whose connections the channels share
        self._open: dict[str, tuple[asyncio.AbstractServer, str, str]] = {}  # name -> (server, kind, address)
        self._served: set[str] = set()  # the open channels that have accepted a connection

    def attach(self, server: Any) -> None:
        """The uvicorn server that serves the app: channels use its protocol, settings and connection set."""
        self._server = server

    def factory(self, state: dict[str, Any], connections: int | None = None, prefix: str = "") -> Any:
        """A protocol factory like uvicorn's own, whose requests carry `state` in scope["state"]. With
        `connections`, at most that many connections are counted open at once, the others closed: counted
        as soon as accepted, or, with `prefix`, once their first request line shows it (see the module)."""
        config = self._server.config
        base = functools.partial(config.http_protocol_class, config=config, server_state=self._server.server_state,
                                 app_state=state)
        if connections is None:
            return base
        counted = [0]
        if prefix:
            return lambda: _Gate(base(), counted, connections, prefix).protocol

        def make() -> Any:
            protocol = base()
            made, lost = protocol.connection_made, protocol.connection_lost

            def connection_made(transport: Any) -> None:
                made(transport)
                counted[0] += 1
                if counted[0] > connections:
                    transport.close()

            def connection_lost(exc: Exception | None) -> None:
                counted[0] -= 1
                lost(exc)

            protocol.connection_made, protocol.connection_lost = connection_made, connection_lost
            return protocol

        return make

    async def open(self, name: str, kind: str) -> dict[str, Any]:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ChannelError("a channel name is 1 to 64 letters, digits, '-' or '_'")
        if name in self._open:
            raise ChannelError(f"channel {name} is already open")
        if self._server is None:
            raise ChannelError("the server is not running yet")
        loop = asyncio.get_running_loop()
        prefix = ""
        if kind == "unix":
            if self.folder is None:
                raise ChannelError("this server has no channel folder (--channel-dir)")
            path = self.folder / f"{name}.sock"
            path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
            os.chmod(path, 0o666)  # reached only where it is bound into a box; the box runs as another user
            address = str(path)
        elif kind == "tcp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))  # no SO_REUSEADDR: the port stays ours while any connection on it lives
            address = f"127.0.0.1:{sock.getsockname()[1]}"
            prefix = new_prefix()  # the port can be found by anyone; the prefix only by the run
        else:
            raise ChannelError(f"a channel is 'unix' or 'tcp', not {kind!r}")
        sock.listen(128)
        sock.setblocking(False)
        state = {STATE_KEY: name, PREFIX_KEY: prefix} if prefix else {STATE_KEY: name}
        make = self.factory(state, CONNECTIONS, prefix)

        def accepted() -> Any:
            self._served.add(name)
            return make()

        listener = await loop.create_server(accepted, sock=sock)
        self._open[name] = (listener, kind, address)
        return {"name": name, "kind": kind, "address": address, "prefix": prefix}

    def served(self, name: str) -> bool:
        """Whether the open channel `name` has accepted a connection (a run that made no request left nothing)."""
        return name in self._served

    def close(self, name: str) -> bool:
        """Stop accepting on a channel; connections it already accepted are served to the end."""
        self._served.discard(name)
        entry = self._open.pop(name, None)
        if entry is None:
            return False
        listener, kind, address = entry
        listener.close()
        if kind == "unix":
            Path(address).unlink(missing_ok=True)
        return True

    def close_all(self) -> None:
        for name in list(self._open):
            self.close(name)

    def __len__(self) -> int:
        return len(self._open)


class _Gate:
    """One connection on a TCP channel, watched until its first request head is complete: counted against
    the channel's cap once its request line shows the prefix (closed if the cap is full), closed if no
    whole head comes within HEAD_SECONDS. Its bytes go on to uvicorn's protocol as they come: a request
    with a wrong prefix is answered (a 404, then closed) by the app, which checks every request's path."""

    def __init__(self, protocol: Any, counted: list[int], cap: int, prefix: str) -> None:
        self.protocol, self.counted, self.cap = protocol, counted, cap
        self.mark = prefix.encode("ascii")
        self.head = b""  # the first request's bytes, until its head is complete
        self.watching, self.admitted = True, False
        self.transport: Any = None
        self.timer: asyncio.TimerHandle | None = None
        made, received, lost = protocol.connection_made, protocol.data_received, protocol.connection_lost

        def connection_made(transport: Any) -> None:
            self.transport = transport
            made(transport)
            self.timer = asyncio.get_running_loop().call_later(HEAD_SECONDS, self._too_slow)

        def data_received(data: bytes) -> None:
            if self.watching and not self._look(data):
                return
            received(data)

        def connection_lost(exc: Exception | None) -> None:
            self._stop_watching()
            if self.admitted:
                self.counted[0] -= 1
            lost(exc)

        protocol.connection_made, protocol.data_received, protocol.connection_lost = (
            connection_made, data_received, connection_lost)

    def _look(self, data: bytes) -> bool:
        """Read the first request's head as it comes; False when the connection was closed instead."""
        before = len(self.head)
        self.head += data[:HEAD_BYTES]
        line_end = self.head.find(b"\r\n")
        if line_end != -1 and self.head.find(b"\r\n", 0, before) == -1 and self._shows_prefix(self.head[:line_end]):
            if self.counted[0] >= self.cap:  # the run's own connections are all open: this one is one too many
                self._close()
                return False
            self.counted[0] += 1
            self.admitted = True
        if b"\r\n\r\n" in self.head:
            self._stop_watching()
        elif len(self.head) >= HEAD_BYTES:
            self._close()
            return False
        return True

    def _shows_prefix(self, line: bytes) -> bool:
        parts = line.split(b" ")
        if len(parts) != 3:
            return False
        target = parts[1]
        if b"://" in target:  # an absolute URL: its path
            target = b"/" + target.split(b"://", 1)[1].partition(b"/")[2]
        path = target.partition(b"?")[0]
        return path == self.mark or path.startswith(self.mark + b"/")

    def _too_slow(self) -> None:
        self.timer = None
        if self.watching:
            self._close()

    def _stop_watching(self) -> None:
        self.watching = False
        self.head = b""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _close(self) -> None:
        self._stop_watching()
        if self.transport is not None:
            self.transport.close()
