"""The Responses API's image tool, through the real SDK (sync and async) against a server on loopback.

A response must validate as the SDK's own `Response`, carry the picture the Images API draws for the
same prompt and settings, stream the API's events in order with increasing sequence numbers, edit the
last picture when continued with `previous_response_id` (across a restart too), refuse every other
use of /v1/responses with a 400 that says why, and leave one request-log row per request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import typing
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image, ImageStat

from course.offline.requestlog import read_log
from tests.pngs import difference, picture, sharpness

KEY = "sk-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "gpt-5.5"
FAST = {"type": "image_generation", "size": "1024x640", "quality": "low"}  # the smallest size the pixel budget allows

MESSAGE_EVENTS = ["response.output_item.added", "response.content_part.added", "response.output_text.delta",
                  "response.output_text.done", "response.content_part.done", "response.output_item.done"]


def blueness(image: Image.Image) -> float:
    r, _, b = ImageStat.Stat(image.convert("RGB")).mean
    return b - r


def expected_events(partial: int) -> list[str]:
    """The API's order: the response, the image call (its partial pictures), then the message, then done."""
    return (["response.created", "response.in_progress", "response.output_item.added",
             "response.image_generation_call.in_progress", "response.image_generation_call.generating"]
            + ["response.image_generation_call.partial_image"] * partial
            + ["response.image_generation_call.completed", "response.output_item.done"]
            + MESSAGE_EVENTS + ["response.completed"])


def collapse(types: list[str]) -> list[str]:
    """Several text deltas count as one step of the sequence."""
    out: list[str] = []
    for t in types:
        if not (t == "response.output_text.delta" and out and out[-1] == t):
            out.append(t)
    return out


def rows(server: Any) -> list[Any]:
    return [r for r in read_log(server.data_dir) if r.route == "/v1/responses"]


# --- the models -------------------------------------------------------------------------------


def test_every_model_the_installed_sdks_types_list_is_accepted(server: Any) -> None:
    """The SDK's ChatModel, ResponsesModel and ImageModel literals, read from its source, are what the offline API
    takes: a newer SDK's models are accepted the day it is installed (the pinned tables only add to them)."""
    from openai.types.image_model import ImageModel
    from openai.types.shared.chat_model import ChatModel
    from openai.types.shared.responses_model import ResponsesModel

    from course.offline.models import all_models, get
    from course.offline.responses import accepted_models, response_models
    from course.offline.sdk_types import literal_models

    chat = list(typing.get_args(ChatModel))
    own = [m for arg in typing.get_args(ResponsesModel) if typing.get_origin(arg) is typing.Literal
           for m in typing.get_args(arg) if m not in chat]
    assert list(literal_models("ChatModel")) == chat and [m for m in literal_models("ResponsesModel") if m not in chat] == own
    assert set(chat) | set(own) <= accepted_models()
    assert set(typing.get_args(ImageModel)) <= set(all_models())
    default = get(response_models()["default_image_model"])
    assert default is not None and default.is_gpt
    client = server.client()
    newest_chat = chat[0]
    r = client.responses.create(model=newest_chat, input="a red fox", tools=[FAST])
    assert r.model == newest_chat and r.output[0].type == "image_generation_call"


def test_a_model_newer_than_the_tables_is_served_and_said_once(tmp_path: Path, monkeypatch: Any) -> None:
    """An SDK newer than the project: its new image model answers as the table's newest GPT model does, and the
    server says so once when it starts."""
    from course.offline import models, sdk_types

    real = sdk_types.literal_models
    monkeypatch.setattr(sdk_types, "literal_models",
                        lambda name: (*real(name), "gpt-image-9-test") if name == "ImageModel" else real(name))
    for cached in (models.all_models, models.newer_than_table):
        cached.cache_clear()
    try:
        model = models.get("gpt-image-9-test")
        newest = max((m for m in models._table().values() if m.is_gpt), key=lambda m: m.created)
        assert model is not None and model.is_gpt and model.sizes == newest.sizes and model.retired is None
        note = models.unknown_models_note()
        assert "gpt-image-9-test" in note and newest.id in note
    finally:
        monkeypatch.undo()
        for cached in (models.all_models, models.newer_than_table):
            cached.cache_clear()
    assert models.get("gpt-image-9-test") is None and models.unknown_models_note() == ""


# --- one response -------------------------------------------------------------------------------


