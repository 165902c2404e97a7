"""The headers the real API puts on its answers, and setting one in an ASGI message's list of headers."""

from __future__ import annotations

OPENAI_VERSION = "2020-10-01"

Headers = list[tuple[bytes, bytes]]


def put(headers: Headers, name: str, value: str) -> None:
    """Set a header as starlette's `MutableHeaders` does: the first of that name replaced (any others
    dropped), or a new one at the end."""
    key, raw = name.lower().encode("latin-1"), value.encode("latin-1")
    found = [i for i, (k, _) in enumerate(headers) if k == key]
    if not found:
        headers.append((key, raw))
        return
    headers[found[0]] = (key, raw)
    for i in reversed(found[1:]):
        del headers[i]


def stamp(headers: Headers, request_id: str, elapsed_ms: float, organization: str | None = None) -> None:
    """The API's own headers on an answer sent whole: the organisation that asked (when a key was sent), its
    version, the time it took, the request's id."""
    if organization is not None:
        put(headers, "openai-organization", organization)
    put(headers, "openai-version", OPENAI_VERSION)
    put(headers, "openai-processing-ms", str(int(elapsed_ms)))
    put(headers, "x-request-id", request_id)
