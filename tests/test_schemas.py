"""Success and error bodies, sent over real HTTP, validate against the official OpenAPI schemas.

The 2024 subset (OpenAPI 3.0, DALL-E era) is checked with `OAS30Validator`, the 2026 subset
(OpenAPI 3.1, GPT image models) with `OAS31Validator`; `$ref`s resolve against the whole loaded
spec. Requests go out with httpx2 (the HTTP client the installed openai SDK depends on), so the
exact JSON the server wrote is what gets validated, not an SDK model built from it.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from course.offline.requestlog import read_log
from tests.openapi import SPEC_2024, SPEC_2026, schema_errors, validator

KEY = "sk-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


# --- the official schemas ------------------------------------------------------------------







def validate(body: Any, spec_name: str, component: str) -> None:
    errors = schema_errors(body, spec_name, component)
    assert not errors, f"{component} ({spec_name}) rejects the body:\n  " + "\n  ".join(errors)


# --- helpers -------------------------------------------------------------------------------


def assert_api_headers(response: httpx2.Response) -> None:
    headers = response.headers
    assert REQUEST_ID.match(headers.get("x-request-id", "")), headers.get("x-request-id")
    assert headers.get("openai-version") == "2020-10-01"
    ms = headers.get("openai-processing-ms", "")
    assert re.fullmatch(r"\d+", ms), ms
    int(ms)
    assert headers.get("content-type", "").split(";")[0].strip() == "application/json"
    assert "request-id" not in headers, "the server must not send a bare request-id header (openai 0.28 reads it)"


def post_json(server: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.post(f"{server.base_url}{path}", json=body, headers=AUTH if headers is None else headers,
                       timeout=60)


def post_form(server: Any, path: str, data: dict[str, Any], files: list[tuple[str, tuple[str, bytes, str]]],
              headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.post(f"{server.base_url}{path}", data=data, files=files, headers=AUTH if headers is None else headers,
                       timeout=60)


def png(size: int = 64, mode: str = "RGBA", hole: bool = True, colour: tuple[int, ...] = (30, 120, 200, 255)) -> bytes:
    """A square PNG; with `hole`, the centre quarter is fully transparent (alpha 0)."""
    image = Image.new(mode, (size, size), colour[: len(mode)])
    if hole and "A" in mode:
        q = size // 4
        image.paste(Image.new(mode, (2 * q, 2 * q), (0,) * len(mode)), (q, q))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def success(response: httpx2.Response, *specs: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:2000]
    assert_api_headers(response)
    body = response.json()
    for spec in specs:
        validate(body, spec, "ImagesResponse")
    return body


def failure(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert_api_headers(response)
    body = response.json()
    validate(body, SPEC_2024, "ErrorResponse")
    validate(body, SPEC_2026, "ErrorResponse")
    assert list(body) == ["error"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body


def decoded(item: dict[str, Any]) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
    image.load()
    return image


def logged(server: Any, request_id: str) -> Any:
    rows = [r for r in read_log(server.data_dir) if r.request_id == request_id]
    assert len(rows) == 1, f"{request_id} not logged exactly once"
    return rows[0]


# --- the validators are not vacuous --------------------------------------------------------


@pytest.mark.parametrize("spec", [SPEC_2024, SPEC_2026])
def test_validators_reject_wrong_bodies(spec: str) -> None:
    assert list(validator(spec, "ImagesResponse").iter_errors({"created": "yesterday", "data": []}))
    assert list(validator(spec, "ImagesResponse").iter_errors({"created": 1, "data": [{"url": 3}]}))
    assert list(validator(spec, "ErrorResponse").iter_errors({"error": {"message": "x", "type": "t"}}))
    assert list(validator(spec, "ErrorResponse").iter_errors({"error": {"message": None, "type": "t", "param": None,
                                                                        "code": None}}))
    assert not list(validator(spec, "ErrorResponse").iter_errors({"error": {"message": "x", "type": "t",
                                                                            "param": None, "code": None}}))


def test_2026_validator_rejects_unknown_enum_values() -> None:
    good = {"created": 1, "data": [{"b64_json": "AA=="}], "background": "opaque", "output_format": "png",
            "quality": "medium", "size": "1024x1024",
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3,
                      "input_tokens_details": {"text_tokens": 1, "image_tokens": 0}}}
    assert not list(validator(SPEC_2026, "ImagesResponse").iter_errors(good))
    for key, value in [("background", "auto"), ("output_format", "gif"), ("quality", "xhigh"), ("size", "auto")]:
        assert list(validator(SPEC_2026, "ImagesResponse").iter_errors({**good, key: value})), key
    assert list(validator(SPEC_2026, "ImagesResponse").iter_errors({**good, "usage": {"input_tokens": 1}}))


# --- DALL-E 2 generations --------------------------------------------------------------------


def test_dalle2_generation_url_default(server: Any) -> None:
    r = post_json(server, "/images/generations", {"prompt": "a red fox in the snow"})
    body = success(r, SPEC_2024, SPEC_2026)
    assert body["created"] == int(server.clock())
    assert len(body["data"]) == 1
    assert set(body["data"][0]) == {"url"}
    assert "usage" not in body and "revised_prompt" not in body["data"][0]
    row = logged(server, r.headers["x-request-id"])
    assert row.status == 200 and row.model == "dall-e-2"


def test_dalle2_generation_b64_json(server: Any) -> None:
    r = post_json(server, "/images/generations",
                  {"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256", "response_format": "b64_json"})
    body = success(r, SPEC_2024, SPEC_2026)
    assert set(body["data"][0]) == {"b64_json"}
    image = decoded(body["data"][0])
    assert image.format == "PNG" and image.size == (256, 256)


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_dalle2_generation_n3(server: Any, response_format: str) -> None:
    r = post_json(server, "/images/generations",
                  {"prompt": "three cats", "n": 3, "size": "512x512", "response_format": response_format})
    body = success(r, SPEC_2024, SPEC_2026)
    assert len(body["data"]) == 3
    assert all(set(item) == {response_format} for item in body["data"])
    assert len({item[response_format] for item in body["data"]}) == 3


def test_explicit_nulls_are_defaults(server: Any) -> None:
    """The SDK sends an explicit None as JSON null; the body is still a valid 2024 response."""
    r = post_json(server, "/images/generations",
                  {"prompt": "a kite", "model": None, "n": None, "size": None, "response_format": None})
    body = success(r, SPEC_2024, SPEC_2026)
    assert set(body["data"][0]) == {"url"}


# --- DALL-E 3 --------------------------------------------------------------------------------


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
@pytest.mark.parametrize(("quality", "style", "size"), [("hd", "natural", "1792x1024"), ("standard", "vivid", "1024x1792")])
def test_dalle3_generation(server: Any, response_format: str, quality: str, style: str, size: str) -> None:
    r = post_json(server, "/images/generations", {
        "model": "dall-e-3", "prompt": "a quiet harbour at dawn", "quality": quality, "style": style, "size": size,
        "response_format": response_format,
    })
    body = success(r, SPEC_2024, SPEC_2026)
    assert len(body["data"]) == 1
    item = body["data"][0]
    assert set(item) == {response_format, "revised_prompt"}
    assert isinstance(item["revised_prompt"], str) and item["revised_prompt"]
    if response_format == "b64_json":
        assert decoded(item).size == tuple(int(x) for x in size.split("x"))


# --- DALL-E 2 edits and variations (multipart) -----------------------------------------------


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_dalle2_edit_with_mask(server: Any, response_format: str) -> None:
    image = png(64, "RGBA", hole=False)
    mask = png(64, "RGBA", hole=True)
    r = post_form(server, "/images/edits",
                  {"prompt": "a yellow sun", "n": "2", "size": "256x256", "response_format": response_format},
                  [("image", ("image.png", image, "image/png")), ("mask", ("mask.png", mask, "image/png"))])
    body = success(r, SPEC_2024, SPEC_2026)
    assert len(body["data"]) == 2
    assert all(set(item) == {response_format} for item in body["data"])
    if response_format == "b64_json":
        out = decoded(body["data"][0])
        assert out.format == "PNG" and out.size == (256, 256)
    row = logged(server, r.headers["x-request-id"])
    assert row.status == 200 and row.route == "/v1/images/edits"


def test_dalle2_edit_transparent_image_without_mask(server: Any) -> None:
    r = post_form(server, "/images/edits", {"model": "dall-e-2", "prompt": "a boat", "size": "512x512"},
                  [("image", ("image.png", png(128, "RGBA", hole=True), "image/png"))])
    body = success(r, SPEC_2024, SPEC_2026)
    assert set(body["data"][0]) == {"url"}


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_dalle2_variations(server: Any, response_format: str) -> None:
    r = post_form(server, "/images/variations", {"n": "3", "size": "256x256", "response_format": response_format},
                  [("image", ("otter.png", png(64, "RGB", hole=False, colour=(200, 40, 40)), "image/png"))])
    body = success(r, SPEC_2024, SPEC_2026)
    assert len(body["data"]) == 3
    assert all(set(item) == {response_format} for item in body["data"])


# --- GPT image models (2026 schema) -----------------------------------------------------------

GPT_GENERATIONS = [
    ("gpt-image-1.5", {}),
    ("gpt-image-1.5", {"quality": "low", "size": "1536x1024"}),
    ("gpt-image-1.5", {"quality": "high", "background": "transparent", "output_format": "png"}),
    ("gpt-image-2", {"output_format": "jpeg", "output_compression": 50, "quality": "low"}),
    ("gpt-image-2", {"output_format": "webp", "background": "transparent", "quality": "high", "size": "1024x1536"}),
    ("gpt-image-2", {"size": "auto", "n": 2, "moderation": "low"}),
    ("gpt-image-2", {"size": "1152x768", "quality": "low"}),  # a free size: the 2026 schema has no name for it
    ("gpt-image-2.5-flare", {"quality": "xhigh", "size": "1536x864"}),  # nor for xhigh: the SDK's types have both
]
SCHEMA_SIZES = ("1024x1024", "1024x1536", "1536x1024")
SCHEMA_QUALITIES = ("low", "medium", "high")


@pytest.mark.parametrize(("model", "extra"), GPT_GENERATIONS, ids=lambda v: json.dumps(v) if isinstance(v, dict) else v)
def test_gpt_generation(server: Any, model: str, extra: dict[str, Any]) -> None:
    from openai.types import ImagesResponse

    r = post_json(server, "/images/generations", {"model": model, "prompt": "a paper crane on a desk", **extra})
    body = success(r)
    # Where the 2026 schema has no name for a value (a free size, xhigh), the SDK's newer types do.
    validate({k: v for k, v in body.items() if not (k == "size" and v not in SCHEMA_SIZES or
                                                    k == "quality" and v not in SCHEMA_QUALITIES)},
             SPEC_2026, "ImagesResponse")
    typed = ImagesResponse.model_validate(body)
    assert typed.size == body["size"] and typed.quality == body["quality"]
    assert typed.usage and typed.usage.output_tokens_details
    if extra.get("size", "auto") != "auto":
        assert body["size"] == extra["size"]
    assert len(body["data"]) == extra.get("n", 1)
    assert all(set(item) == {"b64_json"} for item in body["data"])
    fmt = extra.get("output_format", "png")
    assert body["output_format"] == fmt
    assert body["background"] == ("transparent" if extra.get("background") == "transparent" else "opaque")
    image = decoded(body["data"][0])
    assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    if extra.get("background") == "transparent":
        assert "A" in image.mode
    if "size" in body:
        assert image.size == tuple(int(x) for x in body["size"].split("x"))
    if "quality" in extra:
        assert body["quality"] == extra["quality"]
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]


@pytest.mark.parametrize(("model", "extra", "field"), [
    ("gpt-image-1.5", {"quality": "high"}, "image"),
    ("gpt-image-2", {"output_format": "webp", "background": "transparent", "quality": "low"}, "image[]"),
    ("gpt-image-2", {"output_format": "jpeg", "size": "1024x1024"}, "image[]"),
])
def test_gpt_edit(server: Any, model: str, extra: dict[str, Any], field: str) -> None:
    files = [(field, (f"in{i}.png", png(96, "RGBA", hole=False, colour=(20 * i, 90, 160, 255)), "image/png"))
             for i in range(2 if field == "image[]" else 1)]
    files.append(("mask", ("mask.png", png(96, "RGBA", hole=True), "image/png")))
    r = post_form(server, "/images/edits", {"model": model, "prompt": "add a red balloon", **{k: str(v) for k, v in
                                                                                          extra.items()}}, files)
    body = success(r, SPEC_2026)
    assert set(body["data"][0]) == {"b64_json"}
    assert body["output_format"] == extra.get("output_format", "png")
    assert body["usage"]["input_tokens_details"]["image_tokens"] > 0


# --- errors -----------------------------------------------------------------------------------


def test_invalid_size_error(server: Any) -> None:
    r = post_json(server, "/images/generations", {"prompt": "a cat", "size": "255x255"})
    body = failure(r, 400)
    assert body["error"] == {
        "message": "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'",
        "type": "invalid_request_error", "param": None, "code": None,
    }
    row = logged(server, r.headers["x-request-id"])
    assert row.status == 400


def test_size_of_other_model_error(server: Any) -> None:
    body = failure(post_json(server, "/images/generations", {"prompt": "a cat", "model": "dall-e-3",
                                                              "size": "256x256"}), 400)
    assert body["error"]["code"] == "invalid_size"


def test_missing_key_401(server: Any) -> None:
    r = post_json(server, "/images/generations", {"prompt": "a cat"}, headers={})
    body = failure(r, 401)
    assert body["error"]["message"].startswith("You didn't provide an API key.")
    assert body["error"]["type"] == "invalid_request_error"
    assert logged(server, r.headers["x-request-id"]).status == 401


def test_wrong_key_401(start_server: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"sk-good-key-000000000000": "learner-1"}), encoding="utf-8")
    server = start_server(keys_file=keys)
    r = post_json(server, "/images/generations", {"prompt": "a cat"},
                  headers={"Authorization": "Bearer sk-PMafPwrongwrongwrongE873"})
    body = failure(r, 401)
    assert body["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"model": "gpt-image-1.5", "prompt": "x", "n": 11}, "n", "integer_above_max_value"),
    ({"model": "gpt-image-2", "prompt": "x", "response_format": "url"}, "response_format", "unknown_parameter"),
    ({"model": "gpt-image-2", "prompt": "x", "size": "1000x1000"}, "size", "invalid_value"),
])
def test_gpt_errors(server: Any, body: dict[str, Any], param: str, code: str) -> None:
    error = failure(post_json(server, "/images/generations", body), 400)["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_dalle_edit_errors(server: Any) -> None:
    rgb = png(64, "RGB", hole=False)
    failure(post_form(server, "/images/edits", {"prompt": "x"}, [("image", ("a.png", rgb, "image/png"))]), 400)
    failure(post_form(server, "/images/variations", {}, [("image", ("a.jpg", b"\xff\xd8\xff\xe0junk", "image/jpeg"))]),
            400)
    failure(post_form(server, "/images/variations", {"n": "1"}, []), 400)


def test_unknown_path_404(server: Any) -> None:
    body = failure(post_json(server, "/images/foo", {"prompt": "x"}), 404)
    assert body["error"]["message"] == "Invalid URL (POST /v1/images/foo)"