def test_create_returns_the_picture_and_a_message(server: Any) -> None:
    from openai.types.responses import Response
    from openai.types.responses.response_output_item import ImageGenerationCall

    client = server.client()
    r = client.responses.create(model=MODEL, input="a red fox in the snow", tools=[FAST])
    again = Response.model_validate(r.model_dump())
    assert again.id == r.id and r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == MODEL and r.previous_response_id is None
    assert [o.type for o in r.output] == ["image_generation_call", "message"]
    call = r.output[0]
    assert isinstance(call, ImageGenerationCall) and call.id.startswith("ig_") and call.status == "completed"
    assert (call.size, call.quality, call.background, call.output_format, call.action) == \
        ("1024x640", "low", "opaque", "png", "generate")
    assert call.revised_prompt == "a red fox in the snow"
    image = picture(call.result or "")
    assert image.size == (1024, 640) and image.format == "PNG"
    assert "offline stand-in" in r.output_text and r.id in r.output_text
    assert r.usage is not None and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0
    assert r.tool_usage is not None and r.tool_usage.image_gen.output_tokens > 0
    assert r.tools[0].type == "image_generation" and r.tools[0].size == "1024x640"  # type: ignore[union-attr]
    assert r.tools[0].model == "gpt-image-2.6-sunburst"  # type: ignore[union-attr]
    # The very picture the Images API draws for the same prompt and settings.
    same = client.images.generate(model="gpt-image-2.6-sunburst", prompt="a red fox in the snow", size="1024x640",
                                  quality="low")
    assert same.data and same.data[0].b64_json == call.result
    [row] = rows(server)
    assert row.status == 200 and row.model == MODEL and row.error_code is None
    assert row.params == {"model": MODEL, "input": "a red fox in the snow", "previous_response_id": None,
                          "stream": False, "tool": FAST, "tool_types": ["image_generation"], "action": "generate",
                          "partial_images": 0}
    payload = base64.b64decode(call.result or "")
    assert [i["sha256"] for i in row.images] == [hashlib.sha256(payload).hexdigest()]
    assert row.images[0]["total_tokens"] == str(r.tool_usage.image_gen.total_tokens)


@pytest.mark.parametrize(("options", "fmt", "transparent"), [
    ({"output_format": "png", "background": "transparent"}, "PNG", True),
    ({"output_format": "webp", "background": "transparent", "output_compression": 80}, "WEBP", True),
    ({"output_format": "jpeg", "output_compression": 40}, "JPEG", False),
])
def test_tool_options_are_honoured(server: Any, options: dict[str, Any], fmt: str, transparent: bool) -> None:
    client = server.client()
    tool = {"type": "image_generation", "size": "1152x768", "quality": "medium", "moderation": "low", **options}
    r = client.responses.create(model="gpt-5.4-mini", input="a small green star", tools=[tool])
    call = r.output[0]
    image = picture(call.result or "")  # type: ignore[union-attr]
    assert (image.format, image.size) == (fmt, (1152, 768))
    assert call.background == ("transparent" if transparent else "opaque")  # type: ignore[union-attr]
    assert call.output_format == options["output_format"] and call.quality == "medium"  # type: ignore[union-attr]
    if transparent:
        alpha = image.convert("RGBA").getchannel("A")
        assert alpha.getextrema()[0] == 0, "a transparent background has transparent pixels"
    assert r.tools[0].moderation == "low"  # type: ignore[union-attr]


def test_quality_and_compression_change_the_answer(server: Any) -> None:
    client = server.client()
    base = {"type": "image_generation", "size": "1024x640", "output_format": "jpeg"}
    low = client.responses.create(model=MODEL, input="a lamp", tools=[{**base, "output_compression": 10}])
    high = client.responses.create(model=MODEL, input="a lamp", tools=[{**base, "output_compression": 95}])
    assert len(low.output[0].result or "") < len(high.output[0].result or "")  # type: ignore[union-attr]
    cheap = client.responses.create(model=MODEL, input="a lamp", tools=[{**base, "quality": "low"}])
    dear = client.responses.create(model=MODEL, input="a lamp", tools=[{**base, "quality": "high"}])
    assert cheap.tool_usage and dear.tool_usage
    assert cheap.tool_usage.image_gen.output_tokens < dear.tool_usage.image_gen.output_tokens


