"""Reading uploaded images: the checks the real API makes, in its order.

Pillow reads only the header before `load()`, so sizes are checked before a
single pixel is decoded: a 4 MB PNG that claims 60000x60000 pixels (a
decompression bomb) is refused without being inflated.

`read_inputs` reads a request's pictures in two passes. First every header: each picture within its
own limit, all of them together within `REQUEST_MAX_PIXELS`, and their pixels charged to the run's
budget (`charge`) before any is decoded. Then the pictures one at a time, stopping between two when
the caller says so (its client has gone). Only what the drawing needs is kept: the first picture and
where to paint it, already brought to the size it will be drawn at; the other pictures are decoded
(a corrupt one is refused, as the real API refuses it) and dropped at once. So a request never holds
more than one full-size picture, and nothing decoded outlives the request; and the whole process decodes
at most DECODING_MAX_PIXELS at once, however many requests arrive together.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from PIL import Image

from . import memory
from .errors import APIError, Dalle, Gpt, bad

if TYPE_CHECKING:
    from .params import Params

DALLE_MAX_BYTES = 4 * 1024 * 1024
GPT_MAX_BYTES = 50 * 1024 * 1024
DALLE_MAX_SIDE = 4096  # [ours] the largest input side accepted for dall-e-2
GPT_MAX_PIXELS = 8192 * 8192  # [ours]
# [ours] A request's pictures together (images and mask): one picture of the largest size, or 16 of
# 2048x2048. Decoded, a pixel takes up to 4 bytes, so one request decodes at most 256 MB.
REQUEST_MAX_PIXELS = GPT_MAX_PIXELS
# Pixels being decoded at once in this process, across all requests: room for one request of the largest
# size and, beside it, the small pictures of everyone else. A request past it waits for room.
DECODING_MAX_PIXELS = REQUEST_MAX_PIXELS + 16 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Our own limits below are checked from the header, before decoding, with a message that names
# the size; Pillow's bomb guard would fire first with a vaguer one.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes

    def describe(self) -> dict[str, object]:
        import hashlib

        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "bytes": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


# The errors below are made when raised, never kept in a local before: a raised error refers to the
# frames it passed through, and a frame holding that error would keep it, its frames and the upload's
# bytes in a cycle until the garbage collector runs.


def _open(data: bytes, on_error: Callable[[], APIError]) -> Image.Image:
    """Read the header only; the callers check the size before any pixel is decoded."""
    try:
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises many kinds for junk bytes
        raise on_error() from exc


def _load(image: Image.Image, on_error: Callable[[], APIError]) -> Image.Image:
    try:
        image.load()
    except MemoryError:  # the server's memory limit, not a bad picture: the app answers it as such
        raise
    except Exception as exc:  # truncated or corrupt data
        raise on_error() from exc
    return image


def dalle_header(upload: Upload) -> Image.Image:
    """A dall-e-2 input's header: a square PNG under 4 MB, not yet decoded."""
    if len(upload.data) >= DALLE_MAX_BYTES or not upload.data.startswith(PNG_MAGIC):
        raise Dalle.not_png_or_too_big()
    image = _open(upload.data, Dalle.not_png_or_too_big)
    w, h = image.size
    if max(w, h) > DALLE_MAX_SIDE:
        raise Dalle.too_many_pixels(w, h, DALLE_MAX_SIDE)
    if w != h:
        raise Dalle.not_square(w, h)
    return image


def dalle_image(upload: Upload) -> Image.Image:
    """A dall-e-2 input: a square PNG under 4 MB, fully decoded."""
    return _load(dalle_header(upload), Dalle.not_png_or_too_big)


def transparent_region(image: Image.Image) -> Image.Image | None:
    """Mode "L" mask, 255 where the image is fully transparent; None when it has no alpha at all."""
    if image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")  # not through a converted copy: that would double a large picture
    elif image.mode in ("P", "L", "RGB") and "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
    else:
        return None
    return alpha.point(lambda a: 255 if a == 0 else 0)


def dalle_edit_region(image: Image.Image, mask_upload: Upload | None) -> Image.Image:
    if mask_upload is None:
        if image.mode not in ("RGBA", "LA", "L"):
            raise Dalle.wrong_mode(image.mode)
        region = transparent_region(image)
        return region if region is not None else Image.new("L", image.size, 0)
    mask = dalle_image(mask_upload)
    if mask.size != image.size:
        raise Dalle.mask_size_mismatch(image.size, mask.size)
    region = transparent_region(mask)
    if region is None:
        raise Dalle.wrong_mode(mask.mode)
    return region


