"""Today's API, round two, through the real SDK (sync and async) against a server on loopback: stored responses
(retrieve, delete, input items), continuing by an image generation call's id, the API's headers on every answer,
the Files API's `expires_after` and paging, and the 2026 rules and words (course/offline/data/rules_2026.json).
Every body is validated strictly with the SDK's own types."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.pngs import difference, picture

KEY = "sk-test-0123456789abcdef"
MODEL = "gpt-5.5"
FAST = {"type": "image_generation", "size": "1024x640", "quality": "low"}  # the smallest size the pixel budget allows


def strict(kind: Any, raw: Any) -> Any:
    """The raw JSON as the SDK's own pydantic type, strictly (no coercion)."""
    return TypeAdapter(kind).validate_python(raw, strict=True)


# --- stored responses ------------------------------------------------------------------------


def test_a_stored_response_is_retrieved_as_sent(server: Any) -> None:
    from openai.types.responses import Response

    client = server.client()
    made = client.responses.with_raw_response.create(model=MODEL, input="a red fox", tools=[FAST])
    sent = made.http_response.json()
    got = client.responses.with_raw_response.retrieve(sent["id"])
    assert got.http_response.status_code == 200 and got.http_response.json() == sent
    again = got.parse()
    assert isinstance(again, Response) and again.id == sent["id"] and again.output_text
    strict(Response, got.http_response.json())
    # Streamed responses are stored too, as the final Response of the stream.
    events = list(client.responses.create(model=MODEL, input="a blue kite", tools=[FAST], stream=True))
    final = events[-1].response
    assert client.responses.retrieve(final.id).model_dump() == final.model_dump()


def test_an_unknown_or_unstored_response_is_the_real_404(server: Any) -> None:
    import openai

    client = server.client()
    kept_out = client.responses.create(model=MODEL, input="a kite", tools=[FAST], store=False)
    for response_id in (kept_out.id, "resp_nothing", "not-an-id"):
        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.retrieve(response_id)
        assert missing.value.body == {"message": f"Response with id '{response_id}' not found.",  # type: ignore[comparison-overlap]
                                      "type": "invalid_request_error", "param": None, "code": None}
        with pytest.raises(openai.NotFoundError):
            client.responses.input_items.list(response_id)
        with pytest.raises(openai.NotFoundError):
            client.responses.delete(response_id)