# --- streamed --------------------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [0, 2])
def test_streamed_events_in_the_apis_order(server: Any, partial: int) -> None:
    from openai.types.responses import (ResponseCompletedEvent, ResponseImageGenCallPartialImageEvent,
                                        ResponseTextDeltaEvent)

    client = server.client()
    tool = {**FAST, "partial_images": partial}
    events = list(client.responses.create(model=MODEL, input="a green lighthouse", tools=[tool], stream=True))
    assert collapse([e.type for e in events]) == expected_events(partial)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    partials = [e for e in events if isinstance(e, ResponseImageGenCallPartialImageEvent)]
    assert [e.partial_image_index for e in partials] == list(range(partial))
    done = events[-1]
    assert isinstance(done, ResponseCompletedEvent) and done.response.status == "completed"
    call = done.response.output[0]
    assert all(e.item_id == call.id and e.output_index == 0 for e in partials)  # type: ignore[union-attr]
    final = picture(call.result or "")  # type: ignore[union-attr]
    stages = [picture(e.partial_image_b64) for e in partials]
    detail = [sharpness(s) for s in stages] + [sharpness(final)]
    assert detail == sorted(detail) and len(set(detail)) == len(detail), detail
    assert all(s.size == final.size and difference(s, final) < 40 for s in stages)
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert text == done.response.output_text and "offline stand-in" in text
    # Streamed or not, the same picture; partial pictures cost tokens.
    plain = client.responses.create(model=MODEL, input="a green lighthouse", tools=[FAST])
    assert plain.output[0].result == call.result  # type: ignore[union-attr]
    assert done.response.tool_usage and plain.tool_usage
    assert done.response.tool_usage.image_gen.output_tokens == plain.tool_usage.image_gen.output_tokens + 100 * partial
    row = rows(server)[0]
    assert row.params["stream"] is True and row.params["partial_images"] == partial
    assert row.stream is not None and row.stream["completed"] is True
    assert row.stream["events"] == len(events) and row.stream["partial_images"] == partial
    assert [i.get("partial") for i in row.images] == [str(i) for i in range(partial)] + [None]


def test_async_stream_helper_and_streaming_response(server: Any) -> None:
    from openai import AsyncOpenAI

    tool = {**FAST, "partial_images": 1}

    async def main() -> tuple[list[str], str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            stream = await client.responses.create(model=MODEL, input="an orange cat", tools=[tool], stream=True)
            types = [event.type async for event in stream]
            async with client.responses.stream(model=MODEL, input="an orange cat", tools=[tool]) as helper:
                async for _ in helper:
                    pass
                final = await helper.get_final_response()
            return types, final.output_text

    types, text = asyncio.run(main())
    assert collapse(types) == expected_events(1) and "offline stand-in" in text
    client = server.client()
    with client.responses.stream(model=MODEL, input="a red boat", tools=[tool]) as helper:
        seen = [event.type for event in helper]
        final = helper.get_final_response()
    assert collapse(seen) == expected_events(1)
    assert final.output[0].type == "image_generation_call" and final.output[0].status == "completed"
    with client.responses.with_streaming_response.create(model=MODEL, input="a red boat", tools=[tool],
                                                         stream=True) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    blocks = [b for b in raw.split("\n\n") if b]
    names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    payloads = [json.loads(b.split("\n", 1)[1].removeprefix("data: ")) for b in blocks]
    assert collapse(names) == expected_events(1)
    assert [p["type"] for p in payloads] == names
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))


# --- conversations ------------------------------------------------------------------------------------


def test_previous_response_id_edits_the_last_picture(server: Any) -> None:
    client = server.client()
    first = client.responses.create(model=MODEL, input="a red fox in the snow", tools=[FAST])
    follow = client.responses.create(model=MODEL, input="now make it blue", previous_response_id=first.id,
                                     tools=[{"type": "image_generation", "quality": "low"}])
    assert follow.previous_response_id == first.id
    call = follow.output[0]
    assert call.type == "image_generation_call" and call.action == "edit" and call.size == "1024x640"
    assert call.revised_prompt == "a red fox in the snow; edited: now make it blue"
    before, after = picture(first.output[0].result or ""), picture(call.result or "")  # type: ignore[union-attr]
    assert after.size == before.size and difference(before, after) > 5
    assert blueness(after) > blueness(before) + 30, (blueness(before), blueness(after))
    # An edit of the first picture by /v1/images/edits' own machinery: the same bytes.
    edited = client.images.edit(model="gpt-image-2.6-sunburst", prompt="now make it blue", size="1024x640",
                                quality="low", image=("fox.png", base64.b64decode(first.output[0].result or ""),
                                                      "image/png"))  # type: ignore[union-attr]
    assert edited.data and edited.data[0].b64_json == call.result
    # A third turn edits the second picture, not the first.
    third = client.responses.create(model=MODEL, input="add a yellow sun", previous_response_id=follow.id,
                                    tools=[{"type": "image_generation", "quality": "low"}])
    assert third.output[0].action == "edit"  # type: ignore[union-attr]
    assert third.output[0].revised_prompt.endswith("edited: add a yellow sun")  # type: ignore[union-attr]
    # "generate" starts afresh even in a conversation.
    fresh = client.responses.create(model=MODEL, input="now make it blue", previous_response_id=first.id,
                                    tools=[{**FAST, "action": "generate"}])
    assert fresh.output[0].action == "generate" and fresh.output[0].result != call.result  # type: ignore[union-attr]
    logged = rows(server)
    assert [r.params["action"] for r in logged] == ["generate", "edit", "edit", "generate"]
    assert logged[1].params["previous_response_id"] == first.id


