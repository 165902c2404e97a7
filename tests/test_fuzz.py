"""Fuzzing the three image routes, and hand-written hostile requests, against a real server on loopback.

Part 1 drives schemathesis (4.x) over the official OpenAPI subsets, 2024 (DALL-E era) and 2026 (GPT
image models): for every operation, positive data (fits the request schema) and negative data (breaks
it). Every answer must be a 2xx whose body validates against the spec's `ImagesResponse`, or a 4xx in
the real envelope `{"error": {"message", "type", "param", "code"}}`; never a 5xx. Every request must
also have its own row, with the same status, in the SQLite request log.

Schemathesis's own conformance checks are not used: the subsets document only 200, so they would flag
every documented-by-prose 400 ("undocumented status code"), and the negative-data / content-type checks
flag requests the real API also refuses with a 400. `not_a_server_error` is kept, plus the checks here.

Part 2 sends hostile requests with raw HTTP (httpx2, the client the installed openai SDK uses, and raw
sockets where the wire matters): malformed JSON, wrong content types, non-UTF-8 bytes, wrong types,
unknown fields, truncated and bomb PNGs, bodies over 50 MB, multipart bodies with no boundary.
"""

from __future__ import annotations

import copy
import io
import json
import re
import select
import socket
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.transport.serialization import Binary

from course.offline.requestlog import read_log
from tests.openapi import SPEC_2024, SPEC_2026, load_spec, schema_errors

pytestmark = pytest.mark.slow  # property-based runs against live servers

AUTH = {"Authorization": "Bearer sk-fuzz"}
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
MB = 1024 * 1024
MAX_BODY = 50 * MB

ROUTES = ["/images/generations", "/images/edits", "/images/variations"]
MAX_EXAMPLES = {GenerationMode.POSITIVE: 150, GenerationMode.NEGATIVE: 100}


# --- schemas -------------------------------------------------------------------------------







def fuzz_schema(spec_name: str) -> Any:
    """The spec as schemathesis sees it, minus `security`: the key is always sent (401s are tested by hand)."""
    spec = copy.deepcopy(load_spec(spec_name))
    spec.pop("security", None)
    spec["components"].pop("securitySchemes", None)
    return schemathesis.openapi.from_dict(spec)


# --- the one verdict every answer gets -------------------------------------------------------


def header(headers: Any, name: str) -> str | None:
    """One header from an httpx2 response (str values) or a schemathesis one (list values)."""
    value = headers.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def verdict(status: int, headers: Any, content: bytes, spec_name: str) -> list[str]:
    """Why this answer breaks the contract (an empty list when it does not)."""
    problems: list[str] = []
    if status >= 500 or not (200 <= status < 300 or 400 <= status < 500):
        problems.append(f"status {status}")
    content_type = header(headers, "content-type") or ""
    if content_type.split(";")[0].strip() != "application/json":
        problems.append(f"content-type {content_type!r}")
    if not REQUEST_ID.match(header(headers, "x-request-id") or ""):
        problems.append(f"x-request-id {header(headers, 'x-request-id')!r}")
    if header(headers, "request-id") is not None:
        problems.append("a bare request-id header was sent")
    try:
        body = json.loads(content)
    except ValueError:
        return problems + [f"body is not JSON: {content[:200]!r}"]
    if 200 <= status < 300:
        problems += schema_errors(body, spec_name, "ImagesResponse")
    else:
        problems += schema_errors(body, spec_name, "ErrorResponse")
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(body, dict) and list(body) == ["error"] and isinstance(error, dict)
                and set(error) == {"message", "type", "param", "code"}):
            problems.append(f"not the error envelope: {body!r:.300}")
        else:
            if not (isinstance(error["message"], str) and error["message"]):
                problems.append("error.message is not a non-empty string")
            if not isinstance(error["type"], str):
                problems.append("error.type is not a string")
            for key in ("param", "code"):
                if error[key] is not None and not isinstance(error[key], str):
                    problems.append(f"error.{key} is neither null nor a string")
    return problems


def assert_logged(server: Any, answers: dict[str, int]) -> None:
    """Each answered request has exactly one row in the request log, with the status it was answered with."""
    rows: dict[str, list[int]] = {}
    for row in read_log(server.data_dir):
        rows.setdefault(row.request_id or "", []).append(row.status)
    missing = {rid: status for rid, status in answers.items() if rows.get(rid) != [status]}
    assert not missing, f"requests not logged (or logged with another status): {dict(list(missing.items())[:5])}"


