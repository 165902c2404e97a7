"""The image tool's pictures in, through the real SDK (sync, async, streamed, `with_raw_response`,
`with_streaming_response`): the tool's `action` with and without input images, input images by file id, several
at once, and by the URL of a picture the offline API served earlier, with `revised_prompt` on every call item.
Every body and every streamed event is validated strictly with the SDK's own types."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import openai
import pytest
from PIL import Image
from pydantic import TypeAdapter

KEY = "sk-test-0123456789abcdef"
MODEL = "gpt-5.5"
IMAGE_MODEL = "gpt-image-2.6-sunburst"
TOOL = {"type": "image_generation", "size": "1024x1024", "quality": "low"}


def strict(kind: Any, raw: Any) -> Any:
    """The raw JSON as the SDK's own pydantic type, strictly (no coercion)."""
    return TypeAdapter(kind).validate_python(raw, strict=True)


def png(colour: tuple[int, int, int], size: tuple[int, int] = (256, 256)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def asking(text: str, *images: dict[str, str]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "input_text", "text": text},
                                         *({"type": "input_image", **image} for image in images)]}]


def created(client: Any, **kwargs: Any) -> dict[str, Any]:
    """`responses.create` through `with_raw_response`: the body as sent, validated strictly as a Response."""
    from openai.types.responses import Response

    raw = client.responses.with_raw_response.create(model=MODEL, **kwargs)
    body = raw.http_response.json()
    strict(Response, body)
    assert raw.parse().id == body["id"]
    return body


def streamed(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """A streamed `responses.create` through `with_streaming_response`: every event, validated strictly."""
    from openai.types.responses import ResponseStreamEvent

    with client.responses.with_streaming_response.create(model=MODEL, stream=True, **kwargs) as response:
        raw = "".join(response.iter_text())
    events = [json.loads(block.split("\n", 1)[1].removeprefix("data: ")) for block in raw.split("\n\n") if block]
    for event in events:
        strict(ResponseStreamEvent, event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def call_of(body: dict[str, Any]) -> dict[str, Any]:
    [call] = [item for item in body["output"] if item["type"] == "image_generation_call"]
    return call


def edited(client: Any, prompt: str, *pictures: bytes) -> str:
    """What /v1/images/edits makes of the same pictures and prompt, at the tool's settings."""
    answer = client.images.edit(model=IMAGE_MODEL, prompt=prompt, size="1024x1024", quality="low",
                                image=[(f"p{i}.png", data, "image/png") for i, data in enumerate(pictures)])
    return str(answer.data[0].b64_json)


def generated(client: Any, prompt: str) -> str:
    answer = client.images.generate(model=IMAGE_MODEL, prompt=prompt, size="1024x1024", quality="low")
    return str(answer.data[0].b64_json)


# --- action ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "with_picture", "done"), [
    (None, False, "generate"), ("auto", False, "generate"), ("generate", False, "generate"),
    (None, True, "edit"), ("auto", True, "edit"), ("edit", True, "edit"), ("generate", True, "generate"),
])
def test_the_action_with_and_without_an_input_image(server: Any, action: str | None, with_picture: bool,
                                                    done: str) -> None:
    """"auto" (the default) edits when there is a picture and draws afresh when there is none; "edit" edits;
    "generate" always draws afresh, the input picture left aside. The call item says what was done."""
    client = server.client()
    tool = {**TOOL, **({"action": action} if action else {})}
    picture = png((200, 60, 40))
    given = asking("a blue hat", {"image_url": data_url(picture)}) if with_picture else "a blue hat"
    body = created(client, input=given, tools=[tool])
    call = call_of(body)
    assert (call["action"], call["status"], call["revised_prompt"]) == (done, "completed", "a blue hat")
    assert call["result"] == (edited(client, "a blue hat", picture) if done == "edit" else generated(client, "a blue hat"))
    assert body["tools"][0]["action"] == (action or "auto")


def test_edit_without_a_picture_is_refused(server: Any) -> None:
    client = server.client()
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="a blue hat", tools=[{**TOOL, "action": "edit"}])
    assert refused.value.body["param"] == "tools[0].action"  # type: ignore[index]
    assert refused.value.body["code"] == "invalid_value"  # type: ignore[index]


# --- input images -------------------------------------------------------------------------------


