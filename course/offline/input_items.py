"""A stored response's input items, as `client.responses.input_items.list(id)` reads them: what the request's
`input` was, each item with an id and a status, and a page of them (`after`, `limit`, `order`).

A string input is one user message with one `input_text` part; a message's string content becomes one
part too. An `input_image` part keeps its `file_id`, and its `image_url` only when the list is asked
with `include=["message.input_image.image_url"]`, as the real API leaves the URL out otherwise. An
`image_generation_call` item given back in the input (by its id, or whole) is listed with its id.
"""

from __future__ import annotations

import secrets
from typing import Any

from .errors import Gpt

ORDERS = ["asc", "desc"]
IMAGE_URLS = "message.input_image.image_url"


def of_input(value: Any) -> list[dict[str, Any]]:
    """The items of a request's `input` (already read, so a string or a list of objects), oldest first."""
    if isinstance(value, str):
        return [message("user", [{"type": "input_text", "text": value}])]
    items: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "image_generation_call":
            items.append({"id": item.get("id") or new_id("ig"), "type": "image_generation_call",
                          "status": item.get("status") or "completed", "result": item.get("result")})
        elif item.get("role") in ("user", "system", "developer"):
            content = item.get("content")
            parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else \
                [part for part in map(input_part, content if isinstance(content, list) else []) if part]
            items.append(message(item["role"], parts, item.get("id")))
    return items


def message(role: str, content: list[dict[str, Any]], item_id: Any = None) -> dict[str, Any]:
    return {"id": item_id if isinstance(item_id, str) else new_id("msg"), "type": "message", "role": role,
            "status": "completed", "content": content}


def input_part(part: Any) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    if part.get("type") == "input_text":
        return {"type": "input_text", "text": part.get("text")}
    if part.get("type") == "input_image":
        return {"type": "input_image", "detail": part.get("detail") or "auto", "file_id": part.get("file_id"),
                "image_url": part.get("image_url")}
    return None


def page(items: list[dict[str, Any]], query: dict[str, str], includes: list[str]) -> dict[str, Any]:
    """One page of a response's input items, as the real list answers it: `order` "desc" (newest first) unless
    "asc", the items after the `after` id, at most `limit` (1 to 100, 20 unless given)."""
    order = query.get("order", "desc")
    if order not in ORDERS:
        raise Gpt.invalid_value("order", order, ORDERS)
    limit = read_limit(query.get("limit"))
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after:
        ids = [item["id"] for item in ordered]
        ordered = ordered[ids.index(after) + 1:] if after in ids else []
    chosen = [shown(item, includes) for item in ordered[:limit]]
    return {"object": "list", "data": chosen, "has_more": len(ordered) > limit,
            "first_id": chosen[0]["id"] if chosen else None, "last_id": chosen[-1]["id"] if chosen else None}


def read_limit(value: str | None) -> int:
    if value is None:
        return 20
    try:
        limit = int(value)
    except ValueError:
        raise Gpt.invalid_type("limit", "integer", value) from None
    if limit < 1:
        raise Gpt.below_min("limit", 1, limit)
    if limit > 100:
        raise Gpt.above_max("limit", 100, limit)
    return limit


def shown(item: dict[str, Any], includes: list[str]) -> dict[str, Any]:
    """An item as listed: an input image's URL only when asked for."""
    if item.get("type") != "message" or IMAGE_URLS in includes:
        return item
    content = [{**part, "image_url": None} if part.get("type") == "input_image" else part for part in item["content"]]
    return {**item, "content": content}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"
