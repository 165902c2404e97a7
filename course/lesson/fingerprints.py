"""An image's fingerprints: the sha256 of its file and the sha256 of its pixels.

The offline API logs both for every image it sends; a step's `file_saved` check compares a saved
picture with them. The file's hash matches a picture written as it came; the pixels' hash also
matches one opened and saved again without loss (a PNG re-saved with Pillow, say), which a lossy
format cannot promise.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any


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
    """The fingerprints of a saved file, or None when it is not a picture Pillow can open."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels = pixels_digest(image)
    except Exception:  # noqa: BLE001 - any undecodable file is simply "not a picture"
        return None
    return {"sha256": hashlib.sha256(data).hexdigest(), "pixels": pixels}
