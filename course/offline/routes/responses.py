"""/v1/responses: the Responses API's image tool (see `course.offline.responses` for what it does), and the
responses it stored: retrieve, delete, and list their input items (`course.offline.input_items`)."""

from __future__ import annotations

import functools

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import image_urls, input_items
from ..budget import shortened
from ..errors import Responses
from ..requestlog import Record
from ..responses import Turn, blocked_error, call_picture, choose_action, read_pictures, read_request, row_params
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
    ask = read_request(body, record)
    served = functools.partial(image_urls.served_picture, secret=services.secret, store=services.store,
                               now=services.clock())
    await run_in_threadpool(read_pictures, ask, services.files, served, record.channel)
    previous_id = ask.body.get("previous_response_id")
    if previous_id is not None:
        ask.previous = await run_in_threadpool(services.responses.load, previous_id)
        if ask.previous is None:
            raise Responses.previous_not_found(previous_id)
    await run_in_threadpool(call_picture, ask, services.responses)
    choose_action(ask)
    record.params["action"] = ask.action
    if ask.action == "edit":
        pictures = {"image": [ask.source, *ask.more]} if ask.source else {}
        if ask.mask is not None:
            pictures["mask"] = [ask.mask]
        ask.inputs = await services.read_inputs(ask.p, pictures, request, record)
    ask.blocked = bool(services.policy.blocked(ask.prompt))
    limits = {} if ask.blocked else services.admit(ask.p, record)
    limits.update(services.meter.take(record.key or "", estimated_tokens(ask.body, ask.prompt)))
    if ask.blocked:
        record.error_code = "moderation_blocked"
        record.error_message = blocked_error(record)["message"]
    turn = Turn(ask, record, services.producer, services.responses, services.clock)
    record.params["partial_images"] = 0 if ask.blocked else ask.p.partial_images
    if ask.p.stream:
        return Streamed(turn.events, headers=limits)
    return JSONResponse(await services.renderers.run_for(request, turn.complete), headers=limits)


def estimated_tokens(body: dict[str, object], prompt: str) -> int:
    """What a request counts against the tokens per minute: its text, a token for every four characters,
    and the most it may write (`max_output_tokens`, else the image call and message of an answer)."""
    instructions = body.get("instructions")
    written = body.get("max_output_tokens")
    text = len(prompt) + (len(instructions) if isinstance(instructions, str) else 0)
    return 1 + text // 4 + (written if isinstance(written, int) else 100)


async def retrieve(services: Services, request: Request, record: Record) -> Response:
    """GET /v1/responses/{id}: the Response as it was sent, while it is stored."""
    services.identify(request, record)
    response_id = request.path_params["response_id"]
    if request.query_params.get("stream") == "true":
        raise Responses.not_offline("stream", "replaying a stored response's events")
    answer = await run_in_threadpool(services.responses.answer, response_id)
    if answer is None:
        raise Responses.response_not_found(response_id)
    return JSONResponse(answer["response"])


async def delete(services: Services, request: Request, record: Record) -> Response:
    """DELETE /v1/responses/{id}: forget a stored response (a follow-up can no longer continue it)."""
    services.identify(request, record)
    response_id = request.path_params["response_id"]
    if not await run_in_threadpool(services.responses.delete, response_id):
        raise Responses.response_not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})


async def list_input_items(services: Services, request: Request, record: Record) -> Response:
    """GET /v1/responses/{id}/input_items: a page of the items the response was made from."""
    services.identify(request, record)
    response_id = request.path_params["response_id"]
    answer = await run_in_threadpool(services.responses.answer, response_id)
    if answer is None:
        raise Responses.response_not_found(response_id)
    includes = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    return JSONResponse(input_items.page(answer["input_items"], dict(request.query_params), includes))
