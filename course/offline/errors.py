"""Every error the offline API sends, worded as the real API words it.

Each function returns an `APIError`; `recording` turns it into the real envelope
`{"error": {"message", "type", "param", "code"}}`. Messages with no public capture
(docs/offline-api/decisions.md, "Decisions where the reference is silent") follow the style of their
era (jsonschema-style for DALL-E, "Invalid value"-style for GPT image).
"""

from __future__ import annotations

from typing import Any

INVALID = "invalid_request_error"


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(message: str, *, param: str | None = None, code: str | None = None, type: str = INVALID) -> APIError:
    return APIError(400, message, type=type, param=param, code=code)


def _list(values: list[str]) -> str:
    """'a', 'b', and 'c' -- the way the newer API lists supported values."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _jtype(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null"
    )


# --- DALL-E era (2024): jsonschema-style messages, param and code null -------------


class Dalle:
    @staticmethod
    def not_one_of(value: Any, options: list[str], field: str) -> APIError:
        return bad(f"{value!r} is not one of {options!r} - '{field}'")

    @staticmethod
    def not_type(value: Any, type_name: str, field: str | None) -> APIError:
        where = f" - '{field}'" if field else ""
        return bad(f"{value!r} is not of type '{type_name}'{where}")

    @staticmethod
    def below_min(value: Any, minimum: int, field: str) -> APIError:
        return bad(f"{value!r} is less than the minimum of {minimum} - '{field}'")

    @staticmethod
    def above_max(value: Any, maximum: int, field: str) -> APIError:
        return bad(f"{value!r} is greater than the maximum of {maximum} - '{field}'")

    @staticmethod
    def required(field: str) -> APIError:
        return bad(f"'{field}' is a required property")

    @staticmethod
    def unexpected(fields: list[str]) -> APIError:
        names = ", ".join(repr(f) for f in fields)
        verb = "was" if len(fields) == 1 else "were"
        return bad(f"Additional properties are not allowed ({names} {verb} unexpected)")

    @staticmethod
    def empty_prompt() -> APIError:
        return bad("You must provide a prompt.")

    @staticmethod
    def prompt_too_long_dalle2(length: int) -> APIError:
        return bad(
            f"Prompt must be length 1000 or less. Your prompt length is {length}. Please reduce your prompt length."
        )

    @staticmethod
    def prompt_too_long_dalle3(prompt: str) -> APIError:
        return bad(f"{prompt!r} is too long - 'prompt'")

    @staticmethod
    def size_not_supported() -> APIError:
        return bad("The size is not supported by this model.", code="invalid_size")

    @staticmethod
    def n_must_be_1() -> APIError:
        return bad("You must provide n=1 for this model.")

    @staticmethod
    def not_png_or_too_big() -> APIError:
        return bad("Uploaded image must be a PNG and less than 4 MB.")

    @staticmethod
    def not_square(w: int, h: int) -> APIError:
        return bad(f"Invalid input image - expected an image with equal width and height, got {w}x{h} instead.")

    @staticmethod
    def wrong_mode(mode: str) -> APIError:
        return bad(f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {mode}.")

    @staticmethod
    def mask_size_mismatch(image: tuple[int, int], mask: tuple[int, int]) -> APIError:
        return bad(
            "Invalid input image - mask must have the same dimensions as image, "
            f"got {image[0]}x{image[1]} and {mask[0]}x{mask[1]} instead."
        )

    @staticmethod
    def too_many_pixels(w: int, h: int, limit: int) -> APIError:  # [ours]
        return bad(f"Invalid input image - dimensions {w}x{h} are too large, the maximum is {limit}x{limit}.")

    @staticmethod
    def content_policy(family: str) -> APIError:
        if family == "dall-e-3":
            msg = (
                "Your request was rejected as a result of our safety system. Image descriptions generated from your "
                "prompt may contain text that is not allowed by our safety system. If you believe this was done in "
                "error, your request may succeed if retried, or by adjusting your prompt."
            )
        else:
            msg = (
                "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
                "not allowed by our safety system."
            )
        return bad(msg, code="content_policy_violation")


# --- GPT image models (2026): "Invalid value"-style messages with param and code ------


class Gpt:
    @staticmethod
    def unknown_parameter(field: str) -> APIError:
        return bad(f"Unknown parameter: '{field}'.", param=field, code="unknown_parameter")

    @staticmethod
    def missing(field: str) -> APIError:  # [ours]
        return bad(f"Missing required parameter: '{field}'.", param=field, code="missing_required_parameter")

    @staticmethod
    def invalid_type(field: str, expected: str, value: Any) -> APIError:  # [ours]
        article = "an" if expected[0] in "aeiou" else "a"
        got = _jtype(value)
        got_article = "an" if got[0] in "aeiou" else "a"
        return bad(
            f"Invalid type for '{field}': expected {article} {expected}, but got {got_article} {got} instead.",
            param=field,
            code="invalid_type",
        )

    @staticmethod
    def invalid_value(field: str, value: Any, options: list[str]) -> APIError:  # [ours]
        return bad(
            f"Invalid value: '{value}'. Supported values are: {_list(options)}.", param=field, code="invalid_value"
        )

    @staticmethod
    def invalid_size(value: str, reason: str) -> APIError:  # the published words, type and code (rules_2026.json)
        return bad(f"Invalid size '{value}'. {reason}", param="size", code="invalid_value",
                   type="image_generation_user_error")

    @staticmethod
    def below_min(field: str, minimum: int, value: int) -> APIError:
        return bad(
            f"Invalid '{field}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param=field,
            code="integer_below_min_value",
        )

    @staticmethod
    def above_max(field: str, maximum: int, value: int) -> APIError:
        return bad(
            f"Invalid '{field}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            param=field,
            code="integer_above_max_value",
        )

    @staticmethod
    def prompt_too_long(limit: int, length: int) -> APIError:
        return bad(
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {length} instead.",
            param="prompt",
            code="string_above_max_length",
        )

    @staticmethod
    def empty_prompt() -> APIError:  # [ours]
        return bad(
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.",
            param="prompt",
            code="empty_string",
        )

    @staticmethod
    def transparent_jpeg() -> APIError:  # the 2026 rule (data/rules_2026.json)
        return bad("Transparent background is not supported for JPEG output format",
                   code="invalid_transparent_background_output_format", type="image_generation_user_error")

    @staticmethod
    def png_compression(param: str | None = None) -> APIError:  # the 2026 rule (data/rules_2026.json)
        return bad("Compression less than 100 is not supported for PNG output format", param=param,
                   code="invalid_png_output_compression", type="image_generation_user_error")

    @staticmethod
    def no_input_fidelity(model: str) -> APIError:  # the 2026 rule (data/rules_2026.json)
        return bad(f"The model '{model}' does not support the 'input_fidelity' parameter.", param="input_fidelity",
                   code="invalid_input_fidelity_model", type="image_generation_user_error")

    @staticmethod
    def unsupported_value(field: str, value: Any, options: list[str]) -> APIError:
        return bad(f"Unsupported value: '{field}' does not support '{value}' with this model. "
                   f"Supported values are: {_list(options)}.", param=field, code="unsupported_value")

    @staticmethod
    def json_edit_needs_gpt(model: str) -> APIError:  # [ours]
        return bad(f"Edits sent as JSON (images by 'image_url' or 'file_id') need a GPT image model; '{model}' "
                   "takes the image as a multipart upload.", param="model", code="invalid_value")

    @staticmethod
    def offline_image_url(param: str) -> APIError:  # [ours]
        return bad(f"Invalid '{param}': the offline Images API cannot fetch pictures from the internet. Send the "
                   "picture as a base64 data URL ('data:image/png;base64,...'), or upload it with the Files API "
                   "(purpose 'vision') and pass its 'file_id'.", param=param, code="invalid_image_url")

    @staticmethod
    def bad_data_url(param: str) -> APIError:  # [ours]
        return bad(f"Invalid '{param}': expected a base64 data URL such as 'data:image/png;base64,iVBOR...'.",
                   param=param, code="invalid_image_url")

    @staticmethod
    def image_ref(param: str) -> APIError:  # [ours]
        return bad(f"Invalid '{param}': provide exactly one of 'image_url' or 'file_id'.", param=param,
                   code="invalid_value")

    @staticmethod
    def no_such_file(param: str, file_id: str) -> APIError:
        return bad(f"Invalid '{param}': no such file: '{file_id}'. Upload it first with the Files API.",
                   param=param, code="file_not_found")

    @staticmethod
    def bad_file(field: str, mimetype: str) -> APIError:  # [ours]
        return bad(
            f"Invalid file '{field}': unsupported mimetype ('{mimetype}'). Supported file formats are "
            "'image/jpeg', 'image/png', and 'image/webp'.",
            param=field,
            code="unsupported_file_mimetype",
        )

    @staticmethod
    def file_too_large(field: str, limit_mb: int) -> APIError:  # [ours]
        return bad(f"Invalid file '{field}': the file must be less than {limit_mb} MB.", param=field, code="file_too_large")

    @staticmethod
    def too_many_images(count: int) -> APIError:  # [ours]
        return bad(
            f"Invalid 'image': array too long. Expected an array with maximum length 16, but got an array with "
            f"length {count} instead.",
            param="image",
            code="array_above_max_length",
        )

    @staticmethod
    def request_too_many_pixels(total: int, limit: int) -> APIError:  # [ours]
        return bad(
            f"Invalid 'image': the pictures of one request (images and mask) may have {limit} pixels together "
            f"(one 8192x8192 picture); these have {total}. Send smaller pictures.",
            param="image",
            code="image_too_large",
        )

    @staticmethod
    def content_policy(request_id: str) -> APIError:
        return bad(
            "Your request was rejected by the safety system. If you believe this is an error, contact us at "
            f"help.openai.com and include the request ID {request_id}.",
            type="image_generation_user_error",
            code="moderation_blocked",
        )


# --- any model -----------------------------------------------------------------------


def invalid_model(model: Any) -> APIError:
    """A known model on a route that does not serve it (dall-e-3 on edits, a GPT image model on variations): the
    DALL·E era's words, from when edits and variations took dall-e-2 alone. An unknown model gets today's
    `invalid_value` list instead (data/rules_2026.json)."""
    return bad(f"Invalid model {model}. The model argument should be left blank.")


def missing_key() -> APIError:
    return APIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
        "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
        "accessing the API from your browser and are prompted for a username and password. You can obtain an API "
        "key from https://platform.openai.com/account/api-keys.",
    )


def mask_key(key: str) -> str:
    """First 8 characters, one '*' per hidden character, last 4 (short keys: first 2 and last 2) [ours]."""
    if len(key) > 12:
        return key[:8] + "*" * (len(key) - 12) + key[-4:]
    if len(key) > 4:
        return key[:2] + "*" * (len(key) - 4) + key[-2:]
    return "*" * len(key)


def invalid_key(key: str) -> APIError:
    return APIError(
        401,
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def rate_limited(org: str, limit: int, current: int, headers: dict[str, str]) -> APIError:
    return APIError(
        429,
        f"Rate limit exceeded for images per minute in organization {org}. Limit: {limit}/1min. "
        f"Current: {current}/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn how "
        "to increase your rate limit.",
        type="requests",
        code="rate_limit_exceeded",
        headers=headers,
    )


def server_error() -> APIError:
    return APIError(500, "The server had an error while processing your request. Sorry about that!", type="server_error")


def out_of_memory() -> APIError:  # [ours]
    return APIError(500, "The server had an error while processing your request: it needed more memory than the "
                         "offline API may use (its memory is limited so that no request can stop the others). "
                         "Sorry about that!", type="server_error")


def invalid_url(method: str, path: str) -> APIError:
    return APIError(404, f"Invalid URL ({method} {path})")


def model_not_found(model: str) -> APIError:
    return APIError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")


def no_such_file_object(file_id: str) -> APIError:
    return APIError(404, f"No such File object: {file_id}", param="id")


def invalid_json() -> APIError:
    return bad(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
        "have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
    )


def wrong_content_type(got: str, expected: str) -> APIError:  # [ours]
    shown = got or "none"
    return bad(f"Invalid Content-Type header ({shown}), expected {expected}.")


def no_boundary() -> APIError:  # [ours]
    return bad(
        "Invalid multipart/form-data body: the Content-Type header has no boundary, so the parts cannot be read."
    )


def bad_multipart(detail: str) -> APIError:  # [ours]
    return bad(f"Invalid multipart/form-data body: {detail}")


def body_too_large(limit: int) -> APIError:  # [ours]
    return APIError(
        413,
        f"Request body too large: the maximum is {limit // (1024 * 1024)} MB ({limit} bytes).",
        code="request_too_large",
    )


# --- the Responses API (its image tool only) -------------------------------------------


class Responses:
    @staticmethod
    def model_not_found(model: str) -> APIError:
        return bad(f"The requested model '{model}' does not exist.", param="model", code="model_not_found")

    @staticmethod
    def image_model_as_model(model: str) -> APIError:  # [ours]
        return bad(f"The model '{model}' is an image model and cannot answer a response. Name a chat model such as "
                   f"'gpt-5.5' as 'model', and put '{model}' in the image_generation tool: "
                   f"tools=[{{\"type\": \"image_generation\", \"model\": \"{model}\"}}].", param="model",
                   code="model_not_found")

    @staticmethod
    def image_tool_only(param: str = "tools") -> APIError:  # [ours]
        return bad("The offline API serves only the image_generation tool of the Responses API: add "
                   "tools=[{\"type\": \"image_generation\"}] to ask for a picture. Text answers, function calls and "
                   "other tools need the real API.", param=param, code="image_generation_tool_required")

    @staticmethod
    def one_image_tool(param: str) -> APIError:  # [ours]
        return bad("Invalid 'tools': give the image_generation tool once.", param=param, code="invalid_value")

    @staticmethod
    def not_offline(param: str, what: str) -> APIError:  # [ours]
        return bad(f"Unsupported parameter: '{param}' ({what}) needs the real API; the offline API serves only the "
                   "image_generation tool.", param=param, code="unsupported_parameter")

    @staticmethod
    def format_not_offline(param: str, value: str) -> APIError:  # [ours]
        return bad(f"Unsupported value: '{param}' does not support '{value}' offline. The offline API draws "
                   "'png', 'jpeg', and 'webp'.", param=param, code="unsupported_value")

    @staticmethod
    def nothing_to_edit(param: str) -> APIError:  # [ours]
        return bad(f"Invalid '{param}': 'edit' needs a picture to edit. Send one as an 'input_image' part, or "
                   "continue a response that made one with 'previous_response_id'.", param=param,
                   code="invalid_value")

    @staticmethod
    def no_user_message() -> APIError:  # [ours]
        return bad("Invalid 'input': there is no user message to draw from.", param="input", code="invalid_value")

    @staticmethod
    def previous_not_found(response_id: str) -> APIError:
        return bad(f"Previous response with id '{response_id}' not found.", param="previous_response_id",
                   code="previous_response_not_found")

    @staticmethod
    def response_not_found(response_id: str) -> APIError:
        return APIError(404, f"Response with id '{response_id}' not found.")

    @staticmethod
    def item_not_found(param: str, item_id: str) -> APIError:
        return bad(f"Item with id '{item_id}' not found.", param=param)
