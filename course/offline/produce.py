"""Turning validated `Params` into response bodies: render, encode, store, sign."""

from __future__ import annotations

import base64
import secrets
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from PIL import Image

from ..lesson import fingerprints
from . import render, streaming, urls
from .params import Params
from .storage import ImageStore
from .uploads import Inputs

NO_INPUTS = Inputs()  # a generation draws from nothing

ALPHABET = string.ascii_letters + string.digits
SIMPLE_PREFIX = "I NEED to test how the tool works with extremely simple prompts. DO NOT add any detail, just use it AS-IS:"
# Output tokens per image at 1024x1024, as published for gpt-image-1; other sizes scale by area.
# Encoded generations kept for requests that ask for the same picture again (see Producer._encoded):
# at most this many, and this many bytes in all, whatever their sizes.
RECENT = 64
RECENT_BYTES = 64 * 1024 * 1024
RECENT_ONE_BYTES = RECENT_BYTES // RECENT  # a larger picture is not kept: it would push out many small ones
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


PARTIAL_IMAGE_TOKENS = 100  # each partial image of a stream adds this many image output tokens


def token_usage(p: Params, input_images: int) -> dict[str, Any]:
    text_tokens = max(1, len(p.prompt) // 4)
    image_tokens = 0 if p.route == "generations" else 194 * input_images
    quality = "medium" if p.quality == "auto" else p.quality
    output = (round(OUTPUT_TOKENS[quality] * (p.width * p.height) / (1024 * 1024))
              + PARTIAL_IMAGE_TOKENS * p.partial_images) * p.n
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
        "output_tokens": output,
        "total_tokens": text_tokens + image_tokens + output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
    }