def test_an_input_image_is_edited(server: Any) -> None:
    source = Image.new("RGB", (512, 512), (200, 60, 40))
    buf = io.BytesIO()
    source.save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    client = server.client()
    r = client.responses.create(model=MODEL, tools=[{"type": "image_generation", "quality": "low", "size": "1024x640"}],
                                input=[{"role": "user", "content": [{"type": "input_text", "text": "a blue hat"},
                                                                    {"type": "input_image", "image_url": url}]}])
    call = r.output[0]
    assert call.action == "edit"  # type: ignore[union-attr]
    assert difference(picture(call.result or ""), source) > 5  # type: ignore[union-attr]
    with pytest.raises(Exception) as refused:
        client.responses.create(model=MODEL, input="a hat", tools=[{**FAST, "action": "edit"}])
    assert refused.value.body["param"] == "tools[0].action"  # type: ignore[attr-defined]


def test_conversations_survive_a_restart_and_expire(start_server: Any, tmp_path: Any) -> None:
    first = start_server(data_dir=tmp_path / "kept")
    r = first.client().responses.create(model=MODEL, input="a red kite", tools=[FAST])
    second = start_server(data_dir=tmp_path / "kept", clock_start=first.clock.now)
    follow = second.client().responses.create(model=MODEL, input="now make it blue", previous_response_id=r.id,
                                              tools=[{"type": "image_generation", "quality": "low"}])
    assert follow.output[0].action == "edit" and follow.output[0].size == "1024x640"  # type: ignore[union-attr]
    # Thirty days on, the sweep removes both, and the id is no longer known.
    assert second.app.services.responses.count() == 2
    second.clock.advance(30 * 24 * 3600 + 1)
    second.app.services.sweep()
    assert second.app.services.responses.count() == 0
    import openai

    with pytest.raises(openai.BadRequestError) as gone:
        second.client().responses.create(model=MODEL, input="again", previous_response_id=r.id, tools=[FAST])
    assert gone.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


def test_store_false_is_not_remembered(server: Any) -> None:
    import openai

    client = server.client()
    r = client.responses.create(model=MODEL, input="a kite", tools=[FAST], store=False)
    assert r.store is False  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="blue", previous_response_id=r.id, tools=[FAST])


