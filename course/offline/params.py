"""Validating a request's parameters the way the real API does, era by era.

`parse(route, fields, form=...)` returns the normalised `Params` or raises the
`APIError` the real API would send. Checks run in a fixed order (model, unknown
fields, required, types, allowed values, ranges, prompt, model-specific rules),
so that a request with several faults always gets the same, first, error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .errors import Dalle, Gpt
from .models import ALL_DALLE_SIZES, DALLE3, Model, get, listed_for

DALLE2_SIZES = ["256x256", "512x512", "1024x1024"]
MAX_N = 10

# Fields each route accepts, per era. Anything else is an unknown parameter.
DALLE_FIELDS = {
    "generations": ("prompt", "model", "n", "quality", "response_format", "size", "style", "user"),
    "edits": ("image", "mask", "prompt", "model", "n", "response_format", "size", "user"),
    "variations": ("image", "model", "n", "response_format", "size", "user"),
}
GPT_FIELDS = {
    "generations": (
        "prompt", "model", "n", "quality", "size", "background", "output_format", "output_compression",
        "moderation", "user", "safety_identifier", "stream", "partial_images", "complexity",
    ),
    "edits": (
        "image", "image[]", "mask", "prompt", "model", "n", "quality", "size", "background", "output_format",
        "output_compression", "input_fidelity", "user", "safety_identifier", "stream", "partial_images",
        "complexity",
    ),
}
FILE_FIELDS = ("image", "image[]", "mask")

TYPES: dict[str, str] = {
    "prompt": "string", "model": "string", "n": "integer", "quality": "string", "response_format": "string",
    "size": "string", "style": "string", "user": "string", "background": "string", "output_format": "string",
    "output_compression": "integer", "moderation": "string", "safety_identifier": "string", "stream": "boolean",
    "partial_images": "integer", "input_fidelity": "string", "complexity": "string",
}
GPT_ENUMS = {
    "output_format": ["png", "jpeg", "webp"],
    "background": ["transparent", "opaque", "auto"],
    "moderation": ["low", "auto"],
    "input_fidelity": ["high", "low"],
    "complexity": ["low", "medium", "high"],  # the SDK documents it; the offline pictures do not change with it
}
SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
# The free sizes of the gpt-image-2 family and later (data/rules_2026.json): each side a multiple of 16, the
# longest at most 3840, the sides within 3:1 of each other, and the pixels within the budget's floor and ceiling.
FREE_SIZE_STEP = 16
FREE_SIZE_MAX_EDGE = 3840
FREE_SIZE_MAX_RATIO = 3
FREE_SIZE_PIXELS = (655_360, 8_294_400)


@dataclass
class Params:
    route: str
    model: Model
    prompt: str = ""
    n: int = 1
    size: str = "1024x1024"
    width: int = 1024
    height: int = 1024
    quality: str = "standard"
    style: str | None = None
    response_format: str = "url"
    output_format: str = "png"
    output_compression: int = 100
    background: str = "opaque"
    moderation: str = "auto"
    user: str | None = None
    size_requested: str | None = None
    safety_identifier: str | None = None  # the effective one: safety_identifier, else user (GPT models)
    stream: bool = False
    partial_images: int = 0
    input_fidelity: str | None = None
    given: dict[str, Any] = field(default_factory=dict)


def resolve_model(route: str, value: Any) -> Model:
    if value is None:
        model = get("dall-e-2")
        assert model is not None
        return model
    if not isinstance(value, str):
        raise Dalle.not_type(value, "string", "model")
    model = get(value)
    if model is None:  # today's words (data/rules_2026.json)
        raise Gpt.invalid_value("model", value, listed_for(route))
    if route not in model.routes:
        raise errors.invalid_model(value)
    return model


def _coerce(name: str, value: Any, form: bool) -> Any:
    """Multipart values arrive as text; turn the numeric and boolean ones into numbers."""
    if not form or not isinstance(value, str):
        return value
    kind = TYPES.get(name)
    if kind == "integer" and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def parse(route: str, fields: dict[str, Any], *, form: bool = False) -> Params:
    model = resolve_model(route, fields.get("model"))
    # The SDK sends an explicit None as JSON null; the real API treats it as "not given".
    given = {k: _coerce(k, v, form) for k, v in fields.items() if v is not None}
    if model.is_gpt:
        return _parse_gpt(route, model, given)
    return _parse_dalle(route, model, given)


def _parse_dalle(route: str, model: Model, given: dict[str, Any]) -> Params:
    allowed = DALLE_FIELDS[route]
    unexpected = [k for k in given if k not in allowed]
    if unexpected:
        raise Dalle.unexpected(unexpected)
    for required in ("prompt", "image") if route == "edits" else ("image",) if route == "variations" else ("prompt",):
        if required not in given:
            raise Dalle.required(required)
    for name, value in given.items():
        kind = TYPES.get(name)
        if kind and not _is(kind, value):
            raise Dalle.not_type(value, kind, name)
    size_list = ALL_DALLE_SIZES if route == "generations" else DALLE2_SIZES
    if "size" in given and given["size"] not in size_list:
        raise Dalle.not_one_of(given["size"], size_list, "size")
    if "response_format" in given and given["response_format"] not in ("b64_json", "url"):
        raise Dalle.not_one_of(given["response_format"], ["b64_json", "url"], "response_format")
    if "quality" in given and given["quality"] not in ("standard", "hd"):
        raise Dalle.not_one_of(given["quality"], ["standard", "hd"], "quality")
    if "style" in given and given["style"] not in ("natural", "vivid"):
        raise Dalle.not_one_of(given["style"], ["natural", "vivid"], "style")
    n = given.get("n", 1)
    if n < 1:
        raise Dalle.below_min(n, 1, "n")
    if n > MAX_N:
        raise Dalle.above_max(n, MAX_N, "n")
    prompt = given.get("prompt", "")
    if route != "variations":
        if not prompt.strip():
            raise Dalle.empty_prompt()
        if len(prompt) > model.max_prompt:
            if model.id == DALLE3:
                raise Dalle.prompt_too_long_dalle3(prompt)
            raise Dalle.prompt_too_long_dalle2(len(prompt))
    size = given.get("size", model.default_size)
    if size not in model.sizes:
        raise Dalle.size_not_supported()
    if model.id == DALLE3 and n != 1:
        raise Dalle.n_must_be_1()
    width, height = (int(x) for x in size.split("x"))
    quality = given.get("quality", "standard") if model.id == DALLE3 else "standard"
    return Params(
        route=route, model=model, prompt=prompt, n=n, size=size, width=width, height=height, quality=quality,
        style=given.get("style", "vivid") if model.id == DALLE3 else None,
        response_format=given.get("response_format", "url"), user=given.get("user"),
        size_requested=given.get("size"), given=given,
    )


def _parse_gpt(route: str, model: Model, given: dict[str, Any]) -> Params:
    allowed = GPT_FIELDS[route]
    for name in given:
        if name not in allowed:
            raise Gpt.unknown_parameter(name)
    required = ("prompt",) if route == "generations" else ("image", "prompt")
    for name in required:
        if name not in given and not (name == "image" and "image[]" in given):
            raise Gpt.missing(name)
    for name, value in given.items():
        kind = TYPES.get(name)
        if kind and not _is(kind, value):
            raise Gpt.invalid_type(name, kind, value)
    if "quality" in given and given["quality"] not in model.qualities:
        raise Gpt.invalid_value("quality", given["quality"], list(model.qualities))
    for name, options in GPT_ENUMS.items():
        if name in given and given[name] not in options:
            raise Gpt.invalid_value(name, given[name], options)
    n = given.get("n", 1)
    if n < 1:
        raise Gpt.below_min("n", 1, n)
    if n > MAX_N:
        raise Gpt.above_max("n", MAX_N, n)
    compression = given.get("output_compression", 100)
    if compression < 0:
        raise Gpt.below_min("output_compression", 0, compression)
    if compression > 100:
        raise Gpt.above_max("output_compression", 100, compression)
    partial = given.get("partial_images", 0)
    if partial < 0:
        raise Gpt.below_min("partial_images", 0, partial)
    if partial > 3:
        raise Gpt.above_max("partial_images", 3, partial)
    prompt = given.get("prompt", "")
    if not prompt:
        raise Gpt.empty_prompt()
    if len(prompt) > model.max_prompt:
        raise Gpt.prompt_too_long(model.max_prompt, len(prompt))
    size = given.get("size", model.default_size)
    width, height = _gpt_size(model, size, prompt)
    output_format = given.get("output_format", "png")
    background = given.get("background", "auto")
    if background == "transparent" and output_format == "jpeg":
        raise Gpt.transparent_jpeg()
    if output_format == "png" and compression < 100:  # the 2026 rule (data/rules_2026.json)
        raise Gpt.png_compression()
    fidelity = given.get("input_fidelity")
    if fidelity is not None:
        if not model.input_fidelity:
            raise Gpt.no_input_fidelity(model.id)
        if fidelity not in model.input_fidelity:
            raise Gpt.unsupported_value("input_fidelity", fidelity, list(model.input_fidelity))
    return Params(
        route=route, model=model, prompt=prompt, n=n, size=f"{width}x{height}", width=width, height=height,
        quality=given.get("quality", "auto"), response_format="b64_json", output_format=output_format,
        output_compression=compression, background="transparent" if background == "transparent" else "opaque",
        moderation=given.get("moderation", "auto"), user=given.get("user"), size_requested=given.get("size"),
        safety_identifier=given.get("safety_identifier") or given.get("user") or None,
        stream=bool(given.get("stream")), partial_images=partial if given.get("stream") else 0,
        input_fidelity=fidelity or (model.input_fidelity and "low") or None, given=given,
    )


def auto_size(prompt: str) -> tuple[int, int]:
    """`size="auto"`: pick a standard size from the prompt's own words [ours]."""
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    if words & {"landscape", "wide", "panorama", "panoramic", "horizon", "banner"}:
        return 1536, 1024
    if words & {"portrait", "tall", "poster", "vertical", "skyscraper"}:
        return 1024, 1536
    return 1024, 1024


def _gpt_size(model: Model, size: str, prompt: str) -> tuple[int, int]:
    if size == "auto":
        return auto_size(prompt)
    if size in model.sizes:
        w, h = size.split("x")
        return int(w), int(h)
    match = SIZE_RE.match(size)
    if not model.free_sizes or not match:
        raise Gpt.invalid_value("size", size, [s for s in model.sizes])
    w, h = int(match[1]), int(match[2])
    floor, ceiling = FREE_SIZE_PIXELS
    if w % FREE_SIZE_STEP or h % FREE_SIZE_STEP:
        raise Gpt.invalid_size(size, "Width and height must both be divisible by 16.")
    if max(w, h) > FREE_SIZE_MAX_EDGE:
        raise Gpt.invalid_size(size, "The longest edge must be less than or equal to 3840.")
    if max(w, h) > FREE_SIZE_MAX_RATIO * min(w, h):
        raise Gpt.invalid_size(size, "The aspect ratio must be between 1:3 and 3:1.")  # [ours]
    if w * h < floor:
        raise Gpt.invalid_size(size, "Requested resolution is below the current minimum pixel budget.")
    if w * h > ceiling:
        raise Gpt.invalid_size(size, "Requested resolution exceeds the current pixel budget.")
    return w, h