# --- inputs that get the fuzzer past the first checks -----------------------------------------


def png_bytes(size: tuple[int, int], mode: str = "RGBA", hole: bool = True) -> bytes:
    colour = {"RGBA": (40, 140, 90, 255), "RGB": (40, 140, 90), "L": 128, "LA": (128, 255), "P": 3}[mode]
    image = Image.new(mode, size, colour)
    if hole and mode in ("RGBA", "LA"):
        w, h = size
        image.paste(Image.new(mode, (w // 2, h // 2), (0,) * len(mode)), (w // 4, h // 4))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


UPLOADS = [
    png_bytes((32, 32)),
    png_bytes((32, 32), hole=False),
    png_bytes((48, 48), "RGB"),
    png_bytes((32, 32), "LA"),
    png_bytes((32, 32), "L"),
    png_bytes((32, 32), "P"),
    png_bytes((48, 32)),  # not square
    jpeg_bytes((32, 32)),
    png_bytes((32, 32))[:60],  # truncated
]
MODELS = {
    SPEC_2024: {"/images/generations": ["dall-e-2", "dall-e-3"], "/images/edits": ["dall-e-2"],
                "/images/variations": ["dall-e-2"]},
    SPEC_2026: {"/images/generations": ["dall-e-2", "dall-e-3", "gpt-image-1.5", "gpt-image-2", "gpt-image-1-mini"],
                "/images/edits": ["dall-e-2", "gpt-image-1.5", "gpt-image-2", "gpt-image-1-mini"],
                "/images/variations": ["dall-e-2"]},
}


REQUEST_SCHEMAS = {"/images/generations": "CreateImageRequest", "/images/edits": "CreateImageEditRequest",
                   "/images/variations": "CreateImageVariationRequest"}
GOOD_UPLOADS = UPLOADS[:2]  # square RGBA PNGs: valid for every model and route


def steer(case: Any, data: Any, spec_name: str, path: str) -> bool:
    """Half of the positive cases are steered towards success, so that the fuzzer reaches rendering.

    A steered case gets a known model, loses the keys its era does not know (the request schemas have no
    `additionalProperties: false`, so schemathesis adds random ones; the 2024 spec is the DALL-E era's list),
    loses multipart nulls (the SDK omits them; schemathesis sends the text "null"), gets a real prompt if
    it had a blank one, real images, and at most n=3. Values inside the schema's ranges are left as drawn.
    """
    body = case.body
    if not isinstance(body, dict) or not data.draw(st.booleans(), label="steer"):
        return False
    model = data.draw(st.sampled_from(MODELS[spec_name][path]), label="model")
    era = SPEC_2026 if model.startswith("gpt-image") else SPEC_2024
    known = load_spec(era)["components"]["schemas"][REQUEST_SCHEMAS[path]]["properties"]
    multipart = bool(case.media_type and case.media_type.startswith("multipart/"))
    for key in list(body):
        if key not in known or (multipart and body[key] is None):
            del body[key]
    body["model"] = model
    if path != "/images/variations" and not (isinstance(body.get("prompt"), str) and body["prompt"].strip()):
        body["prompt"] = "a red kite over green hills"
    if multipart:
        body["image"] = Binary(data.draw(st.sampled_from(GOOD_UPLOADS + UPLOADS), label="image"))
        if "mask" in body:
            body["mask"] = Binary(data.draw(st.sampled_from(GOOD_UPLOADS), label="mask"))
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 3:
        body["n"] = data.draw(st.integers(1, 3), label="n")  # ten 1024x1024 renders per example add up
    return True


def send(case: Any, base_url: str, steered: bool) -> Any:
    """`case.call`, except that a steered case's image parts always go out as files.

    schemathesis names a multipart part as a file only when its property schema says `format: binary`; the
    2026 `image` property is `anyOf: [binary, array of binary]`, so it goes out as a plain text field
    (refused with a 400, correctly) and the 2026 edits could never succeed. Unsteered cases go out as drawn.
    """
    if not steered:
        return case.call(base_url=base_url, headers=AUTH, timeout=60)
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=AUTH)
    if kwargs.get("files"):
        kwargs["files"] = [
            (name, (f"{name}.png", *part[1:])) if name in ("image", "mask") and part[0] is None else (name, part)
            for name, part in kwargs["files"]
        ]
    return requests.request(**kwargs, timeout=60)


# --- part 1: schemathesis -----------------------------------------------------------------------

FUZZ_PARAMS = [
    pytest.param(spec, path, mode, id=f"{spec[14:18]}-{path.rsplit('/', 1)[-1]}-{mode.value}")
    for spec in (SPEC_2024, SPEC_2026) for path in ROUTES for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("spec_name", "path", "mode"), FUZZ_PARAMS)
def test_fuzz_route(start_server: Any, spec_name: str, path: str, mode: GenerationMode) -> None:
    server = start_server()
    operation = fuzz_schema(spec_name)[path]["POST"]
    answers: dict[str, int] = {}
    statuses: dict[int, int] = {}

    @settings(max_examples=MAX_EXAMPLES[mode], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: Any) -> None:
        steered = mode is GenerationMode.POSITIVE and steer(case, data, spec_name, path)
        response = send(case, server.base_url, steered)
        case.validate_response(response, checks=[not_a_server_error])
        problems = verdict(response.status_code, response.headers, response.content, spec_name)
        assert not problems, f"{case.method} {case.path} {response.status_code}: {problems}\n{response.content[:500]!r}"
        answers[header(response.headers, "x-request-id") or ""] = response.status_code
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    run()
    assert answers, "no request was sent"
    assert_logged(server, answers)
    if mode is GenerationMode.POSITIVE:
        # Steered positive runs must reach rendering at least once, or the fuzzer proves little.
        assert statuses.get(200), f"no 200 among {statuses}"


# --- part 2: hostile requests by hand ---------------------------------------------------------


def checked(server: Any, response: httpx2.Response, status: int | None = None, spec: str = SPEC_2024) -> dict[str, Any]:
    """A 4xx in the real envelope (the given status, if any), logged once with that status."""
    problems = verdict(response.status_code, response.headers, response.content, spec)
    assert not problems, f"{response.status_code}: {problems}\n{response.text[:1000]}"
    assert 400 <= response.status_code < 500, response.text[:500]
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert_logged(server, {response.headers["x-request-id"]: response.status_code})
    return response.json()["error"]


def raw_post(server: Any, path: str, content: bytes, content_type: str | None,
             headers: dict[str, str] | None = None) -> httpx2.Response:
    all_headers = {**AUTH, **(headers or {})}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return httpx2.post(f"{server.base_url}{path}", content=content, headers=all_headers, timeout=60)


def form_post(server: Any, path: str, data: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]) -> httpx2.Response:
    return httpx2.post(f"{server.base_url}{path}", data=data, files=files, headers=AUTH, timeout=60)


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "hostile-boundary") -> bytes:
    """A multipart body by hand: (name, value, filename or None)."""
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: image/png\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking RGBA PNG whose header claims width x height; a few rows of zeros, deflated."""
    rows = zlib.compress((b"\x00" + b"\x00" * 4 * width) * 4, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


GOOD_PNG = png_bytes((64, 64))


# JSON bodies on /images/generations


@pytest.mark.parametrize("raw", [
    b'{"prompt": "a cat",',
    b'{"prompt": "a cat"} trailing',
    b"{'prompt': 'single quotes'}",
    b"",
    b"[" * 100_000,
    b'{"prompt": "x", "n": ' + b"9" * 5000 + b"}",
], ids=["truncated", "trailing", "single-quotes", "empty", "deep-nesting", "huge-int"])
def test_malformed_json(server: Any, raw: bytes) -> None:
    error = checked(server, raw_post(server, "/images/generations", raw, "application/json"), 400)
    assert error["message"].startswith("We could not parse the JSON body of your request.")


@pytest.mark.parametrize("raw", [b'"just a string"', b"null", b"[1, 2]", b"42"])
def test_json_not_an_object(server: Any, raw: bytes) -> None:
    checked(server, raw_post(server, "/images/generations", raw, "application/json"), 400)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/images/generations", "text/plain"),
    ("/images/generations", "application/x-www-form-urlencoded"),
    ("/images/generations", None),
    ("/images/generations", "multipart/form-data; boundary=abc"),
    ("/images/edits", "application/json"),
    ("/images/variations", "application/json"),
    ("/images/variations", "text/plain"),
])
def test_wrong_content_type(server: Any, path: str, content_type: str | None) -> None:
    body = b'{"prompt": "a cat"}' if "json" in (content_type or "") or content_type is None else b"prompt=a+cat"
    error = checked(server, raw_post(server, path, body, content_type), 400)
    assert "Content-Type" in error["message"] or "multipart" in error["message"]


def test_non_utf8_json(server: Any) -> None:
    checked(server, raw_post(server, "/images/generations", b'{"prompt": "\xff\xfe caf\xe9"}', "application/json"), 400)


def test_non_utf8_multipart_field(server: Any) -> None:
    """Undecodable bytes in a form field: whatever the server makes of them, never a 500."""
    body = multipart([("prompt", b"\xff\xfe caf\xe9", None), ("n", b"\xff", None),
                      ("image", GOOD_PNG, "\xe9.png")])
    response = raw_post(server, "/images/edits", body, "multipart/form-data; boundary=hostile-boundary")
    checked(server, response, 400)


@pytest.mark.parametrize(("label", "raw"), [
    ("gpt-quality", b'{"model": "gpt-image-1.5", "prompt": "x", "quality": "\\ud800"}'),
    ("model", b'{"model": "\\ud800", "prompt": "x"}'),
    ("gpt-unknown-field", b'{"model": "gpt-image-2", "prompt": "x", "\\udfff": 1}'),
    ("dall-e-3-prompt", b'{"model": "dall-e-3", "prompt": "a cat \\ud83d"}'),
])
def test_lone_surrogate_escapes_in_json(server: Any, label: str, raw: bytes) -> None:
    """Valid JSON syntax whose strings cannot be UTF-8 (`\\ud800` unpaired): a 400, not a 500."""
    checked(server, raw_post(server, "/images/generations", raw, "application/json"), 400)


@pytest.mark.parametrize(("body", "spec", "param"), [
    ({"prompt": "a cat", "n": "two"}, SPEC_2024, None),
    ({"model": "dall-e-3", "prompt": "a cat", "n": "1"}, SPEC_2024, None),
    ({"model": "gpt-image-1.5", "prompt": "a cat", "n": "two"}, SPEC_2026, "n"),
    ({"prompt": "a cat", "n": 1.5}, SPEC_2024, None),
    ({"prompt": "a cat", "n": True}, SPEC_2024, None),
    ({"prompt": 42}, SPEC_2024, None),
    ({"prompt": ["a", "cat"]}, SPEC_2024, None),
    ({"prompt": "a cat", "size": 1024}, SPEC_2024, None),
    ({"model": 3, "prompt": "a cat"}, SPEC_2024, None),
    ({"model": "gpt-image-2", "prompt": "a cat", "output_compression": "50"}, SPEC_2026, "output_compression"),
    ({"model": "gpt-image-2", "prompt": "a cat", "user": {"id": 1}}, SPEC_2026, "user"),
])
def test_wrong_types(server: Any, body: dict[str, Any], spec: str, param: str | None) -> None:
    error = checked(server, raw_post(server, "/images/generations", json.dumps(body).encode(), "application/json"),
                    400, spec)
    assert error["param"] == param


def test_wrong_type_in_form(server: Any) -> None:
    response = form_post(server, "/images/variations", {"n": "two"}, [("image", ("a.png", GOOD_PNG, "image/png"))])
    assert checked(server, response, 400)["message"] == "'two' is not of type 'integer' - 'n'"


@pytest.mark.parametrize(("body", "spec"), [
    ({"prompt": "a cat", "colour": "red"}, SPEC_2024),
    ({"prompt": "a cat", "": 1}, SPEC_2024),
    ({"model": "gpt-image-1.5", "prompt": "a cat", "response_format": "url"}, SPEC_2026),
    ({"model": "gpt-image-2", "prompt": "a cat", "style": "vivid"}, SPEC_2026),
    ({"model": "dall-e-2", "prompt": "a cat", "background": "transparent"}, SPEC_2024),
])
def test_unknown_fields(server: Any, body: dict[str, Any], spec: str) -> None:
    checked(server, raw_post(server, "/images/generations", json.dumps(body).encode(), "application/json"), 400, spec)


def test_unknown_form_fields(server: Any) -> None:
    response = form_post(server, "/images/variations", {"prompt": "not here", "colour": "red"},
                         [("image", ("a.png", GOOD_PNG, "image/png"))])
    checked(server, response, 400)


@pytest.mark.parametrize(("path", "fields", "field"), [
    ("/images/variations", {}, "image"),
    ("/images/edits", {"prompt": "a hat"}, "image"),
    ("/images/edits", {"prompt": "a hat", "model": "gpt-image-1.5"}, "image"),
    ("/images/edits", {"prompt": "a hat"}, "mask"),
    ("/images/edits", {"prompt": "a hat", "model": "gpt-image-2"}, "mask"),
])
def test_truncated_png(server: Any, path: str, fields: dict[str, str], field: str) -> None:
    truncated = GOOD_PNG[: len(GOOD_PNG) // 2]
    files = [("image", ("a.png", GOOD_PNG if field == "mask" else truncated, "image/png"))]
    if field == "mask":
        files.append(("mask", ("m.png", truncated, "image/png")))
    checked(server, form_post(server, path, fields, files), 400, SPEC_2026)


@pytest.mark.parametrize(("path", "fields"), [
    ("/images/variations", {}),
    ("/images/edits", {"prompt": "a hat"}),
    ("/images/edits", {"prompt": "a hat", "model": "gpt-image-1.5"}),
    ("/images/edits", {"prompt": "a hat", "model": "gpt-image-2", "image_field": "image[]"}),
])
def test_decompression_bomb_png(server: Any, path: str, fields: dict[str, str]) -> None:
    bomb = bomb_png(40_000, 40_000)
    assert len(bomb) < 10_000
    field = fields.pop("image_field", "image")
    started = time.monotonic()
    response = form_post(server, path, fields, [(field, ("bomb.png", bomb, "image/png"))])
    checked(server, response, 400, SPEC_2026)
    assert time.monotonic() - started < 5, "the bomb was inflated"


@pytest.mark.parametrize(("fields", "size"), [
    ({"prompt": "a hat"}, (40_000, 40_000)),
    ({"prompt": "a hat"}, (9_000, 9_000)),
    ({"prompt": "a hat", "model": "gpt-image-1.5"}, (40_000, 40_000)),
    ({"prompt": "a hat", "model": "gpt-image-2"}, (8_200, 8_200)),
])
def test_decompression_bomb_is_refused_for_its_size(server: Any, fields: dict[str, str], size: tuple[int, int]) -> None:
    """uploads.py means to answer an oversized PNG with its own size errors (`Dalle.too_many_pixels`, the GPT
    `image_too_large`), not with "must be a PNG" / "unsupported mimetype ('image/png')" about a PNG."""
    response = form_post(server, "/images/edits", fields, [("image", ("bomb.png", bomb_png(*size), "image/png"))])
    error = checked(server, response, 400, SPEC_2026)
    w, h = size
    if "model" in fields:
        assert (error["param"], error["code"]) == ("image", "image_too_large"), error
    else:
        assert error["message"].startswith(f"Invalid input image - dimensions {w}x{h} are too large"), error


def test_decompression_bomb_as_mask(server: Any) -> None:
    response = form_post(server, "/images/edits", {"prompt": "a hat"},
                         [("image", ("a.png", GOOD_PNG, "image/png")), ("mask", ("m.png", bomb_png(40_000, 40_000),
                                                                                   "image/png"))])
    checked(server, response, 400)


def test_form_field_sent_as_file(server: Any) -> None:
    """`-F model=@file`: a text field arriving as a file part is refused with a 400, not a crash."""
    response = form_post(server, "/images/edits", {},
                         [("model", ("model.txt", b"gpt-image-1.5", "text/plain")),
                          ("prompt", ("prompt.txt", b"a hat", "text/plain")),
                          ("image", ("a.png", GOOD_PNG, "image/png"))])
    checked(server, response, 400, SPEC_2026)


def test_prompt_sent_as_file(server: Any) -> None:
    response = form_post(server, "/images/edits", {},
                         [("prompt", ("prompt.txt", b"a hat", "text/plain")), ("image", ("a.png", GOOD_PNG, "image/png"))])
    checked(server, response, 400)


@pytest.mark.parametrize("content_type", [
    "multipart/form-data",
    "multipart/form-data; charset=utf-8",
    "multipart/form-data; boundary=",
])
@pytest.mark.parametrize("path", ["/images/edits", "/images/variations"])
def test_multipart_without_boundary(server: Any, path: str, content_type: str) -> None:
    body = multipart([("prompt", b"a hat", None), ("image", GOOD_PNG, "a.png")])
    checked(server, raw_post(server, path, body, content_type), 400)


@pytest.mark.parametrize("body", [
    b"garbage, not multipart at all",
    # A file part cut off before its closing boundary: Starlette 1.10's MultiPartParser.parse() does not raise
    # at finalize(), and the half-written part's SpooledTemporaryFile is neither in the form nor closed (a
    # ResourceWarning when collected). The answer is a correct 400; the leak is Starlette's, reported apart.
    pytest.param(
        b"--hostile-boundary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG",
        marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"), id="unterminated-part",
    ),
    b"--hostile-boundary\r\nNo-Disposition: x\r\n\r\nvalue\r\n--hostile-boundary--\r\n",
], ids=lambda b: None)
def test_broken_multipart_body(server: Any, body: bytes) -> None:
    checked(server, raw_post(server, "/images/edits", body, "multipart/form-data; boundary=hostile-boundary"), 400)


def test_too_many_form_parts(server: Any) -> None:
    parts = [(f"f{i}", b"x", None) for i in range(100)] + [("image", GOOD_PNG, "a.png")]
    checked(server, raw_post(server, "/images/variations", multipart(parts),
                             "multipart/form-data; boundary=hostile-boundary"), 400)


# Bodies over 50 MB, on a raw socket: the answer must come before the whole body has been sent.


def _exchange(port: int, head: bytes, body: Iterable[bytes], timeout: float = 60) -> tuple[int, dict[str, str], bytes, int]:
    """Send `head`, then `body` chunk by chunk while watching for an answer; stop sending once it comes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent, pending, exhausted, received = 0, b"", False, b""
    chunks: Iterator[bytes] = iter(body)
    try:
        sock.sendall(head)
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [] if exhausted else [sock], [], 1)
            if readable:
                try:
                    data = sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    break
                received += data
                head_part, sep, rest = received.partition(b"\r\n\r\n")
                if sep:
                    lengths = [int(line.split(b":", 1)[1]) for line in head_part.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")]
                    if lengths and len(rest) >= lengths[0]:
                        break
                continue
            if writable:
                if not pending:
                    pending = next(chunks, b"")
                    if not pending:
                        exhausted = True
                        continue
                try:
                    n = sock.send(pending)
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    exhausted = True
                    continue
                sent += n
                pending = pending[n:]
    finally:
        sock.close()
    head_part, _, content = received.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1.1 "), f"no HTTP answer: {received[:200]!r}"
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, content, sent


def _filler(total: int, chunked: bool, prefix: bytes = b"") -> Iterator[bytes]:
    """`total` bytes of body, 1 MB at a time, made lazily (nothing near 50 MB is held in memory)."""
    block = b"a" * MB
    first = prefix
    left = total - len(prefix)
    while left > 0 or first:
        piece = first + block[: max(0, min(MB - len(first), left))]
        left -= len(piece) - len(first)
        first = b""
        yield (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize(("path", "content_type", "prefix"), [
    ("/images/generations", "application/json", b'{"prompt": "'),
    ("/images/edits", "multipart/form-data; boundary=big",
     b'--big\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'),
    ("/images/variations", "multipart/form-data; boundary=big",
     b'--big\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'),
])
def test_body_over_50_mb(server: Any, framing: str, path: str, content_type: str, prefix: bytes) -> None:
    total = 4 * MAX_BODY
    framing_header = f"Content-Length: {total}" if framing == "content-length" else "Transfer-Encoding: chunked"
    head = (f"POST /v1{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer sk-fuzz\r\n"
            f"Content-Type: {content_type}\r\n{framing_header}\r\n\r\n").encode()
    status, headers, content, sent = _exchange(server.port, head, _filler(total, framing == "chunked", prefix))
    assert status == 413, content[:500]
    assert not verdict(status, headers, content, SPEC_2024), verdict(status, headers, content, SPEC_2024)
    error = json.loads(content)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"
    if framing == "content-length":
        assert sent < MAX_BODY, f"the server read {sent} bytes before refusing a declared {total}"
    else:
        assert sent < 2 * MAX_BODY, f"the server kept reading past the limit ({sent} bytes sent)"
    assert_logged(server, {headers["x-request-id"]: 413})


def test_server_still_answers_after_hostile_input(server: Any) -> None:
    """After a round of hostile requests the same server still renders a normal request."""
    raw_post(server, "/images/generations", b"[" * 100_000, "application/json")
    form_post(server, "/images/variations", {}, [("image", ("bomb.png", bomb_png(40_000, 40_000), "image/png"))])
    response = raw_post(server, "/images/generations", b'{"prompt": "a calm sea", "size": "256x256"}',
                        "application/json")
    assert response.status_code == 200
    assert not verdict(response.status_code, response.headers, response.content, SPEC_2024)