def test_an_input_image_by_file_id_is_edited(server: Any) -> None:
    client = server.client()
    picture = png((40, 160, 60))
    uploaded = client.files.create(file=("leaf.png", picture, "image/png"), purpose="vision")
    body = created(client, input=asking("make it autumn", {"file_id": uploaded.id}), tools=[TOOL])
    call = call_of(body)
    assert call["action"] == "edit" and call["result"] == edited(client, "make it autumn", picture)
    items = client.responses.input_items.list(body["id"])
    assert items.data[0].content[1].file_id == uploaded.id  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model=MODEL, input=asking("again", {"file_id": "file-nothere"}), tools=[TOOL])
    assert unknown.value.body["code"] == "file_not_found"  # type: ignore[index]


def test_several_input_images_are_all_references(server: Any) -> None:
    """The image-generation guide's "gift basket": several pictures in one message make one new picture, as
    /v1/images/edits makes it of the same pictures (the first drawn from; every one counted)."""
    client = server.client()
    pictures = [png((200, 60, 40)), png((40, 60, 200)), png((240, 220, 40))]
    uploaded = client.files.create(file=("third.png", pictures[2], "image/png"), purpose="vision")
    given = asking("a gift basket of these", {"image_url": data_url(pictures[0])}, {"image_url": data_url(pictures[1])},
                   {"file_id": uploaded.id})
    body = created(client, input=given, tools=[TOOL])
    call = call_of(body)
    assert call["action"] == "edit" and call["result"] == edited(client, "a gift basket of these", *pictures)
    one = created(client, input=asking("a gift basket of these", {"image_url": data_url(pictures[0])}), tools=[TOOL])
    assert call_of(one)["result"] != call["result"]
    assert body["tool_usage"]["image_gen"]["input_tokens"] > one["tool_usage"]["image_gen"]["input_tokens"]
    assert "edited your pictures" in body["output"][1]["content"][0]["text"]


def test_a_picture_sent_a_turn_ago_is_in_context(server: Any) -> None:
    """A conversation kept by hand: the picture of an earlier user message is the one "auto" edits, unless an
    image generation call comes after it (the latest picture in the conversation wins)."""
    client = server.client()
    picture = png((200, 60, 40))
    said = {"role": "assistant", "content": [{"type": "output_text", "text": "A fine hat."}]}
    body = created(client, tools=[TOOL], input=[*asking("a hat", {"image_url": data_url(picture)}), said,
                                                {"role": "user", "content": "now make it blue"}])
    assert call_of(body)["action"] == "edit" and call_of(body)["result"] == edited(client, "now make it blue", picture)
    drawn = created(client, input="a red fox", tools=[TOOL])
    later = created(client, tools=[TOOL], input=[*asking("a hat", {"image_url": data_url(picture)}),
                                                 {"type": "image_generation_call", "id": call_of(drawn)["id"]},
                                                 {"role": "user", "content": "now make it blue"}])
    fox = base64.b64decode(call_of(drawn)["result"])
    assert call_of(later)["result"] == edited(client, "now make it blue", fox)
    assert call_of(later)["revised_prompt"] == "a red fox; edited: now make it blue"


def test_an_image_url_the_offline_api_served_is_read_back(server: Any) -> None:
    """A DALL·E answer's URL, given back as an input image (data URL or http URL alike), is that picture."""
    import httpx2

    client = server.client()
    url = str(client.images.generate(model="dall-e-2", prompt="a red kite", size="256x256").data[0].url)
    picture = httpx2.get(url, timeout=30).content
    body = created(client, input=asking("make it blue", {"image_url": url}), tools=[TOOL])
    call = call_of(body)
    assert call["action"] == "edit" and call["result"] == edited(client, "make it blue", picture)
    # Streamed, the same picture; the input items keep the URL (shown when asked for).
    events = streamed(client, input=asking("make it blue", {"image_url": url}), tools=[TOOL])
    done = [e for e in events if e["type"] == "response.output_item.done"][0]["item"]
    assert done["result"] == call["result"] and done["revised_prompt"] == "make it blue"
    items = client.responses.input_items.list(body["id"], include=["message.input_image.image_url"])
    assert items.data[0].content[1].image_url == url  # type: ignore[union-attr]
    # The tool's mask may come by such a URL too: read, then checked as a mask (a DALL·E picture has no alpha).
    mask = client.images.generate(model="dall-e-2", prompt="a mask", size="256x256").data[0].url
    with pytest.raises(openai.BadRequestError) as not_a_mask:
        client.responses.create(model=MODEL, input=asking("make it blue", {"image_url": url}),  # type: ignore[arg-type]
                                tools=[{**TOOL, "input_image_mask": {"image_url": mask}}])  # type: ignore[list-item]
    assert "alpha channel" in not_a_mask.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize("which", ["altered", "expired", "elsewhere"])
