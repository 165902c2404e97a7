"""/v1/files: the Files API, as far as pictures for edits need it: create, list, retrieve, content, delete.

A run sees only the files it uploaded, as an organisation sees its own.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors, files
from ..errors import Gpt
from ..requestlog import Record
from ..services import Services
from .bodies import expect, refuse_too_large


async def answer(services: Services, request: Request, record: Record) -> Response:
    """Any request under /v1/files, once its key is known: the Files API's own shapes, or its 404."""
    services.identify(request, record)
    method, parts = request.method, request.url.path.strip("/").split("/")[2:]
    if not parts and method == "POST":
        return await upload(services, request, record)
    if not parts and method == "GET":
        return listing(services, request, record)
    if len(parts) == 1 and method == "GET":
        return JSONResponse(card(services, parts[0], record))
    if len(parts) == 1 and method == "DELETE":
        card(services, parts[0], record)
        services.files.delete(parts[0], record.channel)
        return JSONResponse({"id": parts[0], "object": "file", "deleted": True})
    if len(parts) == 2 and parts[1] == "content" and method == "GET":
        data = services.files.content(parts[0], record.channel)
        if data is None:
            raise errors.no_such_file_object(parts[0])
        return Response(data, 200, media_type="application/octet-stream")
    raise errors.invalid_url(method, request.url.path)


def listing(services: Services, request: Request, record: Record) -> Response:
    cards = services.files.cards(record.channel)
    query = request.query_params
    purpose = query.get("purpose")
    if purpose:
        cards = [c for c in cards if c["purpose"] == purpose]
    return JSONResponse(files.page(cards, query.get("after"), query.get("limit"), query.get("order")))


def card(services: Services, file_id: str, record: Record) -> dict[str, object]:
    found = services.files.card(file_id, record.channel)
    if found is None:
        raise errors.no_such_file_object(file_id)
    return found


async def upload(services: Services, request: Request, record: Record) -> Response:
    expect(request, "multipart/form-data")
    refuse_too_large(request, services.config.max_body)
    try:
        form = await request.form(max_files=1, max_fields=8)
    except MultiPartException as exc:
        raise errors.bad_multipart(str(exc)) from None
    try:
        picture, purpose = form.get("file"), form.get("purpose")
        anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
        data = await picture.read() if isinstance(picture, UploadFile) else None
        filename = picture.filename or "upload" if isinstance(picture, UploadFile) else ""
    finally:
        await form.close()
    record.params = {"purpose": purpose, "file": {"filename": filename, "bytes": len(data or b"")}}
    if anchor is not None or seconds is not None:
        record.params["expires_after"] = {"anchor": anchor, "seconds": seconds}
    if data is None:
        raise Gpt.missing("file")
    if purpose is None:
        raise Gpt.missing("purpose")
    if purpose not in files.PURPOSES:
        raise files.invalid_purpose(purpose)
    expires_in = files.expiry(anchor, seconds)
    made = await run_in_threadpool(services.files.create, filename, str(purpose), data, record.channel, expires_in)
    return JSONResponse(made)