def gpt_header(upload: Upload) -> Image.Image:
    """A GPT image input's header: PNG, JPEG or WebP, within the size limits, not yet decoded."""
    if len(upload.data) >= GPT_MAX_BYTES:
        raise Gpt.file_too_large(upload.field, GPT_MAX_BYTES // (1024 * 1024))
    image = _open(upload.data, functools.partial(_bad_file, upload))
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise _bad_file(upload)
    w, h = image.size
    if w * h > GPT_MAX_PIXELS:
        raise bad(
            f"Invalid file '{upload.field}': image dimensions {w}x{h} are too large.",
            param=upload.field, code="image_too_large",
        )
    return image


def gpt_image(upload: Upload) -> Image.Image:
    return _load(gpt_header(upload), functools.partial(_bad_file, upload))


def gpt_edit_region(first: Image.Image, mask_upload: Upload | None) -> Image.Image | None:
    """Where to paint on the first image; None means "all of it, blended"."""
    if mask_upload is not None:
        return gpt_mask_region(first.size, mask_upload)
    region = transparent_region(first)
    if region is not None and region.getbbox() is not None:
        return region
    return None


def gpt_mask_region(first_size: tuple[int, int], mask_upload: Upload) -> Image.Image:
    """A GPT mask's region, checked against the first image's size (that image itself is not needed)."""
    mask = gpt_image(mask_upload)
    if mask.size != first_size:
        raise bad(
            "Invalid 'mask': the mask must have the same dimensions as the first image, "
            f"got {mask.size[0]}x{mask.size[1]} and {first_size[0]}x{first_size[1]} instead.",
            param="mask", code="invalid_value",
        )
    region = transparent_region(mask)
    mask.close()
    if region is None:
        raise bad("Invalid 'mask': the mask must have an alpha channel.", param="mask", code="invalid_value")
    return region


# --- a request's pictures, read within the memory they may take -----------------------------------


@dataclass
class Inputs:
    """What drawing needs of a request's input pictures, and nothing more."""

    source: Image.Image | None = None  # the first picture, decoded, at the size it will be drawn at
    region: Image.Image | None = None  # where to paint on it, at that size; None: all of it, blended (GPT)
    digest: str = ""  # sha256 of the pictures as sent: the drawing's seed depends on it
    count: int = 0  # pictures sent (each adds to the usage's input tokens)


class Stopped(Exception):
    """The caller stopped the reading (its client went away) between two pictures."""

    def __init__(self, decoded: int, total: int) -> None:
        super().__init__(f"The client went away while its pictures were read: {decoded} of {total} decoded.")


def read_inputs(p: Params, files: dict[str, list[Upload]], charge: Callable[[int], None] | None = None, *,
                cancel: threading.Event | None = None) -> Inputs:
    """Check, budget and decode a request's pictures (see the module's docstring). `charge(pixels)` counts
    the pixels about to be decoded against the run's budget, or raises; `cancel`, once set, stops the
    reading between two pictures (`Stopped`). Sets the request's size when it is "auto"."""
    image_parts = files.get("image", []) + files.get("image[]", [])
    masks = files.get("mask", [])
    if p.model.is_gpt:
        return _read_gpt(p, image_parts, masks[0] if masks else None, charge, cancel)
    return _read_dalle(p, image_parts, masks[0] if masks and p.route == "edits" else None, charge, cancel)


def _read_dalle(p: Params, image_parts: list[Upload], mask: Upload | None, charge: Callable[[int], None] | None,
                cancel: threading.Event | None) -> Inputs:
    if not image_parts:
        raise Dalle.required("image")
    first = image_parts[0]  # dall-e-2 draws from one picture; any other is not read
    image = dalle_header(first)
    pixels = _admit_pixels([image] + ([dalle_header(mask)] if mask is not None else []), charge)
    digest = hashlib.sha256(first.data).hexdigest()
    reading = _Reading(1 + (mask is not None), cancel)
    with DECODING.room(pixels, reading):
        reading.next(_load, image, Dalle.not_png_or_too_big)
        if p.route == "variations":  # brought to the drawing's size as `render.variation_of` would
            source = image.convert("RGB").resize((p.width, p.height), Image.Resampling.BILINEAR)
            image.close()
            return Inputs(source, None, digest, 1)
        source = _picture_at(image, p)
        region = dalle_edit_region(image, None) if mask is None else reading.next(dalle_edit_region, image, mask)
        if source is not image:
            image.close()
        return Inputs(source, _region_at(region, p), digest, 1)


def _read_gpt(p: Params, image_parts: list[Upload], mask: Upload | None, charge: Callable[[int], None] | None,
              cancel: threading.Event | None) -> Inputs:
    if not image_parts:
        raise Gpt.missing("image")
    if len(image_parts) > 16:
        raise Gpt.too_many_images(len(image_parts))
    headers = [gpt_header(u) for u in image_parts]
    pixels = _admit_pixels(headers + ([gpt_header(mask)] if mask is not None else []), charge)
    first_size = headers[0].size
    if p.size_requested in (None, "auto"):
        w, h = first_size
        p.width, p.height = (1536, 1024) if w > h * 1.2 else (1024, 1536) if h > w * 1.2 else (1024, 1024)
        p.size = f"{p.width}x{p.height}"
    digest = hashlib.sha256(b"".join(u.data for u in image_parts)).hexdigest()
    reading = _Reading(len(headers) + (mask is not None), cancel)
    with DECODING.room(pixels, reading):
        first = reading.next(_load, headers.pop(0), functools.partial(_bad_file, image_parts[0]))
        source = _picture_at(first, p)  # first: the full-size region is not yet there beside it
        region = None if mask is not None else gpt_edit_region(first, None)
        if source is not first:
            first.close()  # the full-size picture goes before the next is decoded
        region = _region_at(region, p)
        for header, upload in zip(headers, image_parts[1:]):
            reading.next(_load, header, functools.partial(_bad_file, upload))
            header.close()  # decoded to be checked, as the real API checks it; only the first is drawn from
        if mask is not None:
            region = _region_at(reading.next(gpt_mask_region, first_size, mask), p)
    return Inputs(source, region, digest, len(image_parts))


def _bad_file(upload: Upload) -> APIError:
    return Gpt.bad_file(upload.field, upload.content_type or "application/octet-stream")


def _admit_pixels(headers: list[Image.Image], charge: Callable[[int], None] | None) -> int:
    """The pixels the headers promise, within one request's limit and charged to the run; returns them."""
    total = sum(h.size[0] * h.size[1] for h in headers)
    if total > REQUEST_MAX_PIXELS:
        raise Gpt.request_too_many_pixels(total, REQUEST_MAX_PIXELS)
    if charge is not None:
        charge(total)
    return total


# The picture and its region are brought to the size drawn as the drawing itself would bring them
# (bilinear, nearest), once, here: so the full-size picture is dropped before any drawing starts.

def _picture_at(image: Image.Image, p: Params) -> Image.Image:
    size = (p.width, p.height)
    return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)


