"""Reading uploaded images: the checks the real API makes, in its order.

Pillow reads only the header before `load()`, so sizes are checked before a
single pixel is decoded: a 4 MB PNG that claims 60000x60000 pixels (a
decompression bomb) is refused without being inflated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from .errors import APIError, Dalle, Gpt, bad

DALLE_MAX_BYTES = 4 * 1024 * 1024
GPT_MAX_BYTES = 50 * 1024 * 1024
DALLE_MAX_SIDE = 4096  # [ours] the largest input side accepted for dall-e-2
GPT_MAX_PIXELS = 8192 * 8192  # [ours]
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


def _open(data: bytes, on_error: APIError) -> Image.Image:
    """Read the header only; the callers check the size before any pixel is decoded."""
    try:
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises many kinds for junk bytes
        raise on_error from exc


def _load(image: Image.Image, on_error: APIError) -> Image.Image:
    try:
        image.load()
    except Exception as exc:  # truncated or corrupt data
        raise on_error from exc
    return image


def dalle_image(upload: Upload) -> Image.Image:
    """A dall-e-2 input: a square PNG under 4 MB, fully decoded."""
    if len(upload.data) >= DALLE_MAX_BYTES or not upload.data.startswith(PNG_MAGIC):
        raise Dalle.not_png_or_too_big()
    image = _open(upload.data, Dalle.not_png_or_too_big())
    w, h = image.size
    if max(w, h) > DALLE_MAX_SIDE:
        raise Dalle.too_many_pixels(w, h, DALLE_MAX_SIDE)
    if w != h:
        raise Dalle.not_square(w, h)
    return _load(image, Dalle.not_png_or_too_big())


def transparent_region(image: Image.Image) -> Image.Image | None:
    """Mode "L" mask, 255 where the image is fully transparent; None when it has no alpha at all."""
    if image.mode in ("RGBA", "LA") or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        alpha = image.convert("RGBA").getchannel("A")
        return alpha.point(lambda a: 255 if a == 0 else 0)
    return None


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


def gpt_image(upload: Upload) -> Image.Image:
    if len(upload.data) >= GPT_MAX_BYTES:
        raise Gpt.file_too_large(upload.field, GPT_MAX_BYTES // (1024 * 1024))
    error = Gpt.bad_file(upload.field, upload.content_type or "application/octet-stream")
    image = _open(upload.data, error)
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise error
    w, h = image.size
    if w * h > GPT_MAX_PIXELS:
        raise bad(
            f"Invalid file '{upload.field}': image dimensions {w}x{h} are too large.",
            param=upload.field, code="image_too_large",
        )
    return _load(image, error)


def gpt_edit_region(first: Image.Image, mask_upload: Upload | None) -> Image.Image | None:
    """Where to paint on the first image; None means "all of it, blended"."""
    if mask_upload is not None:
        mask = gpt_image(mask_upload)
        if mask.size != first.size:
            raise bad(
                "Invalid 'mask': the mask must have the same dimensions as the first image, "
                f"got {mask.size[0]}x{mask.size[1]} and {first.size[0]}x{first.size[1]} instead.",
                param="mask", code="invalid_value",
            )
        region = transparent_region(mask)
        if region is None:
            raise bad("Invalid 'mask': the mask must have an alpha channel.", param="mask", code="invalid_value")
        return region
    region = transparent_region(first)
    if region is not None and region.getbbox() is not None:
        return region
    return None
