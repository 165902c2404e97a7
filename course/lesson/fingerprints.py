"""An image's fingerprints: the sha256 of its file and the sha256 of its pixels.

The offline API logs both for every image it sends; a step's `file_saved` check compares a saved
picture with them. The file's hash matches a picture written as it came; the pixels' hash also
matches one opened and saved again without loss (a PNG re-saved with Pillow, say), which a lossy
format cannot promise.

A saved picture is the learner's file, read by the grader's own process, outside any box: it is
judged from its header first and decoded only when it could be one the API sent (`too_large`).
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import Any

# The largest picture any of the course's models makes: the free sizes of the GPT image models stop
# at 3840x2160 (course/offline/params.py). A file claiming more pixels cannot be one the API sent, so
# it is never decoded: a PNG of a few hundred KB can claim 13,300x13,300 pixels, 700 MB once decoded.
LARGEST = (3840, 2160)
MAX_PIXELS = LARGEST[0] * LARGEST[1]
# Past this a file cannot be a picture the API sent (3840x2160 pixels stored without any compression
# take 33 MB), so it is not read to be hashed.
MAX_FILE_BYTES = 48 * 1024 * 1024


def too_large(width: int, height: int, file_bytes: int = 0) -> str:
    """Why a saved picture of this size cannot be one the API sent, in words; "" when it could be."""
    if width * height > MAX_PIXELS:
        return (f"is {width}x{height}, more pixels than any picture the API makes "
                f"({LARGEST[0]}x{LARGEST[1]} at most)")
    if file_bytes > MAX_FILE_BYTES:
        return f"is {math.ceil(file_bytes / 2**20 * 10) / 10:.1f} MB, larger than any picture the API sends"
    return ""


def pixels_digest(image: Any) -> str:
    """sha256 of the picture's size and RGBA pixels (a PIL image)."""
    rgba = image.convert("RGBA")
    digest = hashlib.sha256(f"{rgba.width}x{rgba.height}\0".encode())
    digest.update(rgba.tobytes())
    return digest.hexdigest()


def of_payload(payload: bytes, picture: Any = None, *, lossless: bool = False) -> dict[str, str]:
    """The fingerprints of an encoded image. `picture` (what was encoded) spares a decode when the
    encoding is lossless, since its pixels are then exactly the file's."""
    if picture is None or not lossless:
        from PIL import Image

        with Image.open(io.BytesIO(payload)) as decoded:
            decoded.load()
            picture = decoded.copy()
    return {"sha256": hashlib.sha256(payload).hexdigest(), "pixels": pixels_digest(picture)}


def of_file(data: bytes) -> dict[str, str] | None:
    """The fingerprints of a saved file, or None when it is not a picture Pillow can open, or one too
    large to be any the API sent (its header says so: it is not decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if too_large(image.width, image.height, len(data)):
                return None
            image.load()
            pixels = pixels_digest(image)
    except Exception:  # noqa: BLE001 - any undecodable file is simply "not a picture"
        return None
    return {"sha256": hashlib.sha256(data).hexdigest(), "pixels": pixels}