def test_delete_forgets_the_response(server: Any) -> None:
    import openai

    client = server.client()
    r = client.responses.create(model=MODEL, input="a red fox", tools=[FAST])
    raw = client.responses.with_raw_response.delete(r.id)
    assert raw.http_response.status_code == 200
    assert raw.http_response.json() == {"id": r.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as gone:
        client.responses.create(model=MODEL, input="blue", previous_response_id=r.id, tools=[FAST])
    assert gone.value.body["code"] == "previous_response_not_found"  # type: ignore[index]
    assert server.app.services.responses.count() == 0


def test_input_items_are_listed_and_paged(server: Any) -> None:
    from openai.types.responses import ResponseItemList
    from openai.types.responses.response_item import ResponseItem

    client = server.client()
    url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    given = [{"role": "developer", "content": "Draw plainly."},
             {"role": "user", "content": "a hat"},
             {"role": "user", "content": [{"type": "input_text", "text": "make it blue"},
                                          {"type": "input_image", "image_url": url}]}]
    r = client.responses.create(model=MODEL, input=given, tools=[FAST])  # type: ignore[arg-type]
    raw = client.responses.input_items.with_raw_response.list(r.id)
    body = raw.http_response.json()
    strict(ResponseItemList, body)
    newest_first = body["data"]
    assert [i["role"] for i in newest_first] == ["user", "user", "developer"]
    assert newest_first[0]["content"] == [{"type": "input_text", "text": "make it blue"},
                                          {"type": "input_image", "detail": "auto", "file_id": None, "image_url": None}]
    assert newest_first[2]["content"] == [{"type": "input_text", "text": "Draw plainly."}]
    assert (body["first_id"], body["last_id"], body["has_more"]) == (newest_first[0]["id"], newest_first[-1]["id"], False)
    assert all(i["id"].startswith("msg_") and i["status"] == "completed" for i in newest_first)
    # The picture's URL only when asked for; the oldest first with order "asc"; pages with limit and after.
    shown = client.responses.input_items.list(r.id, include=["message.input_image.image_url"], order="asc")
    assert [i.role for i in shown.data] == ["developer", "user", "user"]  # type: ignore[union-attr]
    assert shown.data[2].content[1].image_url == url  # type: ignore[union-attr]
    first = client.responses.input_items.list(r.id, limit=2)
    assert [i.id for i in first.data] == [i["id"] for i in newest_first[:2]] and first.has_more is True
    assert [i.id for i in first.get_next_page().data] == [newest_first[2]["id"]]
    assert [i.id for i in client.responses.input_items.list(r.id, limit=1)] == [i["id"] for i in newest_first]
    for item in newest_first:
        strict(ResponseItem, item)
    # A string input is one user message.
    plain = client.responses.input_items.list(client.responses.create(model=MODEL, input="a fox", tools=[FAST]).id)
    assert [(i.type, i.role, i.content[0].text) for i in plain.data] == [("message", "user", "a fox")]  # type: ignore[union-attr]
    import openai

    for bad, param, code in (({"limit": 0}, "limit", "integer_below_min_value"),
                             ({"limit": 101}, "limit", "integer_above_max_value"),
                             ({"order": "up"}, "order", "invalid_value")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.input_items.list(r.id, **bad)  # type: ignore[arg-type]
        assert (refused.value.body["param"], refused.value.body["code"]) == (param, code)  # type: ignore[index]


def test_stored_responses_async(server: Any) -> None:
    from openai import AsyncOpenAI, NotFoundError

    async def main() -> None:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            r = await client.responses.create(model=MODEL, input="an orange cat", tools=[FAST])
            assert (await client.responses.retrieve(r.id)).id == r.id
            items = [i async for i in client.responses.input_items.list(r.id)]
            assert [i.type for i in items] == ["message"]
            await client.responses.delete(r.id)
            with pytest.raises(NotFoundError):
                await client.responses.retrieve(r.id)

    asyncio.run(main())


def test_stored_answers_are_swept_with_their_response(start_server: Any, tmp_path: Any) -> None:
    server = start_server(data_dir=tmp_path / "kept")
    r = server.client().responses.create(model=MODEL, input="a red kite", tools=[FAST])
    root = tmp_path / "kept" / "responses"
    assert sorted(p.suffix for p in root.iterdir()) == [".answer", ".json", ".link", ".png"]
    server.clock.advance(30 * 24 * 3600 + 1)
    assert server.app.services.sweep() == 1 and list(root.iterdir()) == []
    import openai

    with pytest.raises(openai.NotFoundError):
        server.client().responses.retrieve(r.id)


# --- continuing by an image generation call's id ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_generation_call_id_edits_that_picture(server: Any, stream: bool) -> None:
    from openai.types.responses import Response

    client = server.client()
    first = client.responses.create(model=MODEL, input="a red fox in the snow", tools=[FAST])
    call = first.output[0]
    before = picture(call.result or "")  # type: ignore[union-attr]
    # Something else drawn in between: the id, not the latest picture, says which one to edit.
    client.responses.create(model=MODEL, input="a green lighthouse", tools=[FAST])
    given = [{"role": "user", "content": [{"type": "input_text", "text": "now make it blue"}]},
             {"type": "image_generation_call", "id": call.id}]
    tool = {"type": "image_generation", "quality": "low"}
    if stream:
        events = list(client.responses.create(model=MODEL, input=given, tools=[tool], stream=True))  # type: ignore[arg-type]
        follow = events[-1].response
    else:
        raw = client.responses.with_raw_response.create(model=MODEL, input=given, tools=[tool])  # type: ignore[arg-type]
        strict(Response, raw.http_response.json())
        follow = raw.parse()
    edit = follow.output[0]
    assert edit.type == "image_generation_call" and edit.action == "edit" and edit.size == "1024x640"
    assert edit.revised_prompt == "a red fox in the snow; edited: now make it blue"
    assert "image generation call" in follow.output_text
    after = picture(edit.result or "")
    assert after.size == before.size and difference(before, after) > 5
    # The very picture /v1/images/edits makes of that call's picture.
    same = client.images.edit(model="gpt-image-2.6-sunburst", prompt="now make it blue", size="1024x640",
                              quality="low", image=("fox.png", base64.b64decode(call.result or ""), "image/png"))  # type: ignore[union-attr]
    assert same.data and same.data[0].b64_json == edit.result
    # The input items list the call by its id.
    items = client.responses.input_items.list(follow.id, order="asc")
    assert [i.type for i in items.data] == ["message", "image_generation_call"] and items.data[1].id == call.id


def test_an_image_generation_call_given_whole_or_unknown(server: Any) -> None:
    import openai

    client = server.client()
    first = client.responses.create(model=MODEL, input="a red fox", tools=[FAST], store=False)
    call = first.output[0]
    whole = client.responses.create(model=MODEL, tools=[FAST], input=[  # type: ignore[arg-type]
        {"role": "user", "content": "now make it blue"},
        {"type": "image_generation_call", "id": call.id, "status": "completed", "result": call.result}])  # type: ignore[union-attr]
    assert whole.output[0].action == "edit"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as unknown:  # not stored: its id is not known
        client.responses.create(model=MODEL, tools=[FAST], input=[  # type: ignore[arg-type]
            {"role": "user", "content": "now make it blue"}, {"type": "image_generation_call", "id": call.id}])
    assert unknown.value.body["message"] == f"Item with id '{call.id}' not found."  # type: ignore[index]
    assert unknown.value.body["param"] == "input[1].id"  # type: ignore[index]


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 60, 40)).save(buf, "PNG")
    return buf.getvalue()


