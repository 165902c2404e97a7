"""One specific hint for a failed step, from the catalogue in `content/hints.json`.

The same matching serves the step runner (an exception in the learner's process), `course try`
and the grader (a step's captured stderr plus, when known, the request that failed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).resolve().parent / "content" / "hints.json"

# Valid sizes per model, for the invalid-size hint. Kept here (not imported from the server) so that
# a learner's script never imports the server's packages just to print a hint.
SIZES = {
    "dall-e-2": "256x256, 512x512, 1024x1024",
    "dall-e-3": "1024x1024, 1792x1024, 1024x1792",
}
GPT_SIZES = "1024x1024, 1536x1024, 1024x1536, auto"
GPT_FREE_SIZES = GPT_SIZES + (" (and any WxH in multiples of 16 with 655,360 to 8,294,400 pixels, the longest side at"
                               " most 3840, aspect 1:3 to 3:1)")


@dataclass(frozen=True)
class Hint:
    id: str
    text: str

    def render(self) -> str:
        return f"hint [{self.id}]: {self.text}"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text}


@lru_cache(maxsize=1)
def catalogue() -> list[dict[str, Any]]:
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for entry in data["hints"]:
        entry["_re"] = re.compile(entry["match"])
    return data["hints"]


def sizes_for(model: str) -> str:
    if model in SIZES:
        return SIZES[model]
    if model.startswith(("gpt-image-2", "gpt-image-3")):
        return GPT_FREE_SIZES
    return GPT_SIZES


def hint_for_text(text: str, request: dict[str, Any] | None = None) -> Hint | None:
    """The first catalogue hint whose pattern occurs in `text`, filled in from `request`'s parameters."""
    request = request or {}
    for entry in catalogue():
        if entry["_re"].search(text):
            model = str(request.get("model") or "dall-e-2")
            values = {
                "model": model,
                "size": repr(request["size"]) if "size" in request else "That size",
                "sizes": sizes_for(model),
                "n": request.get("n", "a value outside that range"),
                "partial_images": request.get("partial_images", "a value outside that range"),
            }
            return Hint(entry["id"], entry["hint"].format(**values))
    return None


# Errors a step is sometimes meant to cause (and catch): in a step that calls it, the advice is to catch them.
REFUSALS_A_STEP_MAY_ASK_FOR = {"invalid-size", "content-policy", "edit-not-png", "edit-not-square", "edit-mask-size",
                               "edit-no-transparency", "n-dalle3", "n-out-of-range", "partial-images-range"}


def earlier_step_hint(number: int, earlier: int, exception_type: str, cause: Hint | None,
                      refusal: bool = False) -> Hint:
    """Step `number` calls step`earlier`(), which raised: the fix is in that step, not in this one. Only a
    step that sets out to be refused (`refusal`, lesson 1's step 4) is told to catch the error: anywhere
    else catching it would leave the step without its response."""
    text = f"Step {number} calls step{earlier}(), and step {earlier} stopped with {exception_type}. "
    if refusal and cause is not None and cause.id in REFUSALS_A_STEP_MAY_ASK_FOR:
        text += (f"Step {earlier} sets out to be refused, so catch the error there (try/except "
                 f"openai.{exception_type}, then print its message); then step {number} can go on.")
    elif cause is not None:
        text += f"Fix step {earlier} first ({cause.text.rstrip('.')}), then step {number} can go on."
    else:
        text += f"Fix step {earlier} first (running step {earlier} alone shows its error), then step {number} can go on."
    return Hint("earlier-step", text)


def request_params(exc: BaseException) -> dict[str, Any]:
    """The JSON body of the request behind an `openai` API error, when there is one."""
    request = getattr(exc, "request", None)
    try:
        body = json.loads(request.content) if request is not None else {}
    except Exception:  # multipart bodies, streams: no parameters to read, and that is fine
        return {}
    return body if isinstance(body, dict) else {}


def hint_for_exception(exc: BaseException) -> Hint | None:
    text = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    return hint_for_text(text, request_params(exc))
