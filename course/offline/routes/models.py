"""/v1/models: every model the offline API knows, and one by its id."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors
from ..models import Model, all_models
from ..requestlog import Record
from ..services import Services


async def listing(services: Services, request: Request, record: Record) -> Response:
    services.identify(request, record)
    return JSONResponse({"object": "list", "data": [card(m) for m in all_models().values()]})


async def retrieve(services: Services, request: Request, record: Record) -> Response:
    """One model; /v1/models/ (no id) is the API's 404 for the model ''."""
    services.identify(request, record)
    model_id = request.path_params.get("model_id", "")
    model = all_models().get(model_id)
    if model is None:
        raise errors.model_not_found(model_id)
    return JSONResponse(card(model))


def card(m: Model) -> dict[str, Any]:
    return {"id": m.id, "object": "model", "created": m.created, "owned_by": "system", "shutdown_date": m.retired}
