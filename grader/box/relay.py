"""A step's loopback, relayed to its channel of the offline API: in the full box a step reaches the API at
127.0.0.1:PORT of its own network namespace (loopback only), and the box forwards each connection to the channel's
Unix socket, at most FORWARDED_AT_ONCE at a time. `forward` is a thread per connection (a step's own namespaces);
`Relay` does the same in one thread, for the slot's namespace host."""

from __future__ import annotations

import fcntl
import socket
import struct
import threading
from typing import Any

SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))



def listen_on_loopback(port: int) -> socket.socket:
    """The step's side of the relay: a listening socket on 127.0.0.1:`port` of this network namespace."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    return listener


def pipe(a: socket.socket, b: socket.socket, done: threading.Barrier | None = None) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if done is not None:
            try:
                done.wait(timeout=60)  # both directions over: the connection's slot is free again
            except threading.BrokenBarrierError:
                pass
            a.close()


FORWARDED_AT_ONCE = 16  # connections a step may hold open to the API: more are closed at once


def forward(listener: socket.socket, uds: str) -> None:
    """The step's loopback port, forwarded to its channel; a step holds at most FORWARDED_AT_ONCE connections."""
    slots = threading.BoundedSemaphore(FORWARDED_AT_ONCE)
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        if not slots.acquire(blocking=False):
            client.close()
            continue
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(uds)
        except OSError:
            client.close()
            slots.release()
            continue
        done = threading.Barrier(2, action=slots.release)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b, done), daemon=True).start()


class Relay:
    """The step's loopback port forwarded to its channel, in the one thread of the namespace's init (a thread
    more would be a process id the step can see): at most FORWARDED_AT_ONCE connections, each relayed both
    ways with its half-closes, a bounded buffer per direction."""

    BUFFER = 1 << 20  # bytes held for a peer that does not read, before the other side is no longer read

    def __init__(self, selector: Any, listener: socket.socket, uds: str) -> None:
        self.selector, self.listener, self.uds = selector, listener, uds
        self.peer: dict[socket.socket, socket.socket] = {}
        self.out: dict[socket.socket, bytearray] = {}  # what is still to be written to a socket
        self.read_done: set[socket.socket] = set()  # sockets whose other end has stopped sending
        listener.setblocking(False)
        selector.register(listener, 1, self)  # selectors.EVENT_READ

    def handle(self, sock: socket.socket, mask: int) -> None:
        if sock is self.listener:
            self._accept()
            return
        if sock not in self.peer:
            return
        try:
            if mask & 2 and self.out[sock]:  # EVENT_WRITE
                self._flush(sock)
            if mask & 1 and sock not in self.read_done:
                data = sock.recv(65536)
                other = self.peer[sock]
                if data:
                    self.out[other] += data
                    self._flush(other)
                else:
                    self.read_done.add(sock)
                    self._flush(other)
        except BlockingIOError:
            pass
        except OSError:
            self._close(sock)
            return
        self._update(sock)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        if len(self.peer) // 2 >= FORWARDED_AT_ONCE:
            client.close()
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.settimeout(5)  # the API's backlog full: the step's connection fails, the relay goes on
            upstream.connect(self.uds)
        except OSError:
            upstream.close()
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            a.setblocking(False)
            self.peer[a], self.out[a] = b, bytearray()
            self.selector.register(a, 1, self)

    def _flush(self, sock: socket.socket) -> None:
        """Write what waits for `sock`; once its peer has stopped sending and all is written, half-close it."""
        pending = self.out.get(sock)
        if pending is None:  # closed already, with its peer
            return
        if pending:
            try:
                del pending[:sock.send(pending)]
            except BlockingIOError:
                pass
        if not pending and self.peer[sock] in self.read_done:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _update(self, sock: socket.socket) -> None:
        for s in (sock, self.peer.get(sock)):
            if s is None or s not in self.peer:
                continue
            other = self.peer[s]
            if s in self.read_done and other in self.read_done and not self.out[s] and not self.out[other]:
                self._close(s)
                return
            events = (1 if s not in self.read_done and len(self.out[other]) < self.BUFFER else 0) | (2 if self.out[s] else 0)
            try:
                if events:
                    self.selector.modify(s, events, self)
                else:
                    self.selector.unregister(s)
            except KeyError:
                if events:
                    self.selector.register(s, events, self)

    def drop_all(self) -> None:
        """Close every relayed connection (the step they belong to has ended); keep listening."""
        for sock in list(self.peer):
            self._close(sock)

    def close_in_child(self) -> None:
        """In a process forked from the relay's: close its copies of the relay's sockets, touching nothing else."""
        for sock in [self.listener, *self.peer]:
            sock.close()

    def _close(self, sock: socket.socket) -> None:
        for s in (sock, self.peer.get(sock)):
            if s is None or s not in self.peer:
                continue
            try:
                self.selector.unregister(s)
            except (KeyError, ValueError):
                pass
            del self.peer[s], self.out[s]
            self.read_done.discard(s)
            s.close()
