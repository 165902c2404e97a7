"""An `input_image` given by an http(s) URL, read offline.

The real API downloads the picture behind any fully qualified URL. The offline API reaches nothing
outside itself, so it reads only the pictures it served: a signed image URL it handed out earlier (a
DALL·E `response_format="url"` answer), still valid, is read from its image store, whatever host or
channel prefix the URL was reached through (the signature says it is ours). A URL of its own that
has expired, been altered or whose picture is gone is refused as the real API refuses a download that
fails ("Error while downloading <url>.", code `invalid_image_url`, param null, the words users have
published); any other URL is refused with the same code and words, and a sentence saying why the
offline API cannot fetch it and what to send instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from collections.abc import Callable
from typing import Any

from . import urls
from .errors import APIError, Gpt, bad
from .files import FileStore
from .storage import ImageStore
from .uploads import Upload

PRIVATE = "/private/"


def is_web_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def served_picture(url: str, param: str, secret: bytes, store: ImageStore, now: float) -> Upload:
    """The picture behind `url`, when the offline API served it and it is still valid; else the API's 400."""
    parts = urlsplit(url)
    at = parts.path.find(PRIVATE)
    if at < 0:
        raise cannot_fetch(url)
    path = parts.path[at:]
    verdict = urls.verify(secret, path, parts.query, now)
    if not verdict.ok:
        raise download_failed(url)
    image_id, _, ext = path.rsplit("/", 1)[-1].partition(".")
    data = store.load(image_id, ext, verdict.expires)
    if data is None:
        raise download_failed(url)
    return Upload(param, f"{image_id}.{ext}", urls.CONTENT_TYPES.get(ext, "application/octet-stream"), data)


def download_failed(url: str) -> APIError:
    """The real API's answer when the picture behind a URL cannot be downloaded."""
    return bad(f"Error while downloading {url}.", code="invalid_image_url")


def cannot_fetch(url: str) -> APIError:  # [ours] the real API's words, and why offline
    return bad(f"Error while downloading {url}. The offline API cannot fetch pictures from the internet: send the "
               "picture as a base64 data URL ('data:image/png;base64,...'), upload it with the Files API and pass "
               "its 'file_id', or use an image URL the offline API gave you.", code="invalid_image_url")


def referenced_picture(ref: Any, where: str, files: FileStore, served: Callable[[str, str], Upload],
                       channel: str | None) -> Upload:
    """A picture named by reference, as a JSON edit's `images` and the Responses API's `input_image` name them: by
    `file_id`, by a data URL, or by the http(s) URL of a picture the offline API served (`served(url, param)`:
    `served_picture` with the server's secret and store)."""
    if isinstance(ref, dict) and ref.get("file_id") is None and is_web_url(ref.get("image_url")):
        unknown = [k for k in ref if k not in ("image_url", "file_id")]
        if unknown:
            raise Gpt.unknown_parameter(f"{where}.{unknown[0]}")
        return served(ref["image_url"], f"{where}.image_url")
    return files.reference(ref, where, channel)
