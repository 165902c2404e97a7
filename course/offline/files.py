"""A minimal Files API: enough to upload a picture once and edit it by its `file_id`.

`client.files.create(file=..., purpose="vision")` stores the bytes under the
server's data folder (`files/file-….bin` beside a `.json` card), so a restarted
server still knows them; `retrieve`, `list`, `content` and `delete` work as the
SDK expects: `expires_after={"anchor": "created_at", "seconds": N}` sets the card's `expires_at` (the
file is gone once it passes), and `list` pages with `after`, `limit` and `order` as the real one does
(newest first, at most 10,000). An edit sent as JSON names its pictures by `file_id` or by a data
URL; `reference()` turns either into the same `Upload` a multipart edit carries.

A file uploaded through a grading run's channel belongs to that run, as a file belongs to an
organisation: another run's requests get the real 404 for it, `list` shows only the run's own, and
the run's files are deleted when its channel closes. Without channels (a learner's own server) every
file is everyone's, as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import string
import threading
import time
from pathlib import Path
from typing import Any

from . import errors
from .errors import Gpt
from .uploads import Upload

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
ALPHABET = string.ascii_letters + string.digits
FILE_ID = re.compile(r"^file-[A-Za-z0-9]{1,64}$")
DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,(?P<data>.*)$",
                      re.DOTALL)


def new_file_id() -> str:
    return "file-" + "".join(ALPHABET[b % 62] for b in secrets.token_bytes(22))


EXPIRY_SECONDS = (3600, 2592000)  # what `expires_after.seconds` may be (the SDK's docstring: 1 hour to 30 days)
LIST_LIMIT = 10000  # the most, and the default, files a list answers (the SDK's docstring)
ORDERS = ["asc", "desc"]
OWNER = "_channel"  # in a stored card: the channel the file was uploaded through; never shown


class FileStore:
    def __init__(self, data_dir: Path, clock: Any = time.time) -> None:
        self.root = data_dir / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._by_channel: dict[str, set[str]] = {}  # channels live as long as this process: so does this
        self._lock = threading.Lock()

    def _card_path(self, file_id: str) -> Path:
        return self.root / f"{file_id}.json"

    def create(self, filename: str, purpose: str, data: bytes, channel: str | None = None,
               expires_in: int | None = None) -> dict[str, Any]:
        """Store an upload; with `expires_in` seconds, it expires that long after it was made."""
        file_id = new_file_id()
        created = int(self.clock())
        card = {"id": file_id, "object": "file", "bytes": len(data), "created_at": created,
                "filename": filename or "upload", "purpose": purpose, "status": "processed",
                "expires_at": None if expires_in is None else created + expires_in, "status_details": None}
        stored = card if channel is None else {**card, OWNER: channel}
        if channel is not None:
            with self._lock:
                self._by_channel.setdefault(channel, set()).add(file_id)
        for path, content in ((self.root / f"{file_id}.bin", data),
                              (self._card_path(file_id), json.dumps(stored).encode("utf-8"))):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return card

    def card(self, file_id: str, channel: str | None = None) -> dict[str, Any] | None:
        """The file's card as the API shows it; None when there is no such file for `channel`."""
        if not FILE_ID.match(file_id):
            return None
        try:
            stored = json.loads(self._card_path(file_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get(OWNER) != channel:
            return None
        expires = stored.get("expires_at")
        if isinstance(expires, int) and expires <= self.clock():
            return None
        return {k: v for k, v in stored.items() if k != OWNER}

    def content(self, file_id: str, channel: str | None = None) -> bytes | None:
        if self.card(file_id, channel) is None:
            return None
        try:
            return (self.root / f"{file_id}.bin").read_bytes()
        except OSError:
            return None

    def delete(self, file_id: str, channel: str | None = None) -> bool:
        if self.card(file_id, channel) is None:
            return False
        for suffix in (".json", ".bin"):
            (self.root / f"{file_id}{suffix}").unlink(missing_ok=True)
        return True

    def delete_channel(self, channel: str) -> int:
        """Delete the files a run uploaded (its channel is closing); returns how many."""
        with self._lock:
            owned = self._by_channel.pop(channel, set())
        return sum(self.delete(file_id, channel) for file_id in owned)

    def cards(self, channel: str | None = None) -> list[dict[str, Any]]:
        out = []
        for path in self.root.glob("file-*.json"):
            card = self.card(path.stem, channel)
            if card is not None:
                out.append(card)
        return sorted(out, key=lambda c: (c["created_at"], c["id"]), reverse=True)

    def reference(self, ref: Any, param: str, channel: str | None = None) -> Upload:
        """A picture named in a JSON edit: `{"image_url": "data:..."}` or `{"file_id": "file-..."}`."""
        if not isinstance(ref, dict):
            raise Gpt.invalid_type(param, "object", ref)
        unknown = [k for k in ref if k not in ("image_url", "file_id")]
        if unknown:
            raise Gpt.unknown_parameter(f"{param}.{unknown[0]}")
        given = [k for k in ("image_url", "file_id") if ref.get(k) is not None]
        if len(given) != 1:
            raise Gpt.image_ref(param)
        value = ref[given[0]]
        if not isinstance(value, str):
            raise Gpt.invalid_type(f"{param}.{given[0]}", "string", value)
        if given[0] == "file_id":
            data = self.content(value, channel)
            card = self.card(value, channel)
            if data is None or card is None:
                raise Gpt.no_such_file(f"{param}.file_id", value)
            return Upload(param, card["filename"], _sniff(data), data)
        return _from_data_url(value, f"{param}.image_url")


def page(cards: list[dict[str, Any]], after: str | None, limit: str | None, order: str | None) -> dict[str, Any]:
    """A list answer of files (given newest first): `order` "desc" unless "asc", those after the file `after`,
    at most `limit`."""
    order = order or "desc"
    if order not in ORDERS:
        raise Gpt.invalid_value("order", order, ORDERS)
    most = LIST_LIMIT
    if limit is not None:
        try:
            most = int(limit)
        except ValueError:
            raise Gpt.invalid_type("limit", "integer", limit) from None
        if most < 1:
            raise Gpt.below_min("limit", 1, most)
        if most > LIST_LIMIT:
            raise Gpt.above_max("limit", LIST_LIMIT, most)
    ordered = cards if order == "desc" else list(reversed(cards))
    if after:
        ids = [c["id"] for c in ordered]
        ordered = ordered[ids.index(after) + 1:] if after in ids else []
    chosen = ordered[:most]
    return {"object": "list", "data": chosen, "has_more": len(ordered) > most,
            "first_id": chosen[0]["id"] if chosen else None, "last_id": chosen[-1]["id"] if chosen else None}


def expiry(anchor: Any, seconds: Any) -> int | None:
    """`expires_after` as the multipart form sends it (`expires_after[anchor]`, `expires_after[seconds]`): the
    seconds after creation the file expires, or None when not given."""
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise Gpt.missing("expires_after.anchor")
    if anchor != "created_at":
        raise Gpt.invalid_value("expires_after.anchor", anchor, ["created_at"])
    if seconds is None:
        raise Gpt.missing("expires_after.seconds")
    try:
        value = int(str(seconds))
    except ValueError:
        raise Gpt.invalid_type("expires_after.seconds", "integer", seconds) from None
    if value < EXPIRY_SECONDS[0]:
        raise Gpt.below_min("expires_after.seconds", EXPIRY_SECONDS[0], value)
    if value > EXPIRY_SECONDS[1]:
        raise Gpt.above_max("expires_after.seconds", EXPIRY_SECONDS[1], value)
    return value


def _from_data_url(url: str, param: str) -> Upload:
    if not url.startswith("data:"):
        raise Gpt.offline_image_url(param)
    match = DATA_URL.match(url)
    if match is None or not match["b64"]:
        raise Gpt.bad_data_url(param)
    try:
        data = base64.b64decode(re.sub(r"\s+", "", match["data"]), validate=True)
    except (binascii.Error, ValueError):
        raise Gpt.bad_data_url(param) from None
    return Upload(param, "image_url", match["type"] or _sniff(data), data)


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def invalid_purpose(value: Any) -> errors.APIError:
    options = ", ".join(f"'{p}'" for p in PURPOSES)
    return errors.bad(f"Invalid value for 'purpose': {value!r}. Supported values are: {options}.", param="purpose",
                      code="invalid_value")
