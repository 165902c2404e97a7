"""Does every row of the reference's error tables reach the real SDK exactly as OpenAI sends it?

Each case calls the installed `openai` SDK, unchanged, against a server on
loopback, and checks the exception class, the status, and `message`, `type`,
`param`, `code` to the character, plus `str(exc)` and `exc.request_id`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import openai
import pytest

from course.offline.models import listed_for
from tests.pngs import jpeg, mask, png

LONG_1192 = "a" * 1192
LONG_4001 = "b" * 4001
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the "
    "API from your browser and are prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
POLICY_2 = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed "
    "by our safety system."
)
POLICY_3 = (
    "Your request was rejected as a result of our safety system. Image descriptions generated from your prompt may "
    "contain text that is not allowed by our safety system. If you believe this was done in error, your request may "
    "succeed if retried, or by adjusting your prompt."
)

Call = Callable[[Any], Any]
# The models /v1/images/generations takes, as the unknown-model error lists them (the GPT image models first, in the
# order they came out; tests/test_api_round_two.py checks that order against the published bodies).
LISTED = ", ".join(f"'{m}'" for m in listed_for("generations")[:-1]) + f", and '{listed_for('generations')[-1]}'"

# The SDK marks `images.create_variation` deprecated (variations are dall-e-2 only); the lesson still teaches it.
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


def gen(**kw: Any) -> Call:
    kw.setdefault("prompt", "a dog smoking a cigar in a poker room")
    return lambda c: c.images.generate(**kw)


def edit(**kw: Any) -> Call:
    kw.setdefault("prompt", "add a hat")
    return lambda c: c.images.edit(**kw)


def variation(**kw: Any) -> Call:
    return lambda c: c.images.create_variation(**kw)


# (id, call, exception, status, type, param, code, message)
ROWS: list[tuple[str, Call, type, int, str, str | None, str | None, str]] = [
    ("size-in-no-list", gen(size="255x255"), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'"),
    ("size-256x1024", gen(size="256x1024"), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "'256x1024' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'"),
    ("size-of-other-model-dalle3", gen(model="dall-e-3", size="256x256"), openai.BadRequestError, 400,
     "invalid_request_error", None, "invalid_size", "The size is not supported by this model."),
    ("size-of-other-model-dalle2", gen(model="dall-e-2", size="1792x1024"), openai.BadRequestError, 400,
     "invalid_request_error", None, "invalid_size", "The size is not supported by this model."),
    ("n-2-on-dalle3", gen(model="dall-e-3", n=2), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "You must provide n=1 for this model."),
    ("n-0", gen(n=0), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "0 is less than the minimum of 1 - 'n'"),
    ("n-11", gen(n=11), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "11 is greater than the maximum of 10 - 'n'"),
    ("prompt-missing", gen(prompt=openai.omit, n=1), openai.BadRequestError, 400,
     "invalid_request_error", None, None, "'prompt' is a required property"),
    ("prompt-empty", gen(prompt=""), openai.BadRequestError, 400, "invalid_request_error", None, None,
     "You must provide a prompt."),
    ("prompt-too-long-dalle2", gen(prompt=LONG_1192), openai.BadRequestError, 400, "invalid_request_error", None,
     None, "Prompt must be length 1000 or less. Your prompt length is 1192. Please reduce your prompt length."),
    ("prompt-too-long-dalle3", gen(model="dall-e-3", prompt=LONG_4001), openai.BadRequestError, 400,
     "invalid_request_error", None, None, f"'{LONG_4001}' is too long - 'prompt'"),
    ("response-format-base64", gen(response_format="base64"), openai.BadRequestError, 400, "invalid_request_error",
     None, None, "'base64' is not one of ['b64_json', 'url'] - 'response_format'"),
    # An unknown model gets today's words (course/offline/data/rules_2026.json): no model of the DALL·E era is
    # involved. A known model on a route that does not serve it keeps the 2023 words (tests/test_params.py).
    ("unknown-model", gen(model="dall-e-4"), openai.BadRequestError, 400, "invalid_request_error", "model",
     "invalid_value", f"Invalid value: 'dall-e-4'. Supported values are: {LISTED}."),
    ("content-policy-dalle2", gen(prompt="a massacre in a poker room"), openai.BadRequestError, 400,
     "invalid_request_error", None, "content_policy_violation", POLICY_2),
    ("content-policy-dalle3", gen(model="dall-e-3", prompt="a massacre in a poker room"), openai.BadRequestError,
     400, "invalid_request_error", None, "content_policy_violation", POLICY_3),
    ("edit-image-not-png", edit(image=("photo.jpg", jpeg(), "image/jpeg")), openai.BadRequestError, 400,
     "invalid_request_error", None, None, "Uploaded image must be a PNG and less than 4 MB."),
    ("edit-image-too-big", edit(image=("big.png", png() + b"\0" * (4 * 1024 * 1024), "image/png")),
     openai.BadRequestError, 400, "invalid_request_error", None, None,
     "Uploaded image must be a PNG and less than 4 MB."),
    ("variation-not-png", variation(image=("photo.jpg", jpeg(), "image/jpeg")), openai.BadRequestError, 400,
     "invalid_request_error", None, None, "Uploaded image must be a PNG and less than 4 MB."),
    ("edit-not-square", edit(image=("wide.png", png((640, 480), hole=True), "image/png")), openai.BadRequestError,
     400, "invalid_request_error", None, None,
     "Invalid input image - expected an image with equal width and height, got 640x480 instead."),
    ("variation-not-square", variation(image=("wide.png", png((640, 480)), "image/png")), openai.BadRequestError,
     400, "invalid_request_error", None, None,
     "Invalid input image - expected an image with equal width and height, got 640x480 instead."),
    ("edit-no-mask-no-alpha", edit(image=("rgb.png", png(mode="RGB"), "image/png")), openai.BadRequestError, 400,
     "invalid_request_error", None, None, "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB."),
    ("edit-mask-other-size", edit(image=("a.png", png((512, 512)), "image/png"),
                                  mask=("m.png", mask((256, 256)), "image/png")),
     openai.BadRequestError, 400, "invalid_request_error", None, None,
     "Invalid input image - mask must have the same dimensions as image, got 512x512 and 256x256 instead."),
    ("variation-image-missing", variation(image=openai.omit, n=1),
     openai.BadRequestError, 400, "invalid_request_error", None, None, "'image' is a required property"),
    # GPT image models (2026)
    ("gpt-response-format", gen(model="gpt-image-1.5", response_format="url"), openai.BadRequestError, 400,
     "invalid_request_error", "response_format", "unknown_parameter", "Unknown parameter: 'response_format'."),
    ("gpt-style", gen(model="gpt-image-2", style="vivid"), openai.BadRequestError, 400, "invalid_request_error",
     "style", "unknown_parameter", "Unknown parameter: 'style'."),
    ("gpt-n-0", gen(model="gpt-image-1.5", n=0), openai.BadRequestError, 400, "invalid_request_error", "n",
     "integer_below_min_value",
     "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    ("gpt-n-11", gen(model="gpt-image-1.5", n=11), openai.BadRequestError, 400, "invalid_request_error", "n",
     "integer_above_max_value",
     "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead."),
    ("gpt-prompt-too-long", gen(model="gpt-image-1.5", prompt="c" * 32001), openai.BadRequestError, 400,
     "invalid_request_error", "prompt", "string_above_max_length",
     "Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length "
     "32001 instead."),
    # any model
    ("unknown-path", lambda c: c.post("/images/foo", body={}, cast_to=object), openai.NotFoundError, 404,
     "invalid_request_error", None, None, "Invalid URL (POST /v1/images/foo)"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_error_row(server, row) -> None:
    """Does this case raise the right exception with the exact message, type, param and code?"""
    _, call, exc_class, status, type_, param, code, message = row
    with pytest.raises(exc_class) as info:
        call(server.client())
    exc = info.value
    assert type(exc) is exc_class
    assert exc.status_code == status
    assert exc.body == {"message": message, "type": type_, "param": param, "code": code}
    assert str(exc) == f"Error code: {status} - {message}"
    assert re.fullmatch(r"req_[0-9a-f]{32}", exc.request_id or "")


def test_gpt_content_policy_names_the_request(server) -> None:
    """Does the GPT image content-policy message carry the request's own id?"""
    with pytest.raises(openai.BadRequestError) as info:
        server.client().images.generate(model="gpt-image-2", prompt="a bloodbath at dawn")
    exc = info.value
    assert exc.body == {
        "message": "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        f"help.openai.com and include the request ID {exc.request_id}.",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }


def test_missing_key_is_the_real_401(server) -> None:
    """Does a request without any key get the real 401 text?"""
    client = server.client(api_key="placeholder")
    with pytest.raises(openai.AuthenticationError) as info:
        client.images.generate(prompt="a cat", extra_headers={"Authorization": ""})
    assert info.value.body == {"message": NO_KEY, "type": "invalid_request_error", "param": None, "code": None}


def test_unknown_key_is_masked(start_server, tmp_path) -> None:
    """With a keys file, is an unknown key refused with the real masked 401?"""
    keys = tmp_path / "keys.txt"
    keys.write_text("sk-good-0123456789abcdef alice\n")
    server = start_server(keys_file=keys)
    wrong = "sk-PMafPxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxE873"
    with pytest.raises(openai.AuthenticationError) as info:
        server.client(api_key=wrong).images.generate(prompt="a cat", size="256x256")
    masked = "sk-PMafP" + "*" * (len(wrong) - 12) + "E873"
    assert info.value.body == {
        "message": f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    ok = server.client(api_key="sk-good-0123456789abcdef").images.generate(prompt="a cat", size="256x256")
    assert ok.data[0].url


def test_rate_limit_is_the_real_429(start_server) -> None:
    """Past the images-per-minute limit, is the real 429 sent with its headers, and does it reset after a minute?"""
    server = start_server(rate_limit=5)
    client = server.client()
    raw = client.images.with_raw_response.generate(prompt="a cat", size="256x256", n=3)
    assert raw.headers["x-ratelimit-limit-images"] == "5"
    assert raw.headers["x-ratelimit-remaining-images"] == "2"
    client.images.generate(prompt="a cat", size="256x256", n=2)
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(prompt="a cat", size="256x256", n=1)
    exc = info.value
    org = re.search(r"organization (org-[A-Za-z0-9]{24})\.", exc.message)
    assert org, exc.message
    assert exc.body == {
        "message": f"Rate limit exceeded for images per minute in organization {org[1]}. Limit: 5/1min. "
        "Current: 6/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn how to increase "
        "your rate limit.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert exc.response.headers["x-ratelimit-remaining-images"] == "0"
    assert exc.response.headers["x-ratelimit-reset-images"].endswith("s")
    other = server.client(api_key="sk-another-learner-key")
    assert other.images.generate(prompt="a cat", size="256x256").data  # limits are per key
    server.clock.advance(61)
    assert client.images.generate(prompt="a cat", size="256x256").data


def test_injected_500s_show_the_sdk_retrying(start_server) -> None:
    """With faults injected, does the SDK see the real 500 and retry (and is each try logged)?"""
    from course.offline.requestlog import read_log

    server = start_server(fail_rate=1.0, fail_seed=3)
    with pytest.raises(openai.InternalServerError) as info:
        server.client(max_retries=2).images.generate(prompt="a cat", size="256x256")
    assert info.value.body == {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    statuses = [r.status for r in read_log(server.data_dir)]
    assert statuses == [500, 500, 500]  # the first try and two retries


def test_injected_500s_follow_their_seed(start_server) -> None:
    """Is the pattern of injected failures the same for the same seed?"""
    def pattern(seed: int) -> list[int]:
        server = start_server(fail_rate=0.5, fail_seed=seed)
        client = server.client()
        out = []
        for _ in range(12):
            try:
                client.images.generate(prompt="a cat", size="256x256")
                out.append(200)
            except openai.InternalServerError:
                out.append(500)
        return out

    first = pattern(11)
    assert first == pattern(11)
    assert 200 in first and 500 in first


def test_blocked_terms_are_configurable(start_server, tmp_path) -> None:
    """Does --blocked-terms replace the default list (whole words, any case)?"""
    terms = tmp_path / "terms.txt"
    terms.write_text("# our list\nbroccoli\n")
    server = start_server(blocked_terms_file=terms)
    client = server.client()
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(prompt="A plate of BROCCOLI", size="256x256")
    assert info.value.code == "content_policy_violation"
    assert client.images.generate(prompt="a massacre of broccolini", size="256x256").data  # default list replaced
