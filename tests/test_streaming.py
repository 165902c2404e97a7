"""Streamed generations and edits, through the real SDK (sync and async) against a server on loopback.

The events must validate as the SDK's own types, arrive in the API's order (partial images with
indexes 0..N-1, then one completed event), carry real pictures (each partial a coarser stage of the
final one), and leave one row in the request log that says what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import time
from typing import Any

import httpx2
import pytest
from PIL import Image

from course.offline.requestlog import read_log
from tests.pngs import difference, picture, sharpness

KEY = "sk-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def square_png(size: int = 256, hole: bool = False) -> bytes:
    image = Image.new("RGBA", (size, size), (200, 60, 40, 255))
    if hole:
        q = size // 4
        image.paste(Image.new("RGBA", (2 * q, 2 * q), (0, 0, 0, 0)), (q, q))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def rows(server: Any) -> list[Any]:
    return read_log(server.data_dir)


# --- generations ---------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [0, 1, 2, 3])
def test_streamed_generation_events_in_order(server: Any, partial: int) -> None:
    from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent

    client = server.client()
    stream = client.images.generate(model="gpt-image-1.5", prompt="a green lighthouse on a red cliff",
                                    size="1024x1536", quality="low", stream=True, partial_images=partial)
    events = list(stream)
    assert [e.type for e in events] == ["image_generation.partial_image"] * partial + ["image_generation.completed"]
    for index, event in enumerate(events[:-1]):
        assert isinstance(event, ImageGenPartialImageEvent)
        assert event.partial_image_index == index
        assert (event.size, event.quality, event.background, event.output_format) == ("1024x1536", "low", "opaque", "png")
    done = events[-1]
    assert isinstance(done, ImageGenCompletedEvent)
    assert done.usage.output_tokens > 0 and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    final = picture(done.b64_json)
    assert final.size == (1024, 1536) and final.format == "PNG"
    # Each partial picture is the final one seen less sharply, and each is sharper than the one before.
    stages = [picture(e.b64_json) for e in events[:-1]]
    detail = [sharpness(s) for s in stages] + [sharpness(final)]
    assert detail == sorted(detail) and len(set(detail)) == len(detail), detail
    for stage in stages:
        assert stage.size == final.size
        assert difference(stage, final) < 40  # the same picture, not another one
    # Partial images cost 100 output tokens each, as the API bills them.
    plain = client.images.generate(model="gpt-image-1.5", prompt="a green lighthouse on a red cliff",
                                   size="1024x1536", quality="low")
    assert plain.usage is not None
    assert done.usage.output_tokens == plain.usage.output_tokens + 100 * partial
    # The non-streamed answer draws the same final picture.
    assert plain.data and plain.data[0].b64_json == done.b64_json or partial > 0


def test_stream_is_valid_sse_and_logged(server: Any) -> None:
    with httpx2.stream("POST", f"{server.base_url}/images/generations", headers=AUTH, timeout=60,
                       json={"model": "gpt-image-2", "prompt": "a blue kite", "stream": True, "partial_images": 2,
                             "size": "1536x864", "safety_identifier": "hash-42"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-request-id"].startswith("req_")
        raw = b"".join(r.iter_bytes())
    blocks = [b for b in raw.decode().split("\n\n") if b]
    names = [b.split("\n")[0] for b in blocks]
    assert names == ["event: image_generation.partial_image"] * 2 + ["event: image_generation.completed"]
    payloads = [json.loads(b.split("\n", 1)[1].removeprefix("data: ")) for b in blocks]
    assert payloads[-1]["size"] == "1536x864" and payloads[-1]["safety_identifier"] == "hash-42"
    assert all(p["type"] == n.removeprefix("event: ") for p, n in zip(payloads, names))
    [row] = [x for x in rows(server) if x.request_id == r.headers["x-request-id"]]
    assert row.status == 200 and row.params["stream"] is True
    assert row.stream == {"events": 3, "partial_images": 2, "bytes": len(raw), "completed": True}
    assert [img.get("partial") for img in row.images] == ["0", "1", None]


def test_async_stream_and_streaming_response(server: Any) -> None:
    from openai import AsyncOpenAI

    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            stream = await client.images.generate(model="gpt-image-1-mini", prompt="an orange cat", stream=True,
                                                  partial_images=1, quality="low")
            return [event.type async for event in stream]

    assert asyncio.run(main()) == ["image_generation.partial_image", "image_generation.completed"]
    client = server.client()
    with client.images.with_streaming_response.generate(model="gpt-image-1.5", prompt="a red boat", stream=True,
                                                         partial_images=1) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    assert text.count("event: ") == 2 and "image_generation.completed" in text


def test_refusals_before_the_stream_keep_the_error_bodies(server: Any) -> None:
    import openai

    client = server.client()
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="gpt-image-1.5", prompt="x", stream=True, partial_images=4)
    assert too_many.value.status_code == 400
    assert too_many.value.body == {
        "message": "Invalid 'partial_images': integer above maximum value. Expected a value <= 3, but got 4 instead.",
        "type": "invalid_request_error", "param": "partial_images", "code": "integer_above_max_value"}
    with pytest.raises(openai.BadRequestError) as dalle:
        client.images.generate(model="dall-e-2", prompt="x", stream=True)
    assert "('stream' was unexpected)" in dalle.value.message
    with pytest.raises(openai.BadRequestError) as dalle3:
        client.images.generate(model="dall-e-3", prompt="x", stream=True, partial_images=1)
    assert "('stream', 'partial_images' were unexpected)" in dalle3.value.message
    assert [r.status for r in rows(server)] == [400, 400, 400]


def test_streamed_edit(server: Any) -> None:
    from openai.types import ImageEditCompletedEvent, ImageEditPartialImageEvent

    client = server.client()
    stream = client.images.edit(model="gpt-image-1.5", image=("room.png", square_png(hole=True), "image/png"),
                                prompt="a yellow sun", stream=True, partial_images=2, size="1024x1024")
    events = list(stream)
    assert [type(e) for e in events] == [ImageEditPartialImageEvent] * 2 + [ImageEditCompletedEvent]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert events[-1].usage.input_tokens_details.image_tokens > 0
    final = picture(events[-1].b64_json)
    # Outside the transparent hole the source's red stays.
    assert final.convert("RGB").getpixel((5, 5)) == (200, 60, 40)
    [row] = rows(server)
    assert row.route == "/v1/images/edits" and row.stream and row.stream["events"] == 3


def test_a_client_that_goes_away_stops_the_work(server: Any) -> None:
    body = json.dumps({"model": "gpt-image-2", "prompt": "a long walk", "stream": True, "partial_images": 3,
                       "n": 10, "size": "2048x2048"}).encode()
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        first = sock.recv(65536)
        assert b"200 OK" in first
    deadline = time.monotonic() + 20
    while not rows(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = rows(server)
    assert row.status == 499 and row.error_code == "client_gone"
    assert row.stream is not None and not row.stream["completed"]
    assert row.stream["events"] < 40  # 10 images x (3 partial + 1) were asked for; it stopped early


# --- the fields of today's ImagesResponse ----------------------------------------------------


def test_free_size_quality_and_safety_identifier_are_echoed(server: Any) -> None:
    client = server.client()
    r = client.images.generate(model="gpt-image-2.5-sunburst", prompt="a wide valley", size="1536x864",
                               quality="xhigh", user="learner-7")
    assert (r.size, r.quality, r.safety_identifier) == ("1536x864", "xhigh", "learner-7")
    assert r.usage and r.usage.output_tokens_details
    assert r.usage.output_tokens_details.image_tokens + r.usage.output_tokens_details.text_tokens == r.usage.output_tokens
    r2 = client.images.generate(model="gpt-image-2", prompt="a hill", safety_identifier="sid-1", user="u-2")
    assert r2.safety_identifier == "sid-1"
    r3 = client.images.generate(model="gpt-image-2", prompt="a hill")
    assert r3.safety_identifier is None and "safety_identifier" not in r3.model_dump(exclude_unset=True)
    old = client.images.generate(model="dall-e-2", prompt="a hill", user="u-9")
    assert old.safety_identifier is None and old.usage is None and old.size is None  # 2024 bodies unchanged


@pytest.mark.parametrize(("model", "value", "ok"), [
    ("gpt-image-1.5", "high", True), ("gpt-image-1.5", "low", True), ("gpt-image-1-mini", "low", True),
    ("gpt-image-1-mini", "high", False), ("gpt-image-2", "low", False), ("gpt-image-2.5-flare", "high", False),
])
def test_input_fidelity_only_where_allowed(server: Any, model: str, value: str, ok: bool) -> None:
    import openai

    client = server.client()
    call = lambda: client.images.edit(model=model, image=("a.png", square_png(), "image/png"), prompt="a hat",
                                      input_fidelity=value, quality="low")  # noqa: E731
    if ok:
        assert call().data
        return
    with pytest.raises(openai.BadRequestError) as refused:
        call()
    body = refused.value.body
    assert body["param"] == "input_fidelity"
    if model == "gpt-image-1-mini":
        assert body["code"] == "unsupported_value" and "'low'" in body["message"]
    else:
        assert body == {"message": f"The model '{model}' does not support the 'input_fidelity' parameter.",
                        "type": "image_generation_user_error", "param": "input_fidelity",
                        "code": "invalid_input_fidelity_model"}  # the 2026 words (course/offline/data/rules_2026.json)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparent_edits_are_transparent(server: Any, fmt: str) -> None:
    client = server.client()
    r = client.images.edit(model="gpt-image-1.5", image=("a.png", square_png(), "image/png"), prompt="a small red star",
                           background="transparent", output_format=fmt, size="1024x1024")
    assert r.background == "transparent"
    image = picture(r.data[0].b64_json)
    alpha = image.convert("RGBA").getchannel("A")
    assert alpha.getextrema()[0] == 0, "no transparent pixel at all"
    clear = alpha.histogram()[0] / (image.width * image.height)
    assert 0.2 < clear < 0.99, clear  # the background cut away, the drawing kept
    opaque = client.images.edit(model="gpt-image-1.5", image=("a.png", square_png(), "image/png"),
                                prompt="a small red star", background="opaque", size="1024x1024")
    assert picture(opaque.data[0].b64_json).convert("RGBA").getchannel("A").getextrema() == (255, 255)


def test_retired_models_have_shutdown_dates(server: Any) -> None:
    client = server.client()
    models = {m.id: m for m in client.models.list()}
    assert models["dall-e-2"].shutdown_date == "2026-05-12"
    assert models["dall-e-3"].shutdown_date == "2026-05-12"
    assert models["gpt-image-1"].shutdown_date == "2026-10-23"
    assert models["gpt-image-2"].shutdown_date is None
    assert client.models.retrieve("dall-e-3").shutdown_date == "2026-05-12"


# --- JSON edits and the Files API ------------------------------------------------------------


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def test_json_edit_by_data_url_and_by_file_id(server: Any) -> None:
    from openai.types import FileObject, ImagesResponse

    client = server.client()
    by_url = client.post("/images/edits", cast_to=ImagesResponse, body={
        "model": "gpt-image-1.5", "prompt": "a blue hat", "size": "1024x1024",
        "images": [{"image_url": data_url(square_png(hole=True))}]})
    assert by_url.data and picture(by_url.data[0].b64_json).size == (1024, 1024)
    uploaded = client.files.create(file=("room.png", square_png(hole=True), "image/png"), purpose="vision")
    assert isinstance(uploaded, FileObject) and uploaded.id.startswith("file-") and uploaded.purpose == "vision"
    assert client.files.retrieve(uploaded.id).filename == "room.png"
    assert uploaded.id in [f.id for f in client.files.list()]
    assert client.files.content(uploaded.id).read() == square_png(hole=True)
    by_file = client.post("/images/edits", cast_to=ImagesResponse, body={
        "model": "gpt-image-1.5", "prompt": "a blue hat", "size": "1024x1024", "images": [{"file_id": uploaded.id}]})
    # The same picture, named two ways, is edited the same way.
    assert by_file.data and by_file.data[0].b64_json == by_url.data[0].b64_json
    streamed = client.post("/images/edits", cast_to=ImagesResponse, stream=True, stream_cls=None, body={
        "model": "gpt-image-1.5", "prompt": "a blue hat", "images": [{"file_id": uploaded.id}], "stream": True})
    assert streamed is not None
    deleted = client.files.delete(uploaded.id)
    assert deleted.deleted is True


def test_json_edit_by_the_url_of_a_picture_the_offline_api_served(server: Any) -> None:
    """A JSON edit names its pictures as the Responses API's input images do: a DALL·E answer's URL, given back,
    is that picture (the same edit as by a data URL of its bytes); an altered one is the API's download error."""
    import httpx2
    from openai.types import ImagesResponse

    client = server.client()
    url = str(client.images.generate(model="dall-e-2", prompt="a red kite", size="256x256").data[0].url)
    kite = httpx2.get(url, timeout=30).content
    body = {"model": "gpt-image-1.5", "prompt": "a blue hat", "size": "1024x1024"}
    by_url = client.post("/images/edits", cast_to=ImagesResponse, body={**body, "images": [{"image_url": url}]})
    by_data = client.post("/images/edits", cast_to=ImagesResponse,
                          body={**body, "images": [{"image_url": data_url(kite)}]})
    assert by_url.data and by_data.data and by_url.data[0].b64_json == by_data.data[0].b64_json
    altered = url.replace("sig=", "sig=A")
    refused = httpx2.post(f"{server.base_url}/images/edits", headers=AUTH, timeout=60,
                          json={**body, "images": [{"image_url": altered}]})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"message": f"Error while downloading {altered}.", "type": "invalid_request_error",
                                       "param": None, "code": "invalid_image_url"}


