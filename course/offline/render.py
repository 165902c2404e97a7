"""Drawing the offline API's images with Pillow.

Nothing here is random in the global sense: every picture comes from a
`random.Random(seed)`, and the seed from the request, so the same request gives
the same bytes. A generated picture is visibly the prompt's: a gradient and
shapes coloured by its words (colour words such as "red" are honoured), the
prompt itself written across the bottom, and a small "offline" mark.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import textwrap
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Callable, Hashable

from PIL import Image, ImageColor, ImageDraw, ImageFont

STOPWORDS = frozenset(
    "a an the of in on at to and or with for from by is are was be as into over under this that it its".split()
)


class Kept:
    """Pictures kept for reuse (glyphs, gradient ramps), the least recently used dropped first, within
    `max_bytes` of pixels in all: a server drawing many sizes must not keep a picture of each for ever."""

    def __init__(self, max_bytes: int, max_items: int) -> None:
        self.max_bytes, self.max_items = max_bytes, max_items
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()  # two render threads draw at once

    def get(self, key: Hashable, make: Callable[[], object], size_of: Callable[[object], int]) -> object:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value = make()  # outside the lock: another thread may make the same one; either is kept
        size = size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            self.bytes -= old[1] if old is not None else 0
            self._items[key] = (value, size)
            self.bytes += size
            while self._items and (self.bytes > self.max_bytes or len(self._items) > self.max_items):
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped
        return value


def _pixel_bytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())


GLYPHS = Kept(max_bytes=16 * 1024 * 1024, max_items=4096)  # the characters of captions, per size
RAMPS = Kept(max_bytes=24 * 1024 * 1024, max_items=16)  # gradients' ramps, per picture size


def seed_for(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def _word_colour(word: str) -> tuple[int, int, int]:
    try:
        rgb = ImageColor.getrgb(word)
        return rgb[0], rgb[1], rgb[2]
    except ValueError:
        d = hashlib.md5(word.encode("utf-8", "surrogatepass")).digest()
        # Keep hashed colours saturated so that no picture comes out grey.
        r, g, b = d[0], d[1], d[2]
        lo = min(r, g, b)
        return tuple(min(255, int((c - lo) * 1.6) + 40) for c in (r, g, b))  # type: ignore[return-value]


def prompt_words(prompt: str) -> list[str]:
    words = [w for w in re.findall(r"[^\W\d_]+", prompt.lower()) if w not in STOPWORDS]
    return words or ["offline"]


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _glyph(char: str, size: int) -> tuple[Image.Image, int]:
    """One character's coverage mask and advance. Laying text out glyph by glyph from this cache is
    several times faster than asking FreeType for every line, and text is most of a picture's cost."""
    return GLYPHS.get((char, size), lambda: _make_glyph(char, size), lambda made: _pixel_bytes(made[0]))  # type: ignore


