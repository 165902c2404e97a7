"""Past responses of the Responses API's image tool, so that `previous_response_id` continues a conversation.

Each stored response is two files under the server's data folder: `responses/resp_….json` (its card:
model, the image tool's settings, the chain of prompts so far, when it expires) and, when the
conversation has a picture, `responses/resp_….<png|jpeg|webp>` (the last picture, as sent). Beside
them, `responses/resp_….answer` keeps the Response as it was sent and its input items (what
`responses.retrieve` and `responses.input_items.list` answer), and `responses/ig_….link` names the
response whose image_generation_call that is (an input item that continues by image id). A
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
CALL_ID = re.compile(r"^ig_[A-Za-z0-9]{1,96}$")
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
    call_id: str | None = None  # the image_generation_call whose picture this is, when this turn drew it

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

    def save_answer(self, response_id: str, response: dict[str, Any], input_items: list[dict[str, Any]],
                    call_id: str | None) -> None:
        """The Response as sent and its input items; the call's link when it drew a picture. Written before
        the card, so that a card on disk always has its answer."""
        if call_id is not None and CALL_ID.match(call_id):
            _write(self.root / f"{call_id}.link", response_id.encode("ascii"))
        _write(self.root / f"{response_id}.answer",
               json.dumps({"response": response, "input_items": input_items}).encode("utf-8"))

    def answer(self, response_id: str) -> dict[str, Any] | None:
        """`{"response": ..., "input_items": [...]}` of a stored response, or None when unknown or expired."""
        if self.load(response_id) is None:
            return None
        try:
            answer: dict[str, Any] = json.loads((self.root / f"{response_id}.answer").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return answer

    def by_call(self, call_id: str) -> Stored | None:
        """The stored response whose image_generation_call is `call_id` (its picture is that call's), or None."""
        if not CALL_ID.match(call_id):
            return None
        try:
            response_id = (self.root / f"{call_id}.link").read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            return None
        stored = self.load(response_id)
        return stored if stored is not None and stored.call_id == call_id else None

    def delete(self, response_id: str) -> bool:
        """Forget a stored response (its card, picture, answer and link); False when it was not known."""
        stored = self.load(response_id)
        if stored is None:
            return False
        _remove(self.root / f"{response_id}.json", stored.call_id)
        return True

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
                _remove(card_path, _call_of(card_path))
                removed += 1
        return removed

    def count(self) -> int:
        return sum(1 for _ in self.root.glob("resp_*.json"))


def _call_of(card_path: Path) -> str | None:
    try:
        call_id = json.loads(card_path.read_text(encoding="utf-8")).get("call_id")
    except (OSError, ValueError, AttributeError):
        return None
    return call_id if isinstance(call_id, str) else None


def _remove(card_path: Path, call_id: str | None) -> None:
    """A response's files: the card last, so that a card on disk always has its picture and answer."""
    for ext in FORMATS:
        card_path.with_suffix(f".{ext}").unlink(missing_ok=True)
    card_path.with_suffix(".answer").unlink(missing_ok=True)
    if call_id is not None and CALL_ID.match(call_id):
        (card_path.parent / f"{call_id}.link").unlink(missing_ok=True)
    card_path.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
