"""The offline API's SDK-facing calls, run by whatever `openai` the interpreter running this has (1.40, 1.109, the
newest...), so that tests/compat/test_sdk_versions.py can run them under each version the project allows.

    python sdk_calls.py BASE_URL GROUP

GROUP is one of `GROUPS`. Each call's raw JSON (bodies and every streamed event) is validated strictly with this
SDK's own pydantic types, and what the SDK parsed is checked too. A parameter this SDK's method does not name yet
goes through `extra_body` / `extra_query`, as a user of that SDK sends it; a method or type this SDK lacks makes
the call skipped, with the reason. The last line of stdout is JSON: {"version", "ran": [...], "skipped": {call:
reason}, "failed": {call: traceback}}. Only the standard library and `openai` (with its pydantic) are imported.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import struct
import sys
import traceback
import urllib.request
import zlib
from typing import Any, Callable

import openai
from pydantic import TypeAdapter

KEY = "sk-compat-0123456789abcdef"
MODEL = "gpt-5.5"
IMAGE_MODEL = "gpt-image-2.6-sunburst"
TOOL = {"type": "image_generation", "size": "1024x1024", "quality": "low"}  # the tool's model: see `tool_model`


class Skip(Exception):
    """This SDK lacks what the call needs; the message says what."""


def strict(kind: Any, raw: Any) -> Any:
    return TypeAdapter(kind).validate_python(raw, strict=True)


def sdk_type(module: str, name: str) -> Any:
    """A type of this SDK, or Skip when it has none by that name."""
    import importlib

    try:
        return getattr(importlib.import_module(f"openai.types.{module}"), name)
    except (ImportError, AttributeError):
        raise Skip(f"openai {openai.__version__} has no openai.types.{module}.{name}") from None


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    """A plain PNG, written by hand (no Pillow in this interpreter)."""
    row = b"\x00" + bytes(colour) * size
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


def tool_model() -> str | None:
    """The image model the tool names: none (the API's default, gpt-image-2.6-sunburst) where this SDK's types take
    any string or list that default, else the first model they list. The API echoes the tool's model in every Response, and an SDK
    older than the default's model refuses it when validating strictly (its own parse, lenient, takes it): a user
    of that SDK names a model it knows, so these calls do too."""
    import typing

    try:
        from openai.types.responses.tool import ImageGeneration
    except ImportError:
        return None
    parts = typing.get_args(ImageGeneration.model_fields["model"].annotation)
    names = [arg for part in parts for arg in (typing.get_args(part) if typing.get_origin(part) is typing.Literal else [])]
    return None if str in parts or not names or IMAGE_MODEL in names else names[0]


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def sent(method: Callable[..., Any], **kwargs: Any) -> Any:
    """Call `method` with what its signature names; the rest goes in `extra_body` (or `extra_query` for a GET)."""
    query = kwargs.pop("_query", False)
    names = inspect.signature(method).parameters
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in names}
    if extra:
        kwargs["extra_query" if query else "extra_body"] = extra
    return method(**kwargs)


def needs(obj: Any, *path: str) -> Any:
    """obj.path..., or Skip naming what this SDK lacks."""
    for name in path:
        if not hasattr(obj, name):
            raise Skip(f"openai {openai.__version__} has no {'.'.join(path)}")
        obj = getattr(obj, name)
    return obj


def raw_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(block.split("\n", 1)[1].removeprefix("data: ")) for block in text.split("\n\n") if block]


# --- Images API --------------------------------------------------------------------------------


def images_generate_url(client: Any) -> None:
    ImagesResponse = sdk_type("images_response", "ImagesResponse")
    raw = client.images.with_raw_response.generate(model="dall-e-2", prompt="a red kite", size="256x256")
    body = raw.http_response.json()
    strict(ImagesResponse, body)
    url = raw.parse().data[0].url
    assert url and urllib.request.urlopen(url, timeout=30).read().startswith(b"\x89PNG")


def images_generate_gpt(client: Any) -> None:
    ImagesResponse = sdk_type("images_response", "ImagesResponse")
    raw = sent(client.images.with_raw_response.generate, model=IMAGE_MODEL, prompt="a red kite", size="1024x1024",
               quality="low", output_format="jpeg", output_compression=50)
    body = raw.http_response.json()
    strict(ImagesResponse, body)
    assert base64.b64decode(raw.parse().data[0].b64_json).startswith(b"\xff\xd8")
    assert body["output_format"] == "jpeg" and body["usage"]["total_tokens"] > 0


def images_edit_and_variation(client: Any) -> None:
    ImagesResponse = sdk_type("images_response", "ImagesResponse")
    raw = sent(client.images.with_raw_response.edit, model=IMAGE_MODEL, prompt="make it blue",
               image=("p.png", png((200, 60, 40)), "image/png"), size="1024x1024", quality="low")
    strict(ImagesResponse, raw.http_response.json())
    assert raw.parse().data[0].b64_json
    varied = client.images.with_raw_response.create_variation(image=("p.png", png((200, 60, 40), 256), "image/png"),
                                                               model="dall-e-2", size="256x256")
    strict(ImagesResponse, varied.http_response.json())


def images_streamed(client: Any) -> None:
    if "stream" not in inspect.signature(client.images.generate).parameters:
        raise Skip(f"openai {openai.__version__}'s images.generate has no `stream` (it could not read the events)")
    Event = sdk_type("image_gen_stream_event", "ImageGenStreamEvent")
    events = list(client.images.generate(model=IMAGE_MODEL, prompt="a red kite", size="1024x1024", quality="low",
                                         stream=True, partial_images=2))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    with client.images.with_streaming_response.generate(model=IMAGE_MODEL, prompt="a red kite", size="1024x1024",
                                                        quality="low", stream=True, partial_images=1) as response:
        text = "".join(response.iter_text())
    for event in raw_events(text):
        strict(Event, event)


def images_errors(client: Any) -> None:
    try:
        client.images.generate(model="dall-e-2", prompt="a red kite", size="255x255")
    except openai.BadRequestError as exc:  # the DALL·E era's words, param null, as the real API sent them
        assert exc.status_code == 400 and isinstance(exc.body, dict) and exc.body["message"].endswith("- 'size'"), exc.body
    else:
        raise AssertionError("a size the model does not offer was accepted")


# --- Responses API -----------------------------------------------------------------------------


def responses(client: Any) -> Any:
    return needs(client, "responses")


def responses_create(client: Any) -> None:
    Response = sdk_type("responses", "Response")
    raw = responses(client).with_raw_response.create(model=MODEL, input="a red fox", tools=[TOOL])
    body = raw.http_response.json()
    strict(Response, body)
    parsed = raw.parse()
    call = parsed.output[0]
    assert call.type == "image_generation_call" and call.status == "completed" and call.result
    assert body["output"][0]["action"] == "generate" and body["output"][0]["revised_prompt"] == "a red fox"
    assert parsed.output_text
    # The guide's own code, the tool's model left to the API's default: this SDK's parse takes the Response
    # (strictly, only an SDK that lists the default model can; see `tool_model`).
    plain = responses(client).create(model=MODEL, input="a red fox",
                                     tools=[{k: v for k, v in TOOL.items() if k != "model"}])
    assert plain.output[0].result and plain.tools[0].model == IMAGE_MODEL


def responses_streamed(client: Any) -> None:
    Event = sdk_type("responses", "ResponseStreamEvent")
    tool = {**TOOL, "partial_images": 1}
    events = list(responses(client).create(model=MODEL, input="a green lighthouse", tools=[tool], stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output[0].result
    assert "response.image_generation_call.partial_image" in [e.type for e in events]
    with responses(client).with_streaming_response.create(model=MODEL, input="a green lighthouse", tools=[tool],
                                                          stream=True) as response:
        text = "".join(response.iter_text())
    payloads = raw_events(text)
    for payload in payloads:
        strict(Event, payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    # The SDK's own stream helper, which builds the Response from the events as they come.
    with needs(responses(client), "stream")(model=MODEL, input="a green lighthouse", tools=[tool]) as helper:
        seen = [event.type for event in helper]
        final = helper.get_final_response()
    assert seen[-1] == "response.completed" and final.output[0].result and final.output_text


def responses_async(client: Any) -> None:
    Response = sdk_type("responses", "Response")
    needs(client, "responses")

    async def main() -> tuple[dict[str, Any], list[str]]:
        async with openai.AsyncOpenAI(base_url=str(client.base_url), api_key=KEY, max_retries=0) as aclient:
            raw = await aclient.responses.with_raw_response.create(model=MODEL, input="an orange cat", tools=[TOOL])
            stream = await aclient.responses.create(model=MODEL, input="an orange cat", tools=[TOOL], stream=True)
            return raw.http_response.json(), [event.type async for event in stream]

    body, types = asyncio.run(main())
    strict(Response, body)
    assert types[0] == "response.created" and types[-1] == "response.completed"


def responses_input_images(client: Any) -> None:
    """An input image by data URL, by file id and by a URL the offline API served; the tool's actions."""
    Response = sdk_type("responses", "Response")
    r = responses(client)
    uploaded = client.files.create(file=("p.png", png((40, 160, 60)), "image/png"), purpose="vision")
    url = client.images.generate(model="dall-e-2", prompt="a red kite", size="256x256").data[0].url
    for image, action, done in (({"image_url": data_url(png((200, 60, 40)))}, None, "edit"),
                                ({"file_id": uploaded.id}, "edit", "edit"),
                                ({"image_url": url}, "auto", "edit"),
                                ({"image_url": url}, "generate", "generate")):
        tool = {**TOOL, **({"action": action} if action else {})}
        given = [{"role": "user", "content": [{"type": "input_text", "text": "make it blue"},
                                              {"type": "input_image", "detail": "auto", **image}]}]
        raw = r.with_raw_response.create(model=MODEL, input=given, tools=[tool])
        body = raw.http_response.json()
        strict(Response, body)
        assert body["output"][0]["action"] == done, (image, action, body["output"][0]["action"])
    try:
        r.create(model=MODEL, input="a hat", tools=[{**TOOL, "action": "edit"}])
    except openai.BadRequestError as exc:
        assert isinstance(exc.body, dict) and exc.body.get("param") == "tools[0].action", exc.body
    else:
        raise AssertionError("'edit' with nothing to edit was accepted")


def responses_previous(client: Any) -> None:
    r = responses(client)
    first = r.create(model=MODEL, input="a red fox", tools=[TOOL])
    follow = r.create(model=MODEL, input="now make it blue", previous_response_id=first.id, tools=[TOOL])
    assert follow.output[0].action == "edit"
    assert follow.output[0].revised_prompt == "a red fox; edited: now make it blue"


# --- stored responses ---------------------------------------------------------------------------


def stored_retrieve(client: Any) -> None:
    Response = sdk_type("responses", "Response")
    r = responses(client)
    made = r.with_raw_response.create(model=MODEL, input="a red fox", tools=[TOOL])
    sent_body = made.http_response.json()
    got = needs(r, "with_raw_response", "retrieve")(sent_body["id"])
    assert got.http_response.json() == sent_body
    strict(Response, got.http_response.json())
    try:
        r.retrieve("resp_nothing")
    except openai.NotFoundError as exc:
        assert isinstance(exc.body, dict) and exc.body.get("message") == "Response with id 'resp_nothing' not found."
    else:
        raise AssertionError("an unknown response was found")


def stored_delete(client: Any) -> None:
    r = responses(client)
    made = r.create(model=MODEL, input="a red fox", tools=[TOOL])
    raw = needs(r, "with_raw_response", "delete")(made.id)
    assert raw.http_response.json() == {"id": made.id, "object": "response.deleted", "deleted": True}
    try:
        r.retrieve(made.id)
    except openai.NotFoundError:
        pass
    else:
        raise AssertionError("a deleted response was found")


def stored_input_items(client: Any) -> None:
    ItemList = sdk_type("responses", "ResponseItemList")
    items = needs(responses(client), "input_items")
    url = data_url(png((200, 60, 40)))
    given = [{"role": "developer", "content": "Draw plainly."},
             {"role": "user", "content": [{"type": "input_text", "text": "make it blue"},
                                          {"type": "input_image", "detail": "auto", "image_url": url}]}]
    made = responses(client).create(model=MODEL, input=given, tools=[TOOL])
    raw = items.with_raw_response.list(made.id)
    body = raw.http_response.json()
    strict(ItemList, body)
    assert [i["role"] for i in body["data"]] == ["user", "developer"]
    shown = sent(items.list, response_id=made.id, include=["message.input_image.image_url"], order="asc", _query=True)
    assert shown.data[1].content[1].image_url == url
    page = sent(items.list, response_id=made.id, limit=1, _query=True)
    assert len(page.data) == 1 and page.has_more is True


# --- continuing by an image generation call's id ------------------------------------------------


def image_id_turn(client: Any) -> None:
    Response = sdk_type("responses", "Response")
    r = responses(client)
    first = r.create(model=MODEL, input="a red fox", tools=[TOOL])
    given = [{"role": "user", "content": [{"type": "input_text", "text": "now make it blue"}]},
             {"type": "image_generation_call", "id": first.output[0].id}]
    raw = r.with_raw_response.create(model=MODEL, input=given, tools=[TOOL])
    body = raw.http_response.json()
    strict(Response, body)
    assert body["output"][0]["action"] == "edit"
    assert body["output"][0]["revised_prompt"] == "a red fox; edited: now make it blue"


def image_id_turn_streamed(client: Any) -> None:
    r = responses(client)
    first = r.create(model=MODEL, input="a red fox", tools=[TOOL])
    given = [{"role": "user", "content": "now make it blue"}, {"type": "image_generation_call", "id": first.output[0].id}]
    events = list(r.create(model=MODEL, input=given, tools=[TOOL], stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output[0].action == "edit"


# --- Files API --------------------------------------------------------------------------------


def files_round_trip(client: Any) -> None:
    FileObject = sdk_type("file_object", "FileObject")
    raw = client.files.with_raw_response.create(file=("p.png", png((10, 20, 30)), "image/png"), purpose="vision")
    body = raw.http_response.json()
    strict(FileObject, body)
    made = raw.parse()
    assert client.files.content(made.id).read() == png((10, 20, 30))
    assert client.files.retrieve(made.id).id == made.id
    client.files.delete(made.id)


def files_paging(client: Any) -> None:
    for i in range(3):
        client.files.create(file=(f"p{i}.png", png((i, 0, 0)), "image/png"), purpose="vision")
    ids = [f.id for f in client.files.list().data]  # newest first (files made in one second: by id)
    assert len(ids) >= 3
    first = sent(client.files.list, limit=2, _query=True)
    assert [f.id for f in first.data] == ids[:2] and first.has_more is True, [f.id for f in first.data]
    rest = sent(client.files.list, limit=2, after=ids[1], _query=True)
    assert [f.id for f in rest.data] == ids[2:4]
    oldest = sent(client.files.list, order="asc", limit=1, _query=True)
    assert [f.id for f in oldest.data] == ids[-1:]


def files_expiry(client: Any) -> None:
    made = sent(client.files.create, file=("p.png", png((1, 2, 3)), "image/png"), purpose="vision",
                expires_after={"anchor": "created_at", "seconds": 3600})
    assert made.expires_at == made.created_at + 3600  # an SDK without the field keeps it as an extra attribute


GROUPS: dict[str, list[Callable[[Any], None]]] = {
    "images": [images_generate_url, images_generate_gpt, images_edit_and_variation, images_streamed, images_errors],
    "responses": [responses_create, responses_streamed, responses_async, responses_input_images, responses_previous],
    "stored_responses": [stored_retrieve, stored_delete, stored_input_items],
    "image_id_turns": [image_id_turn, image_id_turn_streamed],
    "files": [files_round_trip, files_paging, files_expiry],
}


def main(base_url: str, group: str) -> dict[str, Any]:
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    model = tool_model()
    if model is not None:
        TOOL["model"] = model
    out: dict[str, Any] = {"version": openai.__version__, "tool_model": model, "ran": [], "skipped": {},
                           "failed": {}}
    for call in GROUPS[group]:
        try:
            call(client)
        except Skip as skip:
            out["skipped"][call.__name__] = str(skip)
        except Exception:
            out["failed"][call.__name__] = traceback.format_exc()
        else:
            out["ran"].append(call.__name__)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
