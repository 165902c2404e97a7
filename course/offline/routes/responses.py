"""/v1/responses: the Responses API's image tool (see `course.offline.responses` for what it does)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..budget import shortened
from ..errors import Responses
from ..requestlog import Record
from ..responses import Turn, blocked_error, choose_action, read_request, row_params
from ..services import Services
from ..streaming import Streamed
from .bodies import expect, json_object


async def create(services: Services, request: Request, record: Record) -> Response | Streamed:
    services.identify(request, record)
    services.strike()
    expect(request, "application/json")
    body = await json_object(request, record, services.config.max_body)
    record.params = shortened(row_params(body))  # type: ignore[assignment]  # its data URLs cut at once
    record.model = body["model"] if isinstance(body.get("model"), str) else None
    ask = read_request(services.files, body, record)
    previous_id = ask.body.get("previous_response_id")
    if previous_id is not None:
        ask.previous = await run_in_threadpool(services.responses.load, previous_id)
        if ask.previous is None:
            raise Responses.previous_not_found(previous_id)
    choose_action(ask)
    record.params["action"] = ask.action
    if ask.action == "edit":
        pictures = {"image": [ask.source]} if ask.source else {}
        if ask.mask is not None:
            pictures["mask"] = [ask.mask]
        ask.inputs = await services.read_inputs(ask.p, pictures, request, record)
    ask.blocked = bool(services.policy.blocked(ask.prompt))
    limits = {} if ask.blocked else services.admit(ask.p, record)
    if ask.blocked:
        record.error_code = "moderation_blocked"
        record.error_message = blocked_error(record)["message"]
    turn = Turn(ask, record, services.producer, services.responses, services.clock)
    record.params["partial_images"] = 0 if ask.blocked else ask.p.partial_images
    if ask.p.stream:
        return Streamed(turn.events, headers=limits)
    return JSONResponse(await services.renderers.run_for(request, turn.complete), headers=limits)
