"""Channels: a listener of its own for each run the grader makes, so its requests are known to be its own.

A learner may pass any key (`OpenAI(api_key="sk-…")`, a `.env` file, httpx by hand), so a key
cannot tell whose a request is. The grader therefore opens a channel for every step it runs and
points that run, and only that run, at it: a Unix socket bound into the step's box, or (without
root, where there is no box) a loopback port of its own. Every request accepted on a channel is
logged with the channel's name, decided when the connection is accepted, so even a request still
being served after its step ended is put down to the run that made it.

The grader opens and closes channels over the control socket, which only it can reach (a folder of
its own, never bound into a box):

    POST /__course__/channels  {"name": "...", "kind": "unix" | "tcp"}  -> {"name", "kind", "address"}
    DELETE /__course__/channels/<name>                                    -> {"closed": true}

A Unix channel is a socket file in the channel folder; a TCP channel listens on 127.0.0.1 without
SO_REUSEADDR, so its port is never handed to another channel while a connection of its own lives.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
from pathlib import Path
from typing import Any

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATE_KEY = "course_channel"  # in each request's scope["state"]: the channel it came through
CONNECTIONS = 32  # open at once on one channel: a run cannot use up the server's file descriptors
CONTROL_KEY = "course_control"  # set on requests that came through the control socket


class ChannelError(Exception):
    """A control request the channels cannot honour (bad name, duplicate, no folder for Unix sockets)."""


class Channels:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._server: Any = None  # the uvicorn.Server whose connections the channels share
        self._open: dict[str, tuple[asyncio.AbstractServer, str, str]] = {}  # name -> (server, kind, address)

    def attach(self, server: Any) -> None:
        """The uvicorn server that serves the app: channels use its protocol, settings and connection set."""
        self._server = server

    def factory(self, state: dict[str, Any], connections: int | None = None) -> Any:
        """A protocol factory like uvicorn's own, whose requests carry `state` in scope["state"]; with
        `connections`, a connection past that many open at once is closed as soon as it is accepted."""
        config = self._server.config
        base = functools.partial(config.http_protocol_class, config=config, server_state=self._server.server_state,
                                 app_state=state)
        if connections is None:
            return base
        open_now = [0]

        def make() -> Any:
            protocol = base()
            made, lost = protocol.connection_made, protocol.connection_lost

            def connection_made(transport: Any) -> None:
                made(transport)
                open_now[0] += 1
                if open_now[0] > connections:
                    transport.close()

            def connection_lost(exc: Exception | None) -> None:
                open_now[0] -= 1
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
        else:
            raise ChannelError(f"a channel is 'unix' or 'tcp', not {kind!r}")
        sock.listen(128)
        sock.setblocking(False)
        listener = await loop.create_server(self.factory({STATE_KEY: name}, CONNECTIONS), sock=sock)
        self._open[name] = (listener, kind, address)
        return {"name": name, "kind": kind, "address": address}

    def close(self, name: str) -> bool:
        """Stop accepting on a channel; connections it already accepted are served to the end."""
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
