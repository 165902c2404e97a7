"""Past responses of the Responses API's image tool, so that `previous_response_id` continues a conversation.

Each stored response is two files under the server's data folder: `responses/resp_….json` (its card:
model, the image tool's settings, the chain of prompts so far, when it expires) and, when the
conversation has a picture, `responses/resp_….<png|jpeg|webp>` (the last picture, as sent). A
restarted server therefore still knows them. The real API keeps a stored response for 30 days;
`sweep()` removes those whose time has passed, as the image store's sweep does for pictures.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

LIFETIME = 30 * 24 * 3600  # how long the real API keeps a stored response
RESPONSE_ID = re.compile(r"^resp_[A-Za-z0-9]{1,96}$")
FORMATS = ("png", "jpeg", "webp")


@dataclass
class Stored:
    """One past response: what a follow-up needs to edit its picture."""

    id: str
    created_at: int
    expires_at: int
    model: str  # the Responses model, e.g. "gpt-5.5"
    image_model: str
    prompts: list[str] = field(default_factory=list)  # every turn's prompt, oldest first
    revised_prompt: str | None = None
    image_format: str | None = None  # the last picture's format; None when no picture was made yet
    image: bytes | None = None

    def card(self) -> dict[str, Any]:
        card = asdict(self)
        card.pop("image")
        return card


class ResponseStore:
    def __init__(self, data_dir: Path, clock: Callable[[], float]) -> None:
        self.root = data_dir / "responses"
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock

    def save(self, stored: Stored) -> None:
        """The picture first, then the card: a card on disk always has its picture."""
        if stored.image is not None and stored.image_format in FORMATS:
            _write(self.root / f"{stored.id}.{stored.image_format}", stored.image)
        _write(self.root / f"{stored.id}.json", json.dumps(stored.card()).encode("utf-8"))

    def load(self, response_id: str) -> Stored | None:
        """The stored response, or None when unknown, malformed or expired."""
        if not RESPONSE_ID.match(response_id):
            return None
        try:
            card = json.loads((self.root / f"{response_id}.json").read_text(encoding="utf-8"))
            stored = Stored(**card)
        except (OSError, ValueError, TypeError):
            return None
        if stored.expires_at <= self.clock():
            return None
        if stored.image_format in FORMATS:
            try:
                stored.image = (self.root / f"{response_id}.{stored.image_format}").read_bytes()
            except OSError:
                return None
        return stored

    def sweep(self, now: float) -> int:
        """Remove every stored response whose 30 days have passed (and any stray file); returns how many."""
        removed = 0
        for card_path in self.root.glob("resp_*.json"):
            try:
                expires = json.loads(card_path.read_text(encoding="utf-8"))["expires_at"]
            except (OSError, ValueError, KeyError, TypeError):
                expires = 0
            if expires <= now:
                for ext in FORMATS:
                    card_path.with_suffix(f".{ext}").unlink(missing_ok=True)
                card_path.unlink(missing_ok=True)
                removed += 1
        return removed

    def count(self) -> int:
        return sum(1 for _ in self.root.glob("resp_*.json"))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
