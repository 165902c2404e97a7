"""Small images built in memory for upload tests."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageChops, ImageDraw, ImageStat


def png(size: tuple[int, int] = (64, 64), mode: str = "RGBA", hole: bool = False, colour: tuple = (30, 120, 200)) -> bytes:
    """A picture with a pattern; `hole=True` makes its centre fully transparent (alpha 0)."""
    image = Image.new("RGBA", size, colour + (255,))
    draw = ImageDraw.Draw(image)
    w, h = size
    for x in range(0, w, max(1, w // 8)):
        draw.line((x, 0, x, h), fill=(250, 200, 40, 255))
    if hole:
        draw.rectangle((w // 4, h // 4, 3 * w // 4 - 1, 3 * h // 4 - 1), fill=(0, 0, 0, 0))
    buf = io.BytesIO()
    image.convert(mode).save(buf, "PNG")
    return buf.getvalue()


def mask(size: tuple[int, int] = (64, 64)) -> bytes:
    """An opaque mask with a transparent centre: edit only the middle."""
    return png(size, "RGBA", hole=True, colour=(0, 0, 0))


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def picture(b64: str) -> Image.Image:
    """A base64 image of a response, decoded and loaded."""
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def sharpness(image: Image.Image) -> float:
    """How much detail a picture has: the mean difference to itself shifted by one pixel."""
    rgb = image.convert("RGB")
    return difference(rgb, ImageChops.offset(rgb, 1, 0))
