"""/private/…: the pictures behind signed image URLs, answered as the blob store behind the real ones
answers (its headers and XML errors, not the API's), and without a key, as a browser fetches them."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from .. import urls
from ..channels import prefix_of
from ..requestlog import Record
from ..services import Services


async def download(services: Services, request: Request, record: Record) -> Response:
    now = services.clock()
    path = request.url.path
    record.urls = [as_requested(request)]
    headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": urls.SV}
    verdict = urls.verify(services.secret, path, request.url.query, now)
    name = path.rsplit("/", 1)[-1]
    image_id, _, ext = name.partition(".")
    record.image_ids = [image_id]
    if not verdict.ok:
        record.error_code = verdict.reason
        record.error_message = verdict.detail
        return Response(urls.forbidden_xml(verdict, headers["x-ms-request-id"], now), 403,
                        headers=headers, media_type="application/xml")
    data = services.store.load(image_id, ext, verdict.expires)
    if data is None:
        record.error_code = "BlobNotFound"
        return Response(urls.not_found_xml(headers["x-ms-request-id"], now), 404, headers=headers,
                        media_type="application/xml")
    headers["content-disposition"] = "inline"
    return Response(data, 200, headers=headers, media_type=urls.CONTENT_TYPES.get(ext, "application/octet-stream"))


def as_requested(request: Request) -> str:
    """The URL the client asked for, the channel's prefix included."""
    url = request.url
    return str(url.replace(path=prefix_of(request.scope) + url.path))
