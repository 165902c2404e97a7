"""Reading a request's body as the API does: its content type, its size, its JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .. import errors
from ..budget import shortened
from ..errors import Gpt
from ..requestlog import Record


def media_type(request: Request) -> str:
    """The content type without its parameters, in lower case ("multipart/form-data")."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def expect(request: Request, media: str) -> None:
    """The API's 400 for a body of another content type."""
    if media_type(request) != media:
        raise errors.wrong_content_type(request.headers.get("content-type", ""), media)


def refuse_too_large(request: Request, max_body: int) -> None:
    """The API's 413 for a body that says it is larger than the server takes, before any of it is read."""
    if int(request.headers.get("content-length") or 0) > max_body:
        raise errors.body_too_large(max_body)


async def json_value(request: Request, record: Record, max_body: int) -> Any:
    """The body's JSON value; the API's 400 when it is not JSON (the row keeps what was sent, cut)."""
    refuse_too_large(request, max_body)
    raw = await request.body()
    try:
        value = json.loads(raw)
        # Escapes of lone surrogates ("\ud800") parse but can never be echoed, stored or drawn.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        record.params = {"_raw": raw[:2000].decode("utf-8", "replace")}
        raise errors.invalid_json() from None
    return value


async def json_object(request: Request, record: Record, max_body: int) -> dict[str, Any]:
    """A GPT-era body: a JSON object, shortened in the row at once (a data URL of 40 MB is read from the
    object, never kept in the row until it is written)."""
    fields = await json_value(request, record, max_body)
    record.params = shortened(fields) if isinstance(fields, dict) else {"_body": shortened(fields)}
    if not isinstance(fields, dict):
        raise Gpt.invalid_type("body", "object", fields)
    return fields
