"""The models the offline API emulates, read once from `data/models.json`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("data")

DALLE2 = "dall-e-2"
DALLE3 = "dall-e-3"
GPT = "gpt-image"

# The 2024 error for a size that no model accepts lists every size, in this order.
ALL_DALLE_SIZES = ["256x256", "512x512", "1024x1024", "1024x1792", "1792x1024"]


@dataclass(frozen=True)
class Model:
    id: str
    family: str
    created: int
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...]
    default_quality: str
    max_prompt: int
    routes: tuple[str, ...]
    free_sizes: bool = False
    retired: str | None = None
    input_fidelity: tuple[str, ...] = ()

    @property
    def is_gpt(self) -> bool:
        return self.family == GPT


@lru_cache(maxsize=1)
def all_models() -> dict[str, Model]:
    """The table's models, and every image model the installed SDK's `ImageModel` type lists beyond them: such a
    model (newer than this table) answers as the table's newest GPT image model does (`newer_than_table`)."""
    out = _table()
    newest = max((m for m in out.values() if m.is_gpt), key=lambda m: m.created)
    for model_id in newer_than_table():
        out[model_id] = replace(newest, id=model_id, retired=None)
    return out


def _table() -> dict[str, Model]:
    raw = json.loads((DATA / "models.json").read_text(encoding="utf-8"))
    out: dict[str, Model] = {}
    for m in raw["models"]:
        out[m["id"]] = Model(
            id=m["id"],
            family=m["family"],
            created=m["created"],
            sizes=tuple(m["sizes"]),
            default_size=m["default_size"],
            qualities=tuple(m["qualities"]),
            default_quality=m["default_quality"],
            max_prompt=m["max_prompt"],
            routes=tuple(m["routes"]),
            free_sizes=m.get("free_sizes", False),
            retired=m.get("retired"),
            input_fidelity=tuple(m.get("input_fidelity", ())),
        )
    return out


def get(model_id: str) -> Model | None:
    return all_models().get(model_id)


SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def listed_for(route: str) -> list[str]:
    """The models `route` takes, as today's API lists them when it refuses an unknown one: the GPT image models
    in the order they came out, then the DALL·E models, dated snapshots left out (as in the published lists)."""
    named = [m for m in all_models().values() if route in m.routes and not SNAPSHOT.search(m.id)]
    return [m.id for m in named if m.is_gpt] + [m.id for m in named if not m.is_gpt]


@lru_cache(maxsize=1)
def newer_than_table() -> tuple[str, ...]:
    """Image models the installed SDK lists and `data/models.json` does not (none of DALL·E's kind: those are
    known and retired)."""
    from .sdk_types import literal_models

    known = _table()
    return tuple(m for m in literal_models("ImageModel") if m not in known and not m.startswith("dall-e"))


def unknown_models_note() -> str:
    """One sentence for the server's log when the SDK is newer than the table; "" when it is not."""
    from .sdk_types import sdk_version

    newer = newer_than_table()
    if not newer:
        return ""
    newest = max((m for m in _table().values() if m.is_gpt), key=lambda m: m.created)
    return (f"the installed openai SDK ({sdk_version()}) lists image models this offline API has no table for "
            f"({', '.join(newer)}): they are accepted and answer as {newest.id} does")