# --- headers ---------------------------------------------------------------------------------------


def test_every_answer_names_the_organisation(server: Any) -> None:
    """`openai-organization` on answers sent whole, streams, errors and every resource, as the real API sends
    it; the same organisation the rate-limit message names; none without a key."""
    import httpx2
    import openai

    from course.offline.policy import organization

    client = server.client()
    org = organization(None, KEY)
    answers = [client.images.with_raw_response.generate(model="dall-e-2", prompt="a cat", size="256x256"),
               client.models.with_raw_response.list(),
               client.files.with_raw_response.list(),
               client.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST])]
    assert [a.headers.get("openai-organization") for a in answers] == [org] * 4
    with client.responses.with_streaming_response.create(model=MODEL, input="a fox", tools=[FAST],
                                                         stream=True) as streamed:
        assert streamed.headers["openai-organization"] == org
        streamed.read()
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.retrieve("resp_nothing")
    assert missing.value.response.headers["openai-organization"] == org
    other = server.client(api_key="sk-test-another-key-456")
    assert other.models.with_raw_response.list().headers["openai-organization"] == organization(None,
                                                                                                "sk-test-another-key-456")
    assert "openai-organization" not in httpx2.get(f"{server.base_url}/models", timeout=10).headers


def test_responses_carry_the_request_and_token_rate_limit_headers(start_server: Any) -> None:
    from openai import AsyncOpenAI

    server = start_server()
    client = server.client()
    first = client.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST])
    second = client.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST], max_output_tokens=50)
    h1, h2 = first.headers, second.headers
    assert (h1["x-ratelimit-limit-requests"], h1["x-ratelimit-limit-tokens"]) == ("500", "500000")
    assert int(h1["x-ratelimit-remaining-requests"]) == 499 and int(h2["x-ratelimit-remaining-requests"]) == 498
    spent = int(h1["x-ratelimit-remaining-tokens"]) - int(h2["x-ratelimit-remaining-tokens"])
    assert spent == 1 + len("a fox") // 4 + 50
    assert all(h[f"x-ratelimit-reset-{kind}"].endswith("s") for h in (h1, h2) for kind in ("requests", "tokens"))
    with client.responses.with_streaming_response.create(model=MODEL, input="a fox", tools=[FAST],
                                                         stream=True) as streamed:
        assert streamed.headers["x-ratelimit-remaining-requests"] == "497"
        streamed.read()

    async def remaining() -> str:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            raw = await aclient.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST])
            return raw.headers["x-ratelimit-remaining-requests"]

    assert asyncio.run(remaining()) == "496"
    # A minute on, the window is empty again; with --rate-limit, the requests limit is that figure, and the
    # Images API's own -images headers come as before.
    server.clock.advance(61)
    assert client.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST]) \
        .headers["x-ratelimit-remaining-requests"] == "499"
    limited = start_server(rate_limit=5).client()
    raw = limited.responses.with_raw_response.create(model=MODEL, input="a fox", tools=[FAST])
    assert raw.headers["x-ratelimit-limit-requests"] == "5" and raw.headers["x-ratelimit-limit-images"] == "5"
    images = limited.images.with_raw_response.generate(model="dall-e-2", prompt="a cat", size="256x256")
    assert "x-ratelimit-limit-requests" not in images.headers and images.headers["x-ratelimit-remaining-images"] == "3"


