"""/v1/images: generations, edits (a form with pictures, or JSON naming them) and variations."""

from __future__ import annotations

import functools
import threading
from typing import Any, Iterator

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors, image_urls, params, uploads
from ..errors import Dalle, Gpt
from ..produce import NO_INPUTS
from ..requestlog import Record
from ..services import Services
from ..streaming import Streamed
from .bodies import expect, json_object, json_value, media_type, refuse_too_large

Pictures = dict[str, list[uploads.Upload]]  # by form field: "image", "image[]", "mask"


async def generations(services: Services, request: Request, record: Record) -> Response | Streamed:
    services.identify(request, record)
    services.strike()
    expect(request, "application/json")
    fields = await json_value(request, record, services.config.max_body)
    record.params = fields if isinstance(fields, dict) else {"_body": fields}
    if not isinstance(fields, dict):
        raise Dalle.not_type(fields, "object", None)
    record.model = fields.get("model") if isinstance(fields.get("model"), str) else "dall-e-2"
    p = params.parse("generations", fields)
    record.model = p.model.id
    limits = services.admit(p, record)
    issuer = services.issuer(request, record)
    if p.stream:
        return streamed(services, p, NO_INPUTS, record, limits)
    body = await services.renderers.run_for(request, services.producer.respond, p, issuer, NO_INPUTS,
                                            record.image_ids, record.urls, record.images)
    return JSONResponse(body, headers=limits)


async def edits(services: Services, request: Request, record: Record) -> Response | Streamed:
    services.identify(request, record)
    services.strike()
    if media_type(request) == "application/json":
        return await json_edit(services, request, record)
    return await with_uploads("edits", services, request, record)


async def variations(services: Services, request: Request, record: Record) -> Response | Streamed:
    services.identify(request, record)
    services.strike()
    return await with_uploads("variations", services, request, record)


async def with_uploads(route: str, services: Services, request: Request, record: Record) -> Response | Streamed:
    """An edit or a variation sent as a form, its pictures uploaded with it."""
    expect(request, "multipart/form-data")
    if "boundary=" not in request.headers.get("content-type", ""):
        raise errors.no_boundary()
    refuse_too_large(request, services.config.max_body)
    fields, pictures = await read_form(request)
    record.params = fields
    record.model = fields["model"] if isinstance(fields.get("model"), str) else "dall-e-2"
    p = params.parse(route, fields, form=True)
    record.model = p.model.id
    return await edit_with(services, p, pictures, request, record)


async def read_form(request: Request) -> tuple[dict[str, Any], Pictures]:
    """A form's fields (an uploaded picture described) and its pictures."""
    try:
        form = await request.form(max_files=32, max_fields=64, max_part_size=1024 * 1024)
    except MultiPartException as exc:
        raise errors.bad_multipart(str(exc)) from None
    fields: dict[str, Any] = {}
    pictures: Pictures = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                upload = uploads.Upload(name, value.filename or "", value.content_type or "", data)
                pictures.setdefault(name, []).append(upload)
                fields[name] = upload.describe() if name not in fields else [*as_list(fields[name]), upload.describe()]
            else:
                fields[name] = value
    finally:
        await form.close()
    return fields, pictures


async def json_edit(services: Services, request: Request, record: Record) -> Response | Streamed:
    """An edit sent as JSON: `images` (and `mask`) name pictures by a data URL, an uploaded file's id, or the URL of
    a picture the offline API served (`image_urls`)."""
    fields = await json_object(request, record, services.config.max_body)
    model = fields.get("model")
    record.model = model if isinstance(model, str) else "dall-e-2"
    resolved = params.resolve_model("edits", model)
    if not resolved.is_gpt:
        raise Gpt.json_edit_needs_gpt(resolved.id)
    refs = fields.get("images")
    if refs is None:
        raise Gpt.missing("images")
    if not isinstance(refs, list):
        raise Gpt.invalid_type("images", "array", refs)
    if not refs:
        raise Gpt.missing("images")
    if len(refs) > 16:
        raise Gpt.too_many_images(len(refs))
    served = functools.partial(image_urls.served_picture, secret=services.secret, store=services.store,
                               now=services.clock())

    def one(ref: Any, where: str) -> uploads.Upload:
        return image_urls.referenced_picture(ref, where, services.files, served, record.channel)

    pictures = {"image[]": [one(ref, f"images[{i}]") for i, ref in enumerate(refs)]}
    if fields.get("mask") is not None:
        pictures["mask"] = [one(fields["mask"], "mask")]
    rest = {k: v for k, v in fields.items() if k not in ("images", "mask")}
    p = params.parse("edits", {**rest, "image": "(by reference)"})
    record.model = p.model.id
    return await edit_with(services, p, pictures, request, record)


async def edit_with(services: Services, p: params.Params, pictures: Pictures, request: Request,
                    record: Record) -> Response | Streamed:
    inputs = await services.read_inputs(p, pictures, request, record)
    limits = services.admit(p, record)
    if p.stream:
        return streamed(services, p, inputs, record, limits)
    issuer = services.issuer(request, record)
    body = await services.renderers.run_for(request, services.producer.respond, p, issuer, inputs,
                                            record.image_ids, record.urls, record.images)
    return JSONResponse(body, headers=limits)


def streamed(services: Services, p: params.Params, inputs: uploads.Inputs, record: Record,
             limits: dict[str, str]) -> Streamed:
    def events(cancel: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from services.producer.events(p, inputs, record.images)

    return Streamed(events, headers=limits)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