def test_an_image_url_that_cannot_be_read_is_the_apis_download_error(server: Any, which: str) -> None:
    """The real API answers a URL it cannot download with "Error while downloading <url>." (invalid_image_url,
    param null); offline, a URL it did not serve cannot be fetched, and the message says why and what to send."""
    client = server.client()
    url = str(client.images.generate(model="dall-e-2", prompt="a red kite", size="256x256").data[0].url)
    if which == "altered":
        url = url.replace("sig=", "sig=A")
    elif which == "expired":
        server.clock.advance(2 * 3600)
    else:
        url = "https://example.com/kite.png"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=asking("make it blue", {"image_url": url}), tools=[TOOL])
    body = refused.value.body
    assert (body["code"], body["param"], body["type"]) == ("invalid_image_url", None, "invalid_request_error")  # type: ignore[index]
    assert body["message"].startswith(f"Error while downloading {url}.")  # type: ignore[index]
    if which == "elsewhere":
        assert "cannot fetch pictures from the internet" in body["message"]  # type: ignore[index]
    else:
        assert body["message"] == f"Error while downloading {url}."  # type: ignore[index]


# --- revised_prompt, streamed and not, sync and async -----------------------------------------------


def test_revised_prompt_streamed_and_not(server: Any) -> None:
    """Every call item carries the prompt it drew from; an edit of an earlier call names what it changed."""
    client = server.client()
    first = created(client, input="a red fox", tools=[TOOL])
    assert call_of(first)["revised_prompt"] == "a red fox"
    events = streamed(client, input="now make it blue", previous_response_id=first["id"], tools=[TOOL])
    added, done = [e["item"] for e in events if e["type"].startswith("response.output_item.") and
                   e["item"]["type"] == "image_generation_call"]
    assert added["status"] == "in_progress" and done["status"] == "completed"
    assert done["revised_prompt"] == "a red fox; edited: now make it blue" and done["action"] == "edit"
    final = events[-1]["response"]
    assert call_of(final) == done and client.responses.retrieve(final["id"]).output[0].revised_prompt == \
        done["revised_prompt"]  # type: ignore[union-attr]


def test_input_images_async(server: Any) -> None:
    """The async client: a file id, a served URL and several pictures, whole and streamed."""
    from openai import AsyncOpenAI
    from openai.types.responses import Response, ResponseStreamEvent

    client = server.client()
    picture = png((30, 30, 200))
    url = str(client.images.generate(model="dall-e-2", prompt="a red kite", size="256x256").data[0].url)
    expected = edited(client, "make it green", picture)

    async def main() -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            uploaded = await aclient.files.create(file=("p.png", picture, "image/png"), purpose="vision")
            raw = await aclient.responses.with_raw_response.create(
                model=MODEL, input=asking("make it green", {"file_id": uploaded.id}), tools=[TOOL])  # type: ignore[arg-type]
            whole = raw.http_response.json()
            async with aclient.responses.with_streaming_response.create(
                    model=MODEL, stream=True, input=asking("make it green", {"image_url": url}),  # type: ignore[arg-type]
                    tools=[TOOL]) as response:
                text = "".join([chunk async for chunk in response.iter_text()])
            events = [json.loads(b.split("\n", 1)[1].removeprefix("data: ")) for b in text.split("\n\n") if b]
            several = await aclient.responses.create(
                model=MODEL, input=asking("make it green", {"file_id": uploaded.id}, {"image_url": url}),  # type: ignore[arg-type]
                tools=[TOOL])
            return whole, events, several

    whole, events, several = asyncio.run(main())
    strict(Response, whole)
    for event in events:
        strict(ResponseStreamEvent, event)
    assert call_of(whole)["result"] == expected and call_of(whole)["action"] == "edit"
    assert events[-1]["type"] == "response.completed" and call_of(events[-1]["response"])["action"] == "edit"
    assert call_of(events[-1]["response"])["revised_prompt"] == "make it green"
    import httpx2

    kite = httpx2.get(url, timeout=30).content
    assert several.output[0].result == edited(client, "make it green", picture, kite)  # type: ignore[union-attr]