def _region_at(region: Image.Image | None, p: Params) -> Image.Image | None:
    size = (p.width, p.height)
    return region if region is None or region.size == size else region.resize(size, Image.Resampling.NEAREST)


class _Reading:
    """Pictures decoded one at a time; between two, a set `cancel` stops the reading."""

    def __init__(self, total: int, cancel: threading.Event | None) -> None:
        self.total, self.decoded, self.cancel = total, 0, cancel

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Stopped(self.decoded, self.total)

    def next(self, decode: Callable[..., Any], *args: Any) -> Any:
        self.check()
        result = decode(*args)
        self.decoded += 1
        return result


class _Pool:
    """Pixels being decoded at once in this process: a request takes room for its pictures before it decodes
    them, and gives it back after; it waits while there is none (and stops waiting if its client goes)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0
        self._changed = threading.Condition()

    @contextmanager
    def room(self, pixels: int, reading: _Reading) -> Iterator[None]:
        pixels = min(pixels, self.capacity)
        with self._changed:
            while self.used + pixels > self.capacity:
                reading.check()
                self._changed.wait(timeout=0.1)
            self.used += pixels
        try:
            yield
        finally:
            with self._changed:
                self.used -= pixels
                self._changed.notify_all()
            if pixels >= memory.LARGE_PIXELS:  # the large pictures are freed now: their memory goes back too
                memory.give_back()


DECODING = _Pool(DECODING_MAX_PIXELS)