# --- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "param", "code", "words"), [
    ({"model": MODEL, "input": "hi"}, "tools", "image_generation_tool_required", "only the image_generation tool"),
    ({"model": MODEL, "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type",
     "image_generation_tool_required", "only the image_generation tool"),
    ({"model": MODEL, "input": "hi", "tools": [FAST], "tool_choice": "none"}, "tool_choice",
     "image_generation_tool_required", "only the image_generation tool"),
    ({"model": "gpt-9-imaginary", "input": "hi", "tools": [FAST]}, "model", "model_not_found",
     "The requested model 'gpt-9-imaginary' does not exist."),
    ({"model": "gpt-image-1.5", "input": "hi", "tools": [FAST]}, "model", "model_not_found", "is an image model"),
    ({"input": "hi", "tools": [FAST]}, "model", "missing_required_parameter", "Missing required parameter: 'model'."),
    ({"model": MODEL, "tools": [FAST]}, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    ({"model": MODEL, "input": "", "tools": [FAST]}, "input", "empty_string", "Invalid 'input': empty string."),
    ({"model": MODEL, "input": "hi", "tools": [FAST], "previous_response_id": "resp_nothere"},
     "previous_response_id", "previous_response_not_found", "Previous response with id 'resp_nothere' not found."),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "size": "huge"}]}, "tools[0].size", "invalid_value",
     "Invalid value: 'huge'."),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "quality": "ultra"}]}, "tools[0].quality", "invalid_value",
     "Invalid value: 'ultra'."),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "partial_images": 4}]}, "tools[0].partial_images",
     "integer_above_max_value", "Invalid 'tools[0].partial_images': integer above maximum value."),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "output_format": "gif"}]}, "tools[0].output_format",
     "unsupported_value", "does not support 'gif' offline"),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "model": "dall-e-3"}]}, "tools[0].model", "invalid_value",
     "Invalid value: 'dall-e-3'."),
    ({"model": MODEL, "input": "hi", "tools": [{**FAST, "colour": "red"}]}, "tools[0].colour", "unknown_parameter",
     "Unknown parameter: 'tools[0].colour'."),
    ({"model": MODEL, "input": "hi", "tools": [FAST], "temperature": "hot"}, "temperature", "invalid_type",
     "Invalid type for 'temperature'"),
    ({"model": MODEL, "input": "hi", "tools": [FAST], "seed": 3}, "seed", "unknown_parameter",
     "Unknown parameter: 'seed'."),
])
def test_refusals_name_the_param(server: Any, body: dict[str, Any], param: str, code: str, words: str) -> None:
    r = httpx2.post(f"{server.base_url}/responses", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert words in error["message"], error["message"]
    [row] = rows(server)
    assert row.status == 400 and row.error_code == code and row.error_message == error["message"]
    assert row.images == [] and row.params["action"] is None


def test_sdk_raises_the_real_exceptions(server: Any) -> None:
    import openai

    client = server.client()
    with pytest.raises(openai.BadRequestError) as no_tool:
        client.responses.create(model=MODEL, input="Say hello")
    assert no_tool.value.code == "image_generation_tool_required" and no_tool.value.param == "tools"
    assert "offline API serves only the image_generation tool" in no_tool.value.message
    assert no_tool.value.request_id and no_tool.value.request_id.startswith("req_")
    with pytest.raises(openai.BadRequestError) as bad_model:
        client.responses.create(model="gpt-nope", input="a cat", tools=[FAST])
    assert bad_model.value.body == {"message": "The requested model 'gpt-nope' does not exist.",
                                    "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model=MODEL, input="a cat", tools=[FAST], previous_response_id="resp_abc123")
    assert unknown.value.body == {"message": "Previous response with id 'resp_abc123' not found.",
                                  "type": "invalid_request_error", "param": "previous_response_id",
                                  "code": "previous_response_not_found"}
    with pytest.raises(openai.AuthenticationError):
        server.client(api_key="sk-x", default_headers={"Authorization": ""}).responses.create(
            model=MODEL, input="a cat", tools=[FAST])


@pytest.mark.parametrize("stream", [False, True])
def test_content_policy_fails_the_call_not_the_request(server: Any, stream: bool) -> None:
    from openai.types.responses import Response

    client = server.client()
    tool = {**FAST, "partial_images": 2} if stream else FAST
    if stream:
        events = list(client.responses.create(model=MODEL, input="a gore scene", tools=[tool], stream=True))
        types = collapse([e.type for e in events])
        assert "response.image_generation_call.partial_image" not in types
        assert types[-1] == "response.completed" and [e.sequence_number for e in events] == list(range(len(events)))
        r: Response = events[-1].response  # type: ignore[union-attr]
    else:
        r = client.responses.create(model=MODEL, input="a gore scene", tools=[tool])
    call = r.output[0]
    assert call.type == "image_generation_call" and call.status == "failed" and call.result is None
    assert call.error is not None and call.error.code == "moderation_blocked"
    assert call.error.type == "image_generation_user_error"
    assert r.status == "completed" and "rejected" in r.output_text and "offline stand-in" in r.output_text
    [row] = rows(server)
    assert row.status == 200 and row.error_code == "moderation_blocked" and row.images == []
    assert "rejected by the safety system" in (row.error_message or "")
    if stream:
        assert row.stream is not None and row.stream["completed"] is True and row.stream["partial_images"] == 0


def test_a_refused_follow_up_keeps_the_last_picture(server: Any) -> None:
    client = server.client()
    first = client.responses.create(model=MODEL, input="a red kite", tools=[FAST])
    refused = client.responses.create(model=MODEL, input="a nude kite", previous_response_id=first.id, tools=[FAST])
    assert refused.output[0].status == "failed"  # type: ignore[union-attr]
    after = client.responses.create(model=MODEL, input="now make it blue", previous_response_id=refused.id,
                                    tools=[{"type": "image_generation", "quality": "low"}])
    assert after.output[0].action == "edit" and after.output[0].size == "1024x640"  # type: ignore[union-attr]
