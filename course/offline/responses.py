"""The Responses API's image tool, offline: `client.responses.create(model=..., input=..., tools=[{"type":
"image_generation", ...}])`, streamed or not, and `previous_response_id` to edit the last picture.

The answer's `output` is an `image_generation_call` item (the picture in `result`, drawn exactly as
/v1/images/generations draws the same prompt and settings) and a short assistant message saying it
comes from the offline stand-in. A follow-up with `previous_response_id` ("now make it blue") edits
the previous response's picture with the machinery of /v1/images/edits; the `input_image` parts of the
user message are edited the same way (several are references together, as /v1/images/edits takes
several; each by `file_id`, data URL, or the URL of a picture the offline API served, see
`image_urls`), and so is an `{"type": "image_generation_call", "id": "ig_…"}` item
(the picture that call drew, the image-generation guide's second way to continue; an item given back
whole, with its `result`, edits that result). Past responses are kept by `conversations.ResponseStore`,
with the Response as sent and its input items (`input_items`) unless `store` is false.

The tool's `action`: "auto" (the default) edits when there is a picture to edit and draws afresh when
there is none, "edit" edits (a 400 when there is nothing to edit), "generate" always draws afresh from
the prompt alone (input pictures left aside). The call item's `action` says what was done ("generate" or
"edit", never "auto"), and `revised_prompt` the prompt drawn from.

Decisions: any other use of /v1/responses (no image_generation tool, another tool, a text-only
answer) is a 400 that says so. A prompt the content policy refuses is not an HTTP error, as with the
real tool: the call item comes back with status "failed", no `result`, an `error` whose code is
`moderation_blocked`, and the message explains.

Request-log row (one per request, refused ones included): `route` "/v1/responses", `model` the
Responses model (e.g. "gpt-5.5"), `status`, and `error_code`/`error_message` (for a picture the
policy refused: "moderation_blocked" with status 200). `params` is a plain dict:

    {"model": "gpt-5.5",                  # as sent
     "input": "a red fox",                # the text prompt (the raw input when it could not be read)
     "previous_response_id": None,        # or "resp_..."
     "stream": False,
     "tool": {"type": "image_generation", "size": "1024x1024", ...},   # as sent; None without one
     "tool_types": ["image_generation"],  # the type of every tool sent
     "action": "generate",                # what was done: "generate" or "edit" (None when refused)
     "partial_images": 0}                 # partial pictures streamed (0 when not streamed)

`images` holds the fingerprints of every picture sent (`sha256`, `pixels`; a streamed partial has
`"partial": "0"`...; the final one `total_tokens`), `stream` the stream's statistics when streamed.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator

from PIL import Image

from ..lesson import fingerprints
from . import image_urls, input_items, params, render, streaming, uploads
from .conversations import LIFETIME, ResponseStore, Stored
from .errors import APIError, Gpt, Responses
from .files import FileStore
from .models import DATA, all_models
from .produce import Producer, token_usage
from .requestlog import Record

# Every parameter the SDK's `responses.create` sends; the offline API reads the few that matter here.
BODY_FIELDS = (
    "access_programs", "background", "background_options", "context_management", "conversation", "image", "include",
    "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation",
    "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
    "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options",
    "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
)
BODY_TYPES = {
    "instructions": "string", "max_output_tokens": "integer", "max_tool_calls": "integer", "metadata": "object",
    "parallel_tool_calls": "boolean", "previous_response_id": "string", "prompt_cache_key": "string",
    "safety_identifier": "string", "store": "boolean", "stream": "boolean", "temperature": "number",
    "top_logprobs": "integer", "top_p": "number", "user": "string",
}
# What the offline API cannot do, named so that a learner knows why.
NOT_OFFLINE = {"conversation": "the Conversations API", "prompt": "reusable prompts",
               "context_management": "context management"}
TOOL_FIELDS = (
    "type", "action", "background", "complexity", "frame_count", "frame_duration_ms", "input_fidelity",
    "input_image_mask", "model", "moderation", "output_compression", "output_format", "partial_images", "quality",
    "size", "svg",
)
# Tool options that `params` validates exactly as the Images API does (named `tools[i].<option>` here).
IMAGE_OPTIONS = ("background", "output_format", "output_compression", "moderation", "quality", "size",
                 "partial_images", "input_fidelity")
SDK_FORMATS = ["png", "webp", "jpeg", "gif", "svg"]


@lru_cache(maxsize=1)
def response_models() -> dict[str, Any]:
    """`data/response_models.json`: the chat and Responses models accepted, and the tool's default image model."""
    data: dict[str, Any] = json.loads((DATA / "response_models.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def accepted_models() -> frozenset[str]:
    """The chat and Responses models the installed SDK's types list (a newer SDK's too, as the real API takes
    them), and those of `data/response_models.json` (for an older SDK that does not list them yet)."""
    from .sdk_types import literal_models

    data = response_models()
    return (frozenset(data["chat_models"]) | frozenset(data["responses_models"])
            | frozenset(literal_models("ChatModel")) | frozenset(literal_models("ResponsesModel")))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


@dataclass
class Ask:
    """A valid request: what to draw, how, and from which picture."""

    body: dict[str, Any]
    model: str
    prompt: str
    tool: dict[str, Any]
    tool_index: int
    p: params.Params
    action: str  # "generate" or "edit"
    source: uploads.Upload | None = None  # the picture to edit (the first of several references)
    more: list[uploads.Upload] = field(default_factory=list)  # the user message's further pictures, if any
    mask: uploads.Upload | None = None
    refs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # the user message's input_image parts
    previous: Stored | None = None
    call: tuple[str, dict[str, Any]] | None = None  # an image_generation_call item of the input, and where
    continued: Stored | None = None  # the stored response whose call's picture is edited, by its id
    blocked: bool = False
    inputs: uploads.Inputs = field(default_factory=uploads.Inputs)  # the picture to edit, once read


def row_params(body: dict[str, Any]) -> dict[str, Any]:
    """The log row's params, from the body as sent (refined once the input has been read)."""
    tools: list[Any] = body["tools"] if isinstance(body.get("tools"), list) else []
    tool = next((t for t in tools if isinstance(t, dict) and t.get("type") == "image_generation"), None)
    return {"model": body.get("model"), "input": body.get("input"),
            "previous_response_id": body.get("previous_response_id"), "stream": body.get("stream") is True,
            "tool": tool, "tool_types": [t.get("type") if isinstance(t, dict) else None for t in tools],
            "action": None, "partial_images": 0}


# --- reading the request ------------------------------------------------------------------------


def read_request(body: dict[str, Any], record: Record) -> Ask:
    """Check the body in the API's order (model, unknown fields, types, input, tools) and return what to do
    (its pictures are read next, by `read_pictures`)."""
    model = check_model(body.get("model"))
    given = {k: v for k, v in body.items() if v is not None}
    for name in given:
        if name not in BODY_FIELDS:
            raise Gpt.unknown_parameter(name)
    for name, kind in BODY_TYPES.items():
        if name in given and not _is(kind, given[name]):
            raise Gpt.invalid_type(name, kind, given[name])
    for name, what in NOT_OFFLINE.items():
        if name in given:
            raise Responses.not_offline(name, what)
    if given.get("background") is True:
        raise Responses.not_offline("background", "background mode")
    prompt, refs, calls = read_input(given.get("input"))
    record.params["input"] = prompt
    index, tool = find_tool(given.get("tools"))
    check_tool_choice(given.get("tool_choice"))
    p = tool_params(tool, index, prompt, stream=given.get("stream") is True)
    return Ask(body=given, model=model, prompt=prompt, tool=tool, tool_index=index, p=p,
               action=tool.get("action") or "auto", refs=refs, call=calls[-1] if calls else None)


def read_pictures(ask: Ask, file_store: FileStore, served: Callable[[str, str], uploads.Upload],
                  channel: str | None) -> None:
    """The user message's pictures (all of them, as /v1/images/edits takes several: the first is the one
    drawn from) and the tool's mask, each by `file_id`, data URL, or the http(s) URL of a picture the offline
    API served (`served(url, param)`, see `image_urls`)."""

    def one(ref: Any, where: str) -> uploads.Upload:
        return image_urls.referenced_picture(ref, where, file_store, served, channel)

    pictures = [one(ref, where) for where, ref in ask.refs]
    if pictures:
        ask.source, ask.more = pictures[0], pictures[1:]
    if ask.tool.get("input_image_mask") is not None:
        ask.mask = one(ask.tool["input_image_mask"], f"tools[{ask.tool_index}].input_image_mask")


def check_model(value: Any) -> str:
    if value is None:
        raise Gpt.missing("model")
    if not isinstance(value, str):
        raise Gpt.invalid_type("model", "string", value)
    if value in accepted_models():
        return value
    if value in all_models():
        raise Responses.image_model_as_model(value)
    raise Responses.model_not_found(value)


def read_input(value: Any) -> tuple[str, list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """The prompt (the last user message's text), the pictures in context, and the image_generation_call items
    of the input, with where each is. The pictures in context are the last user message's; when it has none,
    those of the latest earlier user message that has some, unless an image_generation_call item comes after
    it (the latest picture in the conversation is the one to continue from)."""
    if value is None:
        raise Gpt.missing("input")
    if isinstance(value, str):
        return value, [], []
    if not isinstance(value, list):
        raise Gpt.invalid_type("input", "string", value)
    users, calls = [], []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Gpt.invalid_type(f"input[{i}]", "object", item)
        if item.get("role") == "user":
            users.append((i, item))
        elif item.get("type") == "image_generation_call":
            if not isinstance(item.get("id"), str) and not isinstance(item.get("result"), str):
                raise Gpt.missing(f"input[{i}].id")
            calls.append((f"input[{i}]", item))
    if not users:
        raise Responses.no_user_message()
    i, message = users[-1]
    content = message.get("content")
    if isinstance(content, str):
        return content, earlier_pictures(users[:-1], calls), calls
    if not isinstance(content, list):
        raise Gpt.invalid_type(f"input[{i}].content", "array", content)
    texts: list[str] = []
    refs: list[tuple[str, dict[str, Any]]] = []
    for j, part in enumerate(content):
        where = f"input[{i}].content[{j}]"
        if not isinstance(part, dict):
            raise Gpt.invalid_type(where, "object", part)
        kind = part.get("type")
        if kind == "input_text":
            if not isinstance(part.get("text"), str):
                raise Gpt.invalid_type(f"{where}.text", "string", part.get("text"))
            texts.append(part["text"])
        elif kind == "input_image":
            refs.append((where, {k: part[k] for k in ("image_url", "file_id") if part.get(k) is not None}))
        else:
            raise Gpt.invalid_value(f"{where}.type", kind, ["input_text", "input_image"])
    return "\n".join(texts), refs or earlier_pictures(users[:-1], calls), calls


def earlier_pictures(users: list[tuple[int, dict[str, Any]]],
                     calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The input_image parts of the latest earlier user message that has some, when no image_generation_call
    item comes after it (a manually kept conversation: the picture the user sent a turn ago)."""
    last_call = int(calls[-1][0].removeprefix("input[").rstrip("]")) if calls else -1
    for i, message in reversed(users):
        content = message.get("content")
        refs = [(f"input[{i}].content[{j}]", {k: part[k] for k in ("image_url", "file_id") if part.get(k) is not None})
                for j, part in enumerate(content if isinstance(content, list) else [])
                if isinstance(part, dict) and part.get("type") == "input_image"]
        if refs:
            return refs if i > last_call else []
    return []


def call_picture(ask: Ask, saved: ResponseStore) -> None:
    """The picture of the input's image_generation_call item becomes the one to edit (unless the user message
    has its own): the item's `result` when given whole, else the picture the stored call of that id drew."""
    if ask.call is None or ask.source is not None:
        return
    where, item = ask.call
    call_id = item.get("id") if isinstance(item.get("id"), str) else "ig_given"
    if isinstance(item.get("result"), str):
        try:
            data = base64.b64decode(item["result"], validate=True)
        except ValueError:
            raise Gpt.invalid_type(f"{where}.result", "base64 image", item["result"]) from None
        ask.source = uploads.Upload("image_generation_call", f"{call_id}.png", "image/png", data)
        return
    stored = saved.by_call(call_id)
    if stored is None or stored.image is None:
        raise Responses.item_not_found(f"{where}.id", call_id)
    fmt = stored.image_format or "png"
    ask.source = uploads.Upload("image_generation_call", f"{call_id}.{fmt}", f"image/{fmt}", stored.image)
    ask.continued = stored


def find_tool(tools: Any) -> tuple[int, dict[str, Any]]:
    """The one image_generation tool; any other tool, or none, is refused."""
    if tools is None or tools == []:
        raise Responses.image_tool_only()
    if not isinstance(tools, list):
        raise Gpt.invalid_type("tools", "array", tools)
    found: tuple[int, dict[str, Any]] | None = None
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Gpt.invalid_type(f"tools[{i}]", "object", tool)
        if tool.get("type") is None:
            raise Gpt.missing(f"tools[{i}].type")
        if tool["type"] != "image_generation":
            raise Responses.image_tool_only(f"tools[{i}].type")
        if found is not None:
            raise Responses.one_image_tool(f"tools[{i}]")
        found = (i, tool)
    assert found is not None
    return found


def check_tool_choice(choice: Any) -> None:
    if choice is None or choice in ("auto", "required"):
        return
    if choice == "none" or (isinstance(choice, dict) and choice.get("type") != "image_generation"):
        raise Responses.image_tool_only("tool_choice")
    if not isinstance(choice, (str, dict)):
        raise Gpt.invalid_type("tool_choice", "string", choice)
    if isinstance(choice, str):
        raise Gpt.invalid_value("tool_choice", choice, ["none", "auto", "required"])


def tool_params(tool: dict[str, Any], index: int, prompt: str, *, stream: bool) -> params.Params:
    """The tool's options, checked as /v1/images/edits checks them (errors name `tools[i].<option>`);
    returns the parameters of a generation (an edit's are made from these in `choose_action`)."""
    at = f"tools[{index}]"
    given = {k: v for k, v in tool.items() if v is not None}
    for name in given:
        if name not in TOOL_FIELDS:
            raise Gpt.unknown_parameter(f"{at}.{name}")
    for name, options in (("action", ["generate", "edit", "auto"]), ("complexity", ["low", "medium", "high"])):
        if name in given and given[name] not in options:
            raise Gpt.invalid_value(f"{at}.{name}", given[name], options)
    fmt = given.get("output_format")
    if isinstance(fmt, str) and fmt in ("gif", "svg"):
        raise Responses.format_not_offline(f"{at}.output_format", fmt)
    if isinstance(fmt, str) and fmt not in SDK_FORMATS:
        raise Gpt.invalid_value(f"{at}.output_format", fmt, SDK_FORMATS)
    for name, what in (("frame_count", "GIF frames"), ("frame_duration_ms", "GIF frames"), ("svg", "SVG output")):
        if name in given:
            raise Responses.not_offline(f"{at}.{name}", what)
    image_model = given.get("model", response_models()["default_image_model"])
    gpt_models = [m.id for m in all_models().values() if m.is_gpt]
    if not isinstance(image_model, str):
        raise Gpt.invalid_type(f"{at}.model", "string", image_model)
    if image_model not in gpt_models:
        raise Gpt.invalid_value(f"{at}.model", image_model, gpt_models)
    fields: dict[str, Any] = {"model": image_model, "prompt": prompt,
                              **{k: given[k] for k in IMAGE_OPTIONS if k in given}}
    if stream:
        fields["stream"] = True
    try:  # a generation's options, then an edit's (input_fidelity is an edit's; moderation a generation's)
        p = params.parse("generations", {k: v for k, v in fields.items() if k != "input_fidelity"})
        params.parse("edits", {**{k: v for k, v in fields.items() if k != "moderation"}, "image": "(a picture)"})
        return p
    except APIError as exc:
        raise _renamed(exc, at) from None


def _renamed(exc: APIError, at: str) -> APIError:
    """An Images API error about `size` becomes one about `tools[0].size`; about `prompt`, one about `input`. An
    `image_generation_user_error` (the 2026 rules: PNG compression, a free size's edges and pixels, input_fidelity,
    a transparent JPEG) names `tools` and keeps its sentence, as the real tool's published errors do."""
    if exc.type == "image_generation_user_error":
        exc.param = "tools"
    elif exc.param:
        name = "input" if exc.param == "prompt" else f"{at}.{exc.param}"
        exc.message = exc.message.replace(f"'{exc.param}'", f"'{name}'")
        exc.param = name
    return exc


def choose_action(ask: Ask) -> None:
    """Generate, or edit the picture of the input or of the previous response (`action` "auto" edits when
    there is one). An edit's parameters are those of /v1/images/edits for the same options."""
    if ask.source is None and ask.previous is not None and ask.previous.image is not None:
        fmt = ask.previous.image_format or "png"
        ask.source = uploads.Upload("previous_response_id", f"{ask.previous.id}.{fmt}", f"image/{fmt}",
                                    ask.previous.image)
    where = f"tools[{ask.tool_index}]"
    if ask.action == "edit" and ask.source is None:
        raise Responses.nothing_to_edit(f"{where}.action")
    editing = ask.action == "edit" or (ask.action == "auto" and ask.source is not None)
    if ask.mask is not None and not editing:
        raise Responses.nothing_to_edit(f"{where}.input_image_mask")
    ask.action = "edit" if editing else "generate"
    if editing:
        assert ask.source is not None
        fields = {**{k: v for k, v in ask.p.given.items() if k != "moderation"}, "image": "(the picture to edit)"}
        if "input_fidelity" in ask.tool and ask.tool["input_fidelity"] is not None:
            fields["input_fidelity"] = ask.tool["input_fidelity"]
        try:
            ask.p = params.parse("edits", fields)
        except APIError as exc:  # checked already; kept for safety
            raise _renamed(exc, where) from None
        continued = ask.source.field in ("previous_response_id", "image_generation_call")
        if continued and fields.get("size", "auto") == "auto":
            # A follow-up keeps the picture's size (an edit with `size` "auto" would pick a standard one),
            # where the tool's model can draw it.
            with Image.open(io.BytesIO(ask.source.data)) as previous:
                kept = "{}x{}".format(*previous.size)
            try:
                ask.p = params.parse("edits", {**fields, "size": kept})
            except APIError:
                pass


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, str)


def blocked_error(record: Record) -> dict[str, Any]:
    error = Gpt.content_policy(record.request_id or "")
    return {"code": error.code, "message": error.message, "type": error.type, "param": None}


# --- answering --------------------------------------------------------------------------------


class Turn:
    """One answer: the picture drawn (or refused), the output items, the Response, and what is remembered."""

    def __init__(self, ask: Ask, record: Record, producer: Producer, saved: ResponseStore,
                 clock: Callable[[], float]) -> None:
        self.producer, self.saved, self.clock = producer, saved, clock
        self.ask = ask
        self.record = record
        self.id = new_id("resp")
        record.response_id = self.id
        self.call_id = new_id("ig")
        self.message_id = new_id("msg")
        self.created = int(clock())
        p = ask.p
        self.settings = {"background": p.background, "output_format": p.output_format,
                         "quality": "medium" if p.quality == "auto" else p.quality, "size": p.size}
        self.usage = token_usage(p, ask.inputs.count)
        self.revised = revised_prompt(ask)
        self.payload: bytes | None = None  # the final picture, once drawn

    # The picture ---------------------------------------------------------------------------------

    def draw(self) -> Image.Image:
        return self.producer.picture(self.ask.p, self.ask.inputs, 0)

    def encode(self, picture: Image.Image, partial: int | None = None) -> str:
        p = self.ask.p
        payload = render.encode(picture, p.output_format, p.output_compression)
        mark = fingerprints.of_payload(payload, picture, lossless=p.output_format == "png")
        if partial is None:
            mark["total_tokens"] = str(self.usage["total_tokens"])
            self.payload = payload
        else:
            mark["partial"] = str(partial)
        self.record.images.append(mark)
        return base64.b64encode(payload).decode("ascii")

    # The items -------------------------------------------------------------------------------------

    def call_item(self, status: str, result: str | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.call_id, "type": "image_generation_call", "status": status,
                                "action": self.ask.action, **self.settings, "revised_prompt": self.revised,
                                "result": result}
        if status == "failed":
            item["error"] = blocked_error(self.record)
        return item

    def text(self) -> str:
        p, ask = self.ask.p, self.ask
        if ask.blocked:
            return ("I can't create that image: the safety system rejected the request (moderation_blocked). "
                    "This is the course's offline stand-in for the image_generation tool; reword the prompt and try again.")
        field = ask.source.field if ask.source is not None else None
        what = "drew a picture" if ask.action == "generate" else "edited the previous picture" \
            if field == "previous_response_id" else "edited the picture of that image generation call" \
            if field == "image_generation_call" else "edited your pictures" if ask.more else "edited your picture"
        return (f"I {what} for \"{ask.prompt.strip()}\" ({p.model.id}, {p.size}, {self.settings['quality']} quality). "
                f"This is the course's offline stand-in for the image_generation tool, not OpenAI's model; "
                f"to change the picture, reply with previous_response_id=\"{self.id}\".")

    def message_item(self, status: str, text: str | None) -> dict[str, Any]:
        content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        return {"id": self.message_id, "type": "message", "role": "assistant", "status": status,
                "content": content}

    def response(self, status: str, output: list[dict[str, Any]], done: bool) -> dict[str, Any]:
        b = self.ask.body
        tool = {"type": "image_generation", "action": "auto", "background": "auto", "model": self.ask.p.model.id,
                "moderation": "auto", "output_compression": 100, "output_format": "png", "partial_images": 0,
                "quality": "auto", "size": "auto", **{k: v for k, v in self.ask.tool.items() if v is not None}}
        body: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status, "background": False,
            "completed_at": int(self.clock()) if done else None, "error": None, "incomplete_details": None,
            "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
            "max_tool_calls": b.get("max_tool_calls"), "metadata": b.get("metadata") or {}, "model": self.ask.model,
            "output": output, "parallel_tool_calls": b.get("parallel_tool_calls", True),
            "previous_response_id": b.get("previous_response_id"), "prompt_cache_key": b.get("prompt_cache_key"),
            "reasoning": {"effort": None, "summary": None}, "safety_identifier": b.get("safety_identifier"),
            "service_tier": "default", "store": b.get("store", True), "temperature": b.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": b.get("tool_choice", "auto"),
            "tools": [tool], "top_logprobs": b.get("top_logprobs", 0), "top_p": b.get("top_p", 1.0),
            "truncation": "auto" if b.get("truncation") == "auto" else "disabled", "usage": None,
            "user": b.get("user"),
        }
        if done:
            body["usage"], body["tool_usage"] = self.usages()
        return body

    def usages(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The chat model's own tokens (`usage`) and the image tool's (`tool_usage.image_gen`) [ours: estimates]."""
        chain = (self.ask.previous.prompts if self.ask.previous else []) + [self.ask.prompt]
        read = 1 + (len(self.ask.body.get("instructions") or "") + sum(len(t) for t in chain)) // 4
        written = 1 + len(self.text()) // 4 + 24  # the message, and the tool call's own arguments
        usage = {"input_tokens": read, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                 "output_tokens": written, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": read + written}
        image = {k: 0 for k in ("input_tokens", "output_tokens", "total_tokens")} if self.ask.blocked else self.usage
        image_gen = {"input_tokens": image["input_tokens"], "output_tokens": image["output_tokens"],
                     "total_tokens": image["total_tokens"],
                     "input_tokens_details": {"image_tokens": 0, "text_tokens": 0} if self.ask.blocked else
                     self.usage["input_tokens_details"],
                     "output_tokens_details": {"image_tokens": 0, "text_tokens": 0} if self.ask.blocked else
                     self.usage["output_tokens_details"]}
        return usage, {"image_gen": image_gen, "web_search": {"num_requests": 0}}

    # The two ways out --------------------------------------------------------------------------------

    def complete(self, cancel: threading.Event | None = None) -> dict[str, Any]:
        """The whole Response at once (a client that leaves stops it before the picture is drawn)."""
        if cancel is not None and cancel.is_set():
            from .produce import Cancelled

            raise Cancelled()
        call = self.call_item("failed") if self.ask.blocked else self.call_item("completed", self.encode(self.draw()))
        body = self.response("completed", [call, self.message_item("completed", self.text())], done=True)
        self.remember(body)
        return body

    def events(self, cancel: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
        """The stream, in the API's order, every event with the next sequence_number."""
        numbers = itertools.count()

        def event(kind: str, **payload: Any) -> tuple[str, dict[str, Any]]:
            return kind, {"type": kind, "sequence_number": next(numbers), **payload}

        on_call = {"output_index": 0, "item_id": self.call_id}
        on_text = {"output_index": 1, "item_id": self.message_id, "content_index": 0}
        yield event("response.created", response=self.response("in_progress", [], done=False))
        yield event("response.in_progress", response=self.response("in_progress", [], done=False))
        yield event("response.output_item.added", output_index=0, item=self.call_item("in_progress"))
        yield event("response.image_generation_call.in_progress", **on_call)
        if self.ask.blocked:
            call = self.call_item("failed")
        else:
            yield event("response.image_generation_call.generating", **on_call)
            picture = self.draw()
            for index, stage in enumerate(streaming.stages(picture, self.ask.p.partial_images)):
                yield event("response.image_generation_call.partial_image", **on_call, partial_image_index=index,
                            partial_image_b64=self.encode(stage, index), **self.settings)
            call = self.call_item("completed", self.encode(picture))
            yield event("response.image_generation_call.completed", **on_call)
        yield event("response.output_item.done", output_index=0, item=call)
        text = self.text()
        yield event("response.output_item.added", output_index=1, item=self.message_item("in_progress", None))
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield event("response.content_part.added", **on_text, part=part)
        for delta in re.findall(r"(?:\S+\s*){1,4}", text):
            yield event("response.output_text.delta", **on_text, delta=delta, logprobs=[])
        yield event("response.output_text.done", **on_text, text=text, logprobs=[])
        yield event("response.content_part.done", **on_text, part={**part, "text": text})
        message = self.message_item("completed", text)
        yield event("response.output_item.done", output_index=1, item=message)
        final = self.response("completed", [call, message], done=True)
        self.remember(final)
        yield event("response.completed", response=final)

    def remember(self, response: dict[str, Any]) -> None:
        """Keep the response for a follow-up and for `responses.retrieve` (unless `store` is false): the prompts
        so far, the last picture, the Response as sent and its input items."""
        if self.ask.body.get("store") is False:
            return
        previous = self.ask.previous
        drawn = self.payload
        image = drawn if drawn is not None else previous.image if previous else None
        fmt = self.ask.p.output_format if drawn is not None else previous.image_format if previous else None
        call_id = self.call_id if drawn is not None else None
        self.saved.save_answer(self.id, response, input_items.of_input(self.ask.body.get("input")), call_id)
        self.saved.save(Stored(
            id=self.id, created_at=self.created, expires_at=self.created + LIFETIME, model=self.ask.model,
            image_model=self.ask.p.model.id, prompts=(previous.prompts if previous else []) + [self.ask.prompt],
            revised_prompt=self.revised if drawn is not None else previous.revised_prompt if previous else None,
            image_format=fmt, image=image, call_id=call_id))


def revised_prompt(ask: Ask) -> str:
    """The prompt the tool drew from [ours: the prompt itself; an edit names what it changed]."""
    text = ask.prompt.strip()
    field = ask.source.field if ask.source is not None else None
    earlier = ask.previous if field == "previous_response_id" else ask.continued if field == "image_generation_call" \
        else None
    if ask.action == "edit" and earlier is not None and earlier.revised_prompt:
        return f"{earlier.revised_prompt.rstrip('.')}; edited: {text}"
    return text