# --- files ------------------------------------------------------------------------------------------


def test_expires_after_sets_expires_at(server: Any) -> None:
    import openai
    from openai.types import FileObject

    client = server.client()
    raw = client.files.with_raw_response.create(file=("a.png", _png(), "image/png"), purpose="vision",
                                                expires_after={"anchor": "created_at", "seconds": 3600})
    made = strict(FileObject, raw.http_response.json())
    assert made.expires_at == made.created_at + 3600
    assert client.files.retrieve(made.id).expires_at == made.expires_at
    kept = client.files.create(file=("b.png", _png(), "image/png"), purpose="vision")
    assert kept.expires_at is None
    for bad, param, code in (({"anchor": "created_at", "seconds": 60}, "expires_after.seconds", "integer_below_min_value"),
                             ({"anchor": "created_at", "seconds": 2592001}, "expires_after.seconds",
                              "integer_above_max_value"),
                             ({"anchor": "last_active_at", "seconds": 3600}, "expires_after.anchor", "invalid_value")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.create(file=("c.png", _png(), "image/png"), purpose="vision", expires_after=bad)  # type: ignore[arg-type]
        assert (refused.value.body["param"], refused.value.body["code"]) == (param, code)  # type: ignore[index]
    # An hour on, the file is gone: the real 404, and no longer listed.
    server.clock.advance(3600)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made.id)
    assert [f.id for f in client.files.list()] == [kept.id]


