"""Giving freed memory back to the system, so that what one run's requests used does not stay with the server.

glibc's malloc keeps freed memory for reuse. After a request decoded a large picture (in blocks of 16
MB, which also raise the size from which malloc maps memory of its own), the server's heaps stay as
large as their busiest moment; and each thread that ever drew gets a heap of its own (up to 8 per
CPU), each keeping its own scraps: together hundreds of MB held across steps for nobody. So:

- `limit_heaps()`, at start, before any thread: two heaps in all, shared by the event loop and the
  render threads (they are three, and allocate rarely: pictures, not many small objects);
- `give_back()` (glibc's `malloc_trim`) returns every free page of those heaps: on a worker thread
  after a request that decoded large pictures, and when a run's channel closes; `give_back_soon()`,
  from the event loop, a moment after a request with a large body has gone (with its objects).

Asking malloc to map every large block itself instead would cost about a third more time on every
picture drawn. Elsewhere than glibc (musl, macOS) these do nothing: those mallocs give memory back
on their own terms.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from typing import Any

LARGE_PIXELS = 4 * 1024 * 1024  # decoded pictures from this size up (16 MB and more) are given back at once
HEAPS = 2
SOON = 0.2  # seconds: the request that asked is over by then, and its objects freed
M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc()


def limit_heaps() -> None:
    """At most HEAPS malloc heaps in this process (call it before starting threads)."""
    if _LIBC is not None:
        _LIBC.mallopt(M_ARENA_MAX, HEAPS)


def give_back() -> None:
    """Return the free pages of every malloc heap to the system (glibc); nothing elsewhere."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_pending: set[asyncio.AbstractEventLoop] = set()  # loops with a give_back already on its way


def give_back_soon() -> None:
    """From the event loop: give freed memory back a moment from now, on a worker thread (once, however
    many requests ask in the meantime)."""
    loop = asyncio.get_running_loop()
    if _LIBC is None or loop in _pending:
        return
    _pending.add(loop)

    def run() -> None:
        _pending.discard(loop)
        loop.run_in_executor(None, give_back)

    loop.call_later(SOON, run)