def test_json_edit_refusals(server: Any) -> None:
    def post(body: dict[str, Any]) -> httpx2.Response:
        return httpx2.post(f"{server.base_url}/images/edits", json=body, headers=AUTH, timeout=60)

    web = post({"model": "gpt-image-1.5", "prompt": "x", "images": [{"image_url": "https://example.com/a.png"}]})
    assert web.status_code == 400  # the real API's failed download, with why offline cannot fetch it
    assert (web.json()["error"]["param"], web.json()["error"]["code"]) == (None, "invalid_image_url")
    assert web.json()["error"]["message"].startswith("Error while downloading https://example.com/a.png.")
    assert "cannot fetch pictures from the internet" in web.json()["error"]["message"]
    missing = post({"model": "gpt-image-1.5", "prompt": "x", "images": [{"file_id": "file-nothere"}]})
    assert missing.status_code == 400 and "no such file: 'file-nothere'" in missing.json()["error"]["message"]
    both = post({"model": "gpt-image-1.5", "prompt": "x", "images": [{"file_id": "file-a", "image_url": "data:,"}]})
    assert "exactly one of 'image_url' or 'file_id'" in both.json()["error"]["message"]
    garbled = post({"model": "gpt-image-1.5", "prompt": "x", "images": [{"image_url": "data:image/png;base64,@@@"}]})
    assert garbled.status_code == 400 and "base64 data URL" in garbled.json()["error"]["message"]
    dalle = post({"model": "dall-e-2", "prompt": "x", "images": [{"image_url": data_url(square_png())}]})
    assert dalle.status_code == 400 and "multipart upload" in dalle.json()["error"]["message"]
    no_images = post({"model": "gpt-image-1.5", "prompt": "x"})
    assert no_images.json()["error"]["message"] == "Missing required parameter: 'images'."
    not_png = post({"model": "gpt-image-1.5", "prompt": "x", "images": [{"image_url": data_url(b"GIF89a....", "image/gif")}]})
    assert not_png.status_code == 400 and not_png.json()["error"]["param"] == "images[0].image_url"