def test_files_list_pages_with_after_limit_and_order(server: Any) -> None:
    import openai
    from openai import AsyncOpenAI
    from openai.types import FileObject

    client = server.client()
    made = []
    for i in range(5):
        made.append(client.files.create(file=(f"{i}.png", _png(), "image/png"), purpose="vision").id)
        server.clock.advance(1)
    newest_first = list(reversed(made))
    body = client.files.with_raw_response.list().http_response.json()
    assert [f["id"] for f in body["data"]] == newest_first and body["has_more"] is False
    for card in body["data"]:
        strict(FileObject, card)
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == newest_first[:2] and first.has_more is True
    assert [f.id for f in first.get_next_page().data] == newest_first[2:4]
    assert [f.id for f in client.files.list(limit=2)] == newest_first  # the SDK follows the pages
    assert [f.id for f in client.files.list(order="asc", limit=3).data] == made[:3]
    assert [f.id for f in client.files.list(after=made[1], order="asc").data] == made[2:]
    assert client.files.list(after=made[0]).data == []

    async def pages() -> list[str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            return [f.id async for f in aclient.files.list(limit=3, order="asc")]

    assert asyncio.run(pages()) == made
    for bad, param, code in (({"limit": 0}, "limit", "integer_below_min_value"),
                             ({"limit": 10001}, "limit", "integer_above_max_value"),
                             ({"order": "newest"}, "order", "invalid_value")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.list(**bad)  # type: ignore[arg-type]
        assert (refused.value.body["param"], refused.value.body["code"]) == (param, code)  # type: ignore[index]


# --- the 2026 rules (course/offline/data/rules_2026.json) -----------------------------------------------


def test_every_rule_of_2026_has_its_sources_and_date() -> None:
    import datetime
    import json

    from course.offline.models import DATA

    table = json.loads((DATA / "rules_2026.json").read_text(encoding="utf-8"))
    assert [r["rule"] for r in table["rules"]] == [
        "png_output_compression", "complexity", "unknown_image_model", "input_fidelity_unsupported", "free_size_limits",
        "size_order", "transparent_jpeg", "transparent_on_gpt_image_2"]
    for row in table["rules"]:
        assert row["what"] and row["sources"] and all(isinstance(s, str) and s for s in row["sources"])
        datetime.date.fromisoformat(row["checked"])


def test_png_with_compression_below_100_is_refused(server: Any) -> None:
    import openai

    client = server.client()
    expected = {"message": "Compression less than 100 is not supported for PNG output format",
                "type": "image_generation_user_error", "param": None, "code": "invalid_png_output_compression"}
    for options in ({"output_format": "png", "output_compression": 50}, {"output_compression": 99}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024", quality="low", **options)  # type: ignore[arg-type]
        assert refused.value.body == expected  # type: ignore[comparison-overlap]
        with pytest.raises(openai.BadRequestError) as edit_refused:
            client.images.edit(model="gpt-image-2", prompt="a hat", image=("a.png", _png(), "image/png"), **options)  # type: ignore[arg-type]
        assert edit_refused.value.body == expected  # type: ignore[comparison-overlap]
        with pytest.raises(openai.BadRequestError) as tool_refused:
            client.responses.create(model=MODEL, input="a cat", tools=[{**FAST, **options}])  # type: ignore[list-item]
        assert tool_refused.value.body == {**expected, "param": "tools"}  # type: ignore[comparison-overlap]
    # 100 with PNG, and any compression with JPEG or WebP, as before.
    assert client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024", quality="low",
                                  output_format="png", output_compression=100).data
    assert client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024", quality="low",
                                  output_format="webp", output_compression=50).data


def test_complexity_is_accepted_where_the_sdk_documents_it(server: Any) -> None:
    import openai

    client = server.client()
    plain = client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024", quality="low")
    planned = client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024", quality="low",
                                     complexity="high")
    assert planned.data and plain.data and planned.data[0].b64_json == plain.data[0].b64_json
    edited = client.images.edit(model="gpt-image-2", prompt="a hat", image=("a.png", _png(), "image/png"),
                                complexity="low")
    assert edited.data
    with pytest.raises(openai.BadRequestError) as wrong:
        client.images.generate(model="gpt-image-2", prompt="a cat", complexity="extreme")  # type: ignore[arg-type]
    assert (wrong.value.body["param"], wrong.value.body["code"]) == ("complexity", "invalid_value")  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as dalle:  # the DALL·E-era API, unchanged
        client.images.generate(model="dall-e-3", prompt="a cat", complexity="low")
    assert "complexity" in dalle.value.body["message"]  # type: ignore[index]  # its own words, as before