def _make_glyph(char: str, size: int) -> tuple[Image.Image, int]:
    font = _font(size)
    advance = max(1, round(font.getlength(char)))
    cell = Image.new("L", (advance + size // 2, size + size // 2), 0)
    ImageDraw.Draw(cell).text((0, 0), char, font=font, fill=255)
    return cell, advance


def _text_mask(text: str, size: int) -> Image.Image:
    glyphs = [_glyph(c, size) for c in text]
    width = sum(advance for _, advance in glyphs) + size // 2
    line = Image.new("L", (max(1, width), size + size // 2), 0)
    x = 0
    for cell, advance in glyphs:
        line.paste(cell, (x, 0), cell)
        x += advance
    return line


def _text_width(text: str, size: int) -> int:
    return sum(_glyph(c, size)[1] for c in text)


def _ramp(width: int, height: int) -> Image.Image:
    """A vertical 0..255 ramp of the given size, made once per size (in C, not pixel by pixel)."""
    return RAMPS.get((width, height), lambda: _make_ramp(width, height), _pixel_bytes)  # type: ignore[return-value]


def _make_ramp(width: int, height: int) -> Image.Image:
    return Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)


def _gradient(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    ramp = _ramp(width, height)
    bands = [ramp.point([top[c] + (bottom[c] - top[c]) * v // 255 for v in range(256)]) for c in range(3)]
    return Image.merge("RGB", bands)


def _shape(draw: ImageDraw.ImageDraw, rng: random.Random, kind: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
    r = int(min(w, h) * rng.uniform(0.08, 0.22))
    cx, cy = rng.randint(r, max(r, w - r)), rng.randint(r, max(r, int(h * 0.78) - r))
    outline = tuple(max(0, c - 90) for c in colour)
    width = max(1, min(w, h) // 128)
    if kind == 0:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=outline, width=width)
    elif kind == 1:
        draw.rectangle((cx - r, cy - r * 2 // 3, cx + r, cy + r * 2 // 3), fill=colour, outline=outline, width=width)
    elif kind == 2:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour, outline=outline)
    else:
        draw.regular_polygon((cx, cy, r), n_sides=5 + rng.randint(0, 3), rotation=rng.randint(0, 90), fill=colour)


def _caption(image: Image.Image, text: str, *, mark: str = "offline") -> int:
    """The prompt in a dark band along the bottom, and a small mark in the top right corner (none when
    `mark` is empty); returns the band's height."""
    w, h = image.size
    draw = ImageDraw.Draw(image, "RGBA")
    size = max(9, min(w, h) // 18)
    chars = max(8, int(w / (size * 0.55)))
    wrapped = textwrap.wrap(" ".join(text.split()), chars)
    lines = wrapped[:3] or [""]
    if len(wrapped) > 3:
        lines[-1] = lines[-1][: max(0, chars - 1)] + "…"
    band = (len(lines) * (size + 4)) + size // 2
    draw.rectangle((0, h - band, w, h), fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        image.paste((255, 255, 255), (size // 2, h - band + size // 4 + i * (size + 4)), _text_mask(line, size))
    if not mark:
        return band
    small = max(8, size * 2 // 3)
    tw = _text_width(mark, small)
    draw.rectangle((w - tw - size, 0, w, size + 2), fill=(255, 255, 255, 170))
    image.paste((40, 40, 40), (w - tw - size // 2, 1), _text_mask(mark, small))
    return band


def draw_prompt(prompt: str, width: int, height: int, seed: int, *, transparent: bool = False,
                caption: bool = True) -> Image.Image:
    rng = random.Random(seed)
    words = prompt_words(prompt)
    colours = [_word_colour(w) for w in words]
    named = [c for w, c in zip(words, colours) if w in ImageColor.colormap]
    top = named[0] if named else colours[0]
    bottom = named[1] if len(named) > 1 else colours[-1] if len(colours) > 1 else tuple(255 - c for c in top)
    image = _gradient(width, height, top, bottom).convert("RGBA")  # type: ignore[arg-type]
    if transparent:
        image.putalpha(0)
    draw = ImageDraw.Draw(image)
    for i, word in enumerate(words[:8]):
        kind = int(hashlib.md5(word.encode("utf-8", "surrogatepass")).digest()[3]) % 4
        fill = named[i % len(named)] if named and i % 2 == 0 else colours[i]
        _shape(draw, rng, kind, width, height, fill)
    if caption:
        _caption(image, prompt)
    return image if transparent else image.convert("RGB")


def variation_of(source: Image.Image, width: int, height: int, seed: int, index: int) -> Image.Image:
    """A variation: the input, resized, mirrored or tinted, with a few shapes in its own colours."""
    rng = random.Random(seed)
    base = source.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        base = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    channels = list(base.split())
    rng.shuffle(channels) if rng.random() < 0.3 else None
    base = Image.merge("RGB", channels)
    small = base.resize((4, 4), Image.Resampling.BOX)
    palette = [small.getpixel((x, y)) for y in range(4) for x in range(4)]
    tint = _gradient(width, height, palette[rng.randrange(16)], palette[rng.randrange(16)])
    image = Image.blend(base, tint, 0.25).convert("RGBA")
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        _shape(draw, rng, rng.randrange(4), width, height, palette[rng.randrange(16)])
    _caption(image, f"variation {index + 1}")
    return image.convert("RGB")


def apply_edit(source: Image.Image, editable: Image.Image, prompt: str, seed: int) -> Image.Image:
    """Paint the prompt's picture where `editable` (mode "1"/"L", non-zero = edit) says; keep every other pixel.
    Its caption goes across the widest row of the edited region, drawn whole there (not blended, not cut by
    the mask at the picture's bottom edge), so it stays readable on any edited picture."""
    w, h = source.size
    painted = draw_prompt(prompt, w, h, seed, caption=False).convert("RGBA")
    mask = editable.convert("L")
    opened = mask.point(lambda v: 255 if v else 0)
    box = opened.getbbox()
    if box is not None:
        rows = opened.resize((1, h), Image.Resampling.BOX)
        y = max(range(box[1], box[3]), key=lambda r: (rows.getpixel((0, r)), -abs(r - (box[1] + box[3]) // 2)))
        row = opened.crop((0, y, w, y + 1)).getbbox() or (box[0], 0, box[2], 1)
        x0, x1 = row[0], row[2]
        side = max(1, min(x1 - x0, box[3] - box[1]))
        strip = painted.crop((x0, 0, x1, side)).convert("RGB")  # as wide as that row, its caption band at its bottom
        band = _caption(strip, prompt, mark="")
        top = min(max(0, y - band // 2), h - band)
        painted.paste(strip.crop((0, side - band, x1 - x0, side)), (x0, top))
        whole = Image.new("L", (w, h), 0)
        whole.paste(opened.crop((0, top, w, top + band)), (0, top))
        mask = Image.composite(whole, mask, whole)  # full strength in the band, inside the region only
    out = source.convert("RGBA")
    out.paste(painted, (0, 0), mask)
    return out


def encode(image: Image.Image, fmt: str = "png", compression: int = 100) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, "PNG", compress_level=1)
    elif fmt == "jpeg":
        image.convert("RGB").save(buf, "JPEG", quality=max(1, compression))
    else:
        image.save(buf, "WEBP", quality=compression, method=0)
    return buf.getvalue()