def test_files_api_refusals(server: Any) -> None:
    import openai

    client = server.client()
    with pytest.raises(openai.NotFoundError) as gone:
        client.files.retrieve("file-doesnotexist")
    assert gone.value.body == {"message": "No such File object: file-doesnotexist", "type": "invalid_request_error",
                               "param": "id", "code": None}
    r = httpx2.post(f"{server.base_url}/files", headers=AUTH, files={"file": ("a.png", b"x", "image/png")},
                    data={"purpose": "pictures"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose" and "'vision'" in r.json()["error"]["message"]
    r = httpx2.post(f"{server.base_url}/files", headers=AUTH, data={"purpose": "vision"}, files={"other": ("a", b"x")},
                    timeout=30)
    assert r.status_code == 400 and r.json()["error"]["message"] == "Missing required parameter: 'file'."


def test_uploaded_files_survive_a_restart(start_server: Any, tmp_path: Any) -> None:
    first = start_server(data_dir=tmp_path / "kept")
    uploaded = first.client().files.create(file=("room.png", square_png(), "image/png"), purpose="vision")
    second = start_server(data_dir=tmp_path / "kept")
    again = second.client().files.retrieve(uploaded.id)
    assert (again.id, again.bytes, again.filename) == (uploaded.id, len(square_png()), "room.png")


def test_partial_stages_are_the_documented_fractions() -> None:
    from course.offline import streaming

    final = Image.effect_noise((960, 960), 80).convert("RGB")
    for count, factors in [(1, [8]), (2, [16, 6]), (3, [32, 12, 5])]:
        stages = streaming.stages(final, count)
        assert len(stages) == count
        for stage, factor in zip(stages, factors):
            # A stage is made of factor-by-factor blocks of one colour.
            block = stage.crop((0, 0, factor, factor))
            assert len(set(block.getcolors(factor * factor) or [])) == 1, factor
    assert streaming.stages(final, 0) == []