# --- the 2026 rules, round two: unknown models, input_fidelity, free sizes, the sizes' order, transparent JPEG --


def refusal(exc: Any) -> dict[str, Any]:
    """A 400's body, strictly an `ErrorObject` of the SDK's, and the SDK's own line for it."""
    from openai.types.shared import ErrorObject

    strict(ErrorObject, exc.body)
    assert exc.status_code == 400 and str(exc) == f"Error code: 400 - {exc.body['message']}"
    return exc.body


def rule(name: str) -> dict[str, Any]:
    import json

    from course.offline.models import DATA

    table = json.loads((DATA / "rules_2026.json").read_text(encoding="utf-8"))
    return next(r for r in table["rules"] if r["rule"] == name)


PUBLISHED_FIRST = "'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'chatgpt-image-latest', "


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # create_variation: dall-e-2 only, deprecated
def test_an_unknown_image_model_is_an_invalid_value_listing_the_models(server: Any) -> None:
    import openai

    client = server.client()
    with pytest.raises(openai.BadRequestError) as unknown:
        client.images.generate(model="dall-e-4", prompt="a cat")
    body = refusal(unknown.value)
    assert (body["type"], body["param"], body["code"]) == ("invalid_request_error", "model", "invalid_value")
    message = body["message"]
    assert message.startswith("Invalid value: 'dall-e-4'. Supported values are: " + PUBLISHED_FIRST + "'gpt-image-2', ")
    assert message.endswith(", 'dall-e-2', and 'dall-e-3'.") and "-2026-" not in message  # no dated snapshots
    with pytest.raises(openai.BadRequestError) as on_edits:
        client.images.edit(model="gpt-image-9", prompt="a hat", image=("a.png", _png(), "image/png"))
    edits = refusal(on_edits.value)["message"]
    assert edits.startswith("Invalid value: 'gpt-image-9'. Supported values are: " + PUBLISHED_FIRST)
    assert edits.endswith(", and 'dall-e-2'.") and "dall-e-3" not in edits
    with pytest.raises(openai.BadRequestError) as on_variations:
        client.images.create_variation(model="dall-e-4", image=("a.png", _png(), "image/png"))
    assert refusal(on_variations.value) == {"message": "Invalid value: 'dall-e-4'. Supported values are: 'dall-e-2'.",
                                            "type": "invalid_request_error", "param": "model", "code": "invalid_value"}
    # A known model on a route that does not serve it keeps the DALL·E era's words.
    with pytest.raises(openai.BadRequestError) as dalle3_edit:
        client.images.edit(model="dall-e-3", prompt="a hat", image=("a.png", _png(), "image/png"))
    assert refusal(dalle3_edit.value) == {"message": "Invalid model dall-e-3. The model argument should be left blank.",
                                          "type": "invalid_request_error", "param": None, "code": None}


def test_an_unknown_image_model_async(server: Any) -> None:
    from openai import AsyncOpenAI, BadRequestError

    async def main() -> dict[str, Any]:
        async with AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            with pytest.raises(BadRequestError) as unknown:
                await client.images.generate(model="gpt-image-9", prompt="a cat")
            return refusal(unknown.value)

    body = asyncio.run(main())
    assert body["param"] == "model" and body["code"] == "invalid_value"
    assert body["message"].startswith("Invalid value: 'gpt-image-9'. Supported values are: " + PUBLISHED_FIRST)


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-flare",
                                   "gpt-image-2.6-sunburst"])