class Producer:
    def __init__(self, store: ImageStore, secret: bytes, seed: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.secret = secret
        self.seed = seed
        self.clock = clock
        self._recent: OrderedDict[tuple, tuple[bytes, dict[str, str]]] = OrderedDict()
        self._recent_bytes = 0
        self._lock = threading.Lock()

    def respond(self, p: Params, issuer: Issuer, inputs: Inputs, log_ids: list[str], log_urls: list[str],
                log_images: list[dict[str, str]] | None = None, cancel: Any = None) -> dict[str, Any]:
        """The response body for a valid request; `cancel` (an Event) set by the caller stops the drawing
        between two images (the client went away)."""
        created = int(self.clock())
        data: list[dict[str, Any]] = []
        ext = p.output_format if p.model.is_gpt else "png"
        for i in range(p.n):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            payload, prints = self._encoded(p, inputs, i, ext)
            if log_images is not None:
                log_images.append(dict(prints))
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
            body.update(self.settings(p))
            body["usage"] = token_usage(p, inputs.count)
            if p.safety_identifier:
                body["safety_identifier"] = p.safety_identifier
            if log_images is not None:
                for entry in log_images[-len(data):]:
                    entry["total_tokens"] = str(body["usage"]["total_tokens"])
        return body

    def _encoded(self, p: Params, inputs: Inputs, i: int, ext: str) -> tuple[bytes, dict[str, str]]:
        """Picture `i` encoded as `ext`, with its fingerprints. A generation's picture depends on nothing but
        its settings, so the last few are kept encoded: a class whose learners all ask for the same prompt
        is drawn once, not once per learner (a grading run sends thousands of such requests)."""
        key = None
        if p.route == "generations":
            key = (self.seed, p.model.id, p.prompt, p.size, p.quality, p.style, p.background, i, ext,
                   p.output_compression)
            with self._lock:
                hit = self._recent.get(key)
                if hit is not None:
                    self._recent.move_to_end(key)
                    return hit
        picture = self.picture(p, inputs, i)
        payload = render.encode(picture, ext, p.output_compression)
        found = (payload, fingerprints.of_payload(payload, picture, lossless=ext == "png"))
        if key is not None:
            self._keep(key, found)
        return found

    def _keep(self, key: tuple, found: tuple[bytes, dict[str, str]]) -> None:
        """Keep an encoded generation for reuse, within RECENT pictures and RECENT_BYTES in all."""
        size = len(found[0])
        if size > RECENT_ONE_BYTES:
            return
        with self._lock:
            old = self._recent.pop(key, None)
            if old is not None:
                self._recent_bytes -= len(old[0])
            self._recent[key] = found
            self._recent_bytes += size
            while len(self._recent) > RECENT or self._recent_bytes > RECENT_BYTES:
                _, (dropped, _) = self._recent.popitem(last=False)
                self._recent_bytes -= len(dropped)

    @staticmethod
    def settings(p: Params) -> dict[str, Any]:
        """The settings a GPT image response reports: what was used, `auto` resolved."""
        return {"background": p.background, "output_format": p.output_format,
                "quality": "medium" if p.quality == "auto" else p.quality, "size": p.size}

    def picture(self, p: Params, inputs: Inputs, i: int) -> Image.Image:
        seed = render.seed_for(self.seed, p.route, p.model.id, p.prompt, p.size, p.quality, p.style,
                               p.background, inputs.digest, i)
        return self._draw(p, inputs, seed, i)

    def events(self, p: Params, inputs: Inputs = NO_INPUTS,
               log_images: list[dict[str, str]] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """A streamed answer, as the API streams it: for each image, `partial_images` partial pictures
        (coarse stages of the final one, indexes 0..N-1), then the completed event with `usage`."""
        kind = "image_generation" if p.route == "generations" else "image_edit"
        usage = token_usage(p, inputs.count)
        usage.pop("output_tokens_details")  # the completed events' usage has no such part
        for i in range(p.n):
            picture = self.picture(p, inputs, i)
            for index, stage in enumerate(streaming.stages(picture, p.partial_images)):
                payload = render.encode(stage, p.output_format, p.output_compression)
                if log_images is not None:
                    log_images.append({**fingerprints.of_payload(payload, stage, lossless=p.output_format == "png"),
                                       "partial": str(index)})
                yield f"{kind}.partial_image", {
                    "type": f"{kind}.partial_image", "b64_json": base64.b64encode(payload).decode("ascii"),
                    "created_at": int(self.clock()), "partial_image_index": index, **self.settings(p)}
            payload = render.encode(picture, p.output_format, p.output_compression)
            if log_images is not None:
                log_images.append({**fingerprints.of_payload(payload, picture, lossless=p.output_format == "png"),
                                   "total_tokens": str(usage["total_tokens"])})
            done: dict[str, Any] = {"type": f"{kind}.completed", "b64_json": base64.b64encode(payload).decode("ascii"),
                                    "created_at": int(self.clock()), **self.settings(p), "usage": usage}
            if p.safety_identifier:
                done["safety_identifier"] = p.safety_identifier
            yield f"{kind}.completed", done

    def _draw(self, p: Params, inputs: Inputs, seed: int, i: int) -> Image.Image:
        if p.route == "generations":
            return render.draw_prompt(p.prompt, p.width, p.height, seed, transparent=p.background == "transparent")
        source, region = inputs.source, inputs.region
        assert source is not None, "an edit or a variation draws from its first picture"
        if p.route == "variations":
            return render.variation_of(source, p.width, p.height, seed, i)
        if source.size != (p.width, p.height):
            source = source.resize((p.width, p.height), Image.Resampling.BILINEAR)
            if region is not None:
                region = region.resize((p.width, p.height), Image.Resampling.NEAREST)
        if region is None:  # a GPT edit without mask or transparency repaints everything, blended
            region = Image.new("L", source.size, 140)
        edited = render.apply_edit(source, region, p.prompt, seed)
        if p.background != "transparent":
            return edited
        # A transparent edit: where the edit paints, only the new drawing's shapes and caption stay;
        # its background is cut away. Outside the region the source keeps its own alpha.
        drawn = render.draw_prompt(p.prompt, p.width, p.height, seed, transparent=True).getchannel("A")
        kept = source.convert("RGBA").getchannel("A")
        edited.putalpha(Image.composite(drawn, kept, region.point(lambda v: 255 if v else 0)))
        return edited
