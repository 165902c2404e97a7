"""Turning validated `Params` into response bodies: render, encode, store, sign."""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image

from ..lesson import fingerprints
from . import render, urls
from .params import Params
from .storage import ImageStore

ALPHABET = string.ascii_letters + string.digits
SIMPLE_PREFIX = "I NEED to test how the tool works with extremely simple prompts. DO NOT add any detail, just use it AS-IS:"
SCHEMA_SIZES = ("1024x1024", "1024x1536", "1536x1024")
SCHEMA_QUALITIES = ("low", "medium", "high")
# Output tokens per image at 1024x1024, as published for gpt-image-1; other sizes scale by area.
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}


def new_image_id() -> str:
    # One system call, not 24: under load every call is a GIL hand-off.
    return "img-" + "".join(ALPHABET[b % 62] for b in secrets.token_bytes(24))


def revised_prompt(p: Params) -> str:
    """dall-e-3 rewrites the prompt [ours: a fixed, readable rewrite], unless told not to."""
    text = p.prompt.strip()
    if text.startswith(SIMPLE_PREFIX):
        return text[len(SIMPLE_PREFIX):].strip()
    mood = "vivid, dramatic" if p.style == "vivid" else "natural, understated"
    detail = "finely detailed" if p.quality == "hd" else "clearly composed"
    return f"{text.rstrip('.')}. A {detail} picture in a {mood} style, centred in the frame with soft lighting."


class Cancelled(Exception):
    """The caller stopped the drawing (its client went away)."""


@dataclass
class Issuer:
    """Where a request's images go: who asked (for the URL path) and the server's own address."""

    base_url: str
    org: str
    user: str


def _usage(p: Params, input_images: int) -> dict[str, Any]:
    text_tokens = max(1, len(p.prompt) // 4)
    image_tokens = 0 if p.route == "generations" else 194 * input_images
    quality = "medium" if p.quality == "auto" else p.quality
    output = round(OUTPUT_TOKENS[quality] * (p.width * p.height) / (1024 * 1024)) * p.n
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
        "output_tokens": output,
        "total_tokens": text_tokens + image_tokens + output,
    }


class Producer:
    def __init__(self, store: ImageStore, secret: bytes, seed: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.secret = secret
        self.seed = seed
        self.clock = clock

    def respond(self, p: Params, issuer: Issuer, images: list[Image.Image], log_ids: list[str], log_urls: list[str],
                edit_region: Image.Image | None = None, input_digest: str = "",
                log_images: list[dict[str, str]] | None = None, cancel: Any = None) -> dict[str, Any]:
        """The response body for a valid request; `cancel` (an Event) set by the caller stops the drawing
        between two images (the client went away)."""
        created = int(self.clock())
        data: list[dict[str, Any]] = []
        ext = p.output_format if p.model.is_gpt else "png"
        for i in range(p.n):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            seed = render.seed_for(self.seed, p.route, p.model.id, p.prompt, p.size, p.quality, p.style,
                                   p.background, input_digest, i)
            picture = self._draw(p, images, edit_region, seed, i)
            payload = render.encode(picture, ext, p.output_compression)
            if log_images is not None:
                log_images.append(fingerprints.of_payload(payload, picture, lossless=ext == "png"))
            if p.response_format == "url":
                image_id = new_image_id()
                url = urls.make(self.secret, issuer.base_url, issuer.org, issuer.user, image_id, ext, created)
                self.store.save(image_id, ext, created + urls.LIFETIME, payload)
                log_ids.append(image_id)
                log_urls.append(url)
                item: dict[str, Any] = {"url": url}
            else:
                item = {"b64_json": base64.b64encode(payload).decode("ascii")}
            if p.model.id == "dall-e-3":
                item["revised_prompt"] = revised_prompt(p)
                if log_images is not None:
                    log_images[-1]["revised_prompt"] = item["revised_prompt"]
            data.append(item)
        body: dict[str, Any] = {"created": created, "data": data}
        if p.model.is_gpt:
            body["background"] = p.background
            body["output_format"] = p.output_format
            quality = "medium" if p.quality == "auto" else p.quality
            if quality in SCHEMA_QUALITIES:  # the 2026 schema has no name for xhigh/max
                body["quality"] = quality
            if p.size in SCHEMA_SIZES:  # nor for the free sizes of the gpt-image-2 family
                body["size"] = p.size
            body["usage"] = _usage(p, len(images))
            if log_images is not None:
                for entry in log_images[-len(data):]:
                    entry["total_tokens"] = str(body["usage"]["total_tokens"])
        return body

    def _draw(self, p: Params, images: list[Image.Image], region: Image.Image | None, seed: int, i: int) -> Image.Image:
        if p.route == "generations":
            return render.draw_prompt(p.prompt, p.width, p.height, seed, transparent=p.background == "transparent")
        source = images[0]
        if p.route == "variations":
            return render.variation_of(source, p.width, p.height, seed, i)
        if source.size != (p.width, p.height):
            source = source.resize((p.width, p.height), Image.Resampling.BILINEAR)
            if region is not None:
                region = region.resize((p.width, p.height), Image.Resampling.NEAREST)
        if region is None:  # a GPT edit without mask or transparency repaints everything, blended
            region = Image.new("L", source.size, 140)
        return render.apply_edit(source, region, p.prompt, seed)