def test_input_fidelity_on_a_model_without_it_has_its_own_code(server: Any, model: str) -> None:
    import openai

    expected = {"message": f"The model '{model}' does not support the 'input_fidelity' parameter.",
                "type": "image_generation_user_error", "param": "input_fidelity",
                "code": "invalid_input_fidelity_model"}
    with pytest.raises(openai.BadRequestError) as refused:
        server.client().images.edit(model=model, prompt="a hat", image=("a.png", _png(), "image/png"),
                                    input_fidelity="high")
    assert refusal(refused.value) == expected

    async def main() -> dict[str, Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            with pytest.raises(openai.BadRequestError) as refused_async:
                await client.images.edit(model=model, prompt="a hat", image=("a.png", _png(), "image/png"),
                                         input_fidelity="low")
            return refusal(refused_async.value)

    assert asyncio.run(main()) == expected


FREE_SIZE_REFUSALS = [
    ("1500x1500", "Width and height must both be divisible by 16."),
    ("4096x4096", "The longest edge must be less than or equal to 3840."),
    ("3856x2160", "The longest edge must be less than or equal to 3840."),
    ("3840x1024", "The aspect ratio must be between 1:3 and 3:1."),
    ("512x512", "Requested resolution is below the current minimum pixel budget."),
    ("800x800", "Requested resolution is below the current minimum pixel budget."),
    ("1008x640", "Requested resolution is below the current minimum pixel budget."),
    ("3008x3008", "Requested resolution exceeds the current pixel budget."),
    ("2560x3840", "Requested resolution exceeds the current pixel budget."),
]


def test_free_sizes_keep_to_the_edges_and_the_pixel_budget(server: Any) -> None:
    import openai

    client = server.client()
    for size, reason in FREE_SIZE_REFUSALS:
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.generate(model="gpt-image-2", prompt="a cat", size=size, quality="low")
        assert refusal(refused.value) == {"message": f"Invalid size '{size}'. {reason}",
                                          "type": "image_generation_user_error", "param": "size",
                                          "code": "invalid_value"}, size
    with pytest.raises(openai.BadRequestError) as tool:  # the image tool: the same sentence, on `tools`, as published
        client.responses.create(model=MODEL, input="a cat", tools=[{**FAST, "size": "1666x2514"}])  # type: ignore[list-item]
    assert refusal(tool.value) == {"message": "Invalid size '1666x2514'. Width and height must both be divisible by 16.",
                                   "type": "image_generation_user_error", "param": "tools", "code": "invalid_value"}
    made = client.images.generate(model="gpt-image-2.6-flare", prompt="a cat", size="1024x640", quality="low")
    assert made.size == "1024x640" and made.data and picture(made.data[0].b64_json or "").size == (1024, 640)

    async def main() -> dict[str, Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            with pytest.raises(openai.BadRequestError) as refused_async:
                await aclient.images.edit(model="gpt-image-2.5-sunburst", prompt="a hat", size="768x768",
                                          image=("a.png", _png(), "image/png"))
            return refusal(refused_async.value)

    assert asyncio.run(main())["message"] == (
        "Invalid size '768x768'. Requested resolution is below the current minimum pixel budget.")


def test_the_invalid_size_hint_names_the_pixel_budget() -> None:
    """A learner whose free size is refused for its pixels is told the budget, not only the edges."""
    from course.hints import hint_for_text

    hint = hint_for_text("BadRequestError: Error code: 400 - Invalid size '512x512'. Requested resolution is below "
                         "the current minimum pixel budget.", {"model": "gpt-image-2", "size": "512x512"})
    assert hint is not None and hint.id == "invalid-size"
    assert "'512x512' is not a size gpt-image-2 can make" in hint.text and "655,360 to 8,294,400 pixels" in hint.text


def test_the_free_size_limits_are_those_of_the_rules_table() -> None:
    """Each limit in rules_2026.json is where the offline API starts refusing: on it accepted, past it refused."""
    from course.offline.errors import APIError
    from course.offline.params import parse

    limits = rule("free_size_limits")["limits"]

    def size_of(size: str) -> tuple[int, int]:
        p = parse("generations", {"model": "gpt-image-2", "prompt": "a cat", "size": size})
        return p.width, p.height

    step, edge, ratio = limits["step"], limits["max_edge"], limits["max_ratio"]
    assert limits["min_pixels"] == 1024 * 640 and limits["max_pixels"] == 2880 * 2880 == 3840 * 2160
    assert size_of("1024x640") == (1024, 640) and size_of("2880x2880") == (2880, 2880)  # the floor, the ceiling
    assert size_of(f"{edge}x{edge // ratio}") == (edge, edge // ratio)  # the longest edge at the widest ratio
    for size in ("1024x624", "2896x2880", f"{edge + step}x{edge // ratio}", f"{edge}x{edge // ratio - step}",
                 f"{1024 + step // 2}x1024"):
        with pytest.raises(APIError):
            size_of(size)


def test_a_size_the_model_does_not_offer_lists_the_sizes_in_the_api_s_order(server: Any) -> None:
    import typing

    import openai
    from openai.types.responses.tool import ImageGeneration

    annotation = ImageGeneration.model_fields["size"].annotation
    literal = next(a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal)
    order = list(typing.get_args(literal))
    assert order == ["1024x1024", "1024x1536", "1536x1024", "auto"]  # the reference's order
    listed = "'1024x1024', '1024x1536', '1536x1024', and 'auto'"
    client = server.client()
    for model, size in (("gpt-image-1.5", "512x512"), ("gpt-image-1-mini", "1792x1024"), ("gpt-image-2", "huge")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.generate(model=model, prompt="a cat", size=size)  # type: ignore[arg-type]
        assert refusal(refused.value) == {"message": f"Invalid value: '{size}'. Supported values are: {listed}.",
                                          "type": "invalid_request_error", "param": "size", "code": "invalid_value"}

    async def main() -> dict[str, Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            with pytest.raises(openai.BadRequestError) as refused_async:
                await aclient.images.edit(model="chatgpt-image-latest", prompt="a hat", size="256x256",
                                          image=("a.png", _png(), "image/png"))
            return refusal(refused_async.value)

    assert asyncio.run(main())["message"] == f"Invalid value: '256x256'. Supported values are: {listed}."


def test_a_transparent_jpeg_is_refused_with_the_api_s_sentence(server: Any) -> None:
    import openai

    from course.offline.params import parse

    expected = {"message": "Transparent background is not supported for JPEG output format",
                "type": "image_generation_user_error", "param": None,
                "code": "invalid_transparent_background_output_format"}
    client = server.client()
    with pytest.raises(openai.BadRequestError) as generated:
        client.images.generate(model="gpt-image-2", prompt="a sticker", background="transparent", output_format="jpeg")
    assert refusal(generated.value) == expected
    with pytest.raises(openai.BadRequestError) as edited:
        client.images.edit(model="gpt-image-1.5", prompt="a sticker", background="transparent", output_format="jpeg",
                           image=("a.png", _png(), "image/png"))
    assert refusal(edited.value) == expected
    with pytest.raises(openai.BadRequestError) as tool:
        jpeg_tool = {**FAST, "background": "transparent", "output_format": "jpeg"}
        client.responses.create(model=MODEL, input="a sticker", tools=[jpeg_tool])  # type: ignore[list-item]
    assert refusal(tool.value) == {**expected, "param": "tools"}  # the image tool's own errors name `tools`

    async def main() -> dict[str, Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as aclient:
            with pytest.raises(openai.BadRequestError) as refused_async:
                await aclient.images.generate(model="gpt-image-2.5-flare", prompt="a sticker", background="transparent",
                                              output_format="jpeg")
            return refusal(refused_async.value)

    assert asyncio.run(main()) == expected
    # PNG and WebP keep their transparency, gpt-image-2's (in preview, as the SDK says) included.
    for model in ("gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-sunburst"):
        for fmt in ("png", "webp"):
            p = parse("generations", {"model": model, "prompt": "a sticker", "background": "transparent",
                                      "output_format": fmt})
            assert p.background == "transparent" and p.output_format == fmt
