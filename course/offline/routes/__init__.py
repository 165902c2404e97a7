"""The offline API's routes, by resource, on starlette's Router (`api`).

Each module answers one resource: `images` (generations, edits, variations), `files`, `models`,
`responses` (the Responses API's image tool), `blobs` (the pictures behind image URLs), and `control`
(the server's health, the grader's channels), and `codio_points` (the partial points a guide's code test sends
from the grader's box, by channel). A handler takes the shared `Services`, the request and
its log record, and returns a response or a `Streamed` (`endpoint`); `bodies` reads a request's body
as the API does. Whatever matches no route gets
the real API's 404, "Invalid URL (METHOD /path)", once through the request log like any answer.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Callable, NoReturn

from starlette.requests import Request
from starlette.routing import Route, Router

from .. import errors
from ..requestlog import Record
from ..services import Services
from . import blobs, files, images, models, responses
from .endpoint import Endpoint, Handler


def api(services: Services, lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None) -> Router:
    def at(path: str, handler: Handler, methods: set[str] | None = None) -> Route:
        route = Route(path, Endpoint(handler, services), methods=methods)
        route.methods = methods  # exactly these: starlette adds HEAD to GET, which the real API answers with its 404
        return route

    anything = Endpoint(invalid_url, services)
    return Router([
        at("/v1/images/generations", images.generations, {"POST"}),
        at("/v1/images/edits", images.edits, {"POST"}),
        at("/v1/images/variations", images.variations, {"POST"}),
        at("/v1/responses", responses.create, {"POST"}),
        at("/v1/responses/{response_id}", responses.retrieve, {"GET"}),
        at("/v1/responses/{response_id}", responses.delete, {"DELETE"}),
        at("/v1/responses/{response_id}/input_items", responses.list_input_items, {"GET"}),
        at("/v1/models", models.listing, {"GET"}),
        at("/v1/models/", models.retrieve, {"GET"}),
        at("/v1/models/{model_id}", models.retrieve, {"GET"}),
        at("/v1/files", files.answer),  # any method: the Files API tells its own shapes, once the key is known
        at("/v1/files/{rest:path}", files.answer),
        at("/private/{name:path}", blobs.download, {"GET", "HEAD"}),
        Route("/{path:path}", anything),  # before starlette's 405 for a route's other methods: the API's 404
    ], redirect_slashes=False, default=anything, lifespan=lifespan)


async def invalid_url(services: Services, request: Request, record: Record) -> NoReturn:
    raise errors.invalid_url(request.method, request.url.path)
