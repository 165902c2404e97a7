"""Judging a step: its expectations are data, checked against what the run printed and what the
offline API's request log says it really asked for and got.

A step's checks live in its lesson's `checks.json`. Each is a dict with a `kind` (below) and
optional `points`, `hidden`, `success` and `failure` (what a learner reads). `course try`, the
notebook's Try-it and the grader call the same `evaluate()`.

Which requests a check looks at is chosen by `route` (generations, edits, variations, responses), `status`,
`params` (a value, a list of allowed values, {"not_in": [...]} or {"family": "gpt-image"}), `has`
(parameters that must be sent, such as a mask), `not_asset` (an upload that must not be a lesson
asset: the mask sent as the image), `code` (the error code of a refusal, or a list of them) and
`message_has` (words its message must hold: which rule was broken).

Kinds:
- `request`: the run made such a request (with `min_images`, got that many images from such requests).
- `printed_url`: stdout shows a URL the API issued to this run for such a request, as a link: not
  inside a printed `Image(...)` object or dict. `all`: every URL of one such response; `at_least`:
  that many links of such responses (both variations). `alone`: and nothing of the object around it
  (no `url='...'`, no whole response).
- `printed_response`: stdout shows a whole response: `created`, `data` and an issued URL.
- `error_shown`: such a request was refused, and the API's message (or code, per `show`) appears in
  the output (printed, or in a traceback).
- `caught`: such a request was refused and the step still ended cleanly: the error was caught.
- `after_error`: such a request succeeded after a refused one in the same run; or, with `or_calls`
  (`"step4"`), the step's function calls that step first, so a step that did not refuse (its own
  failure) does not fail this one as well.
- `file_saved`: a file matching `glob` was written by the run (new or changed since `before`, the folder as
  the step found it) and opens as `format` (of `size`);
  with `returned` (the default) it must be one of the very images the API sent this run: with `which`,
  one of a stream's `partial` pictures or one of the `final` ones; with a `route`, one sent for such a
  request. `at_least`: that many different such pictures were saved (every partial picture).
- `streamed`: such a request was streamed (`stream=True`) and read to its last event, and the stream
  sent the partial pictures it asked for (`partial_images`).
- `follows_up`: such a request continued a conversation: its `previous_response_id` is the id of a
  response the API gave this run earlier.
- `printed_field`: stdout shows the `field` (such as `revised_prompt`) of an image the API sent this run.
- `returns`: the step's function hands a value back (`return response`), as the page asks, so later
  steps can use it. Read from the step's code, the only place it shows.
- `printed_id`: stdout shows the id of a response the API made this run (resp_...; the log holds each one).
- `output_matches`: stdout matches the regular expression `pattern`; with a request named (`route`, `params`,
  `streamed`), only when this run made such a request (printed event types count only after a real stream).
- `exit`: the step ended with `code` (default 0).
`exit` and `returns` say how a step ran, not what it did: unless `needs_work` is false, they pass
only when one of the step's other visible checks passed (no points for a step that does nothing); a
hidden check, which backs up a visible one, likewise.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from ..offline.requestlog import Record

ROUTES = {"generations": "/v1/images/generations", "edits": "/v1/images/edits", "variations": "/v1/images/variations",
          "responses": "/v1/responses"}
ROUTE_WORDS = {"generations": "image", "edits": "edit", "variations": "variation", "responses": "response"}
DEFAULTS = {"model": "dall-e-2", "n": 1}
NOT_WORK = ("exit", "returns")  # kinds that say how a step ran, not what it did
NO_WORK = {"exit": "no points for running without an error until the step's own work is done",
           "returns": "no points for the return line until the step's own work is done"}
IN_OBJECT = re.compile(r"""(?:\burl=|['"]url['"]\s*:\s*)['"]?$""")  # a URL shown inside Image(...) or a dict


@dataclass
class StepRun:
    """What one run of one step did: its output, and the log rows of its own requests."""

    step: int
    stdout: str
    stderr: str
    exit_code: int | None
    records: list[Record] = field(default_factory=list)
    workdir: Path | None = None
    started: float = 0.0
    timed_out: bool = False
    reason: str = ""  # why it could not run at all (timeout, crash, too much output)
    source: str | None = None  # the script that ran, when known (for `or_calls`)
    # Each file in the working folder before the step ran: {relative path: (mtime_ns, size)}. With it, a file
    # counts as saved by this run only when it is new or changed; without it, by its time against `started`.
    before: dict[str, tuple[int, int]] | None = None


@dataclass
class CheckResult:
    kind: str
    passed: bool
    message: str
    points: float = 0.0
    max_points: float = 0.0
    hidden: bool = False
    hints: list[str] = field(default_factory=list)
    detail: str = ""  # what this run did, in words (the message itself stays the same for every learner)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def text(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


@dataclass
class StepResult:
    step: int
    title: str
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.checks)

    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.checks if not c.passed), None)

    def render(self) -> str:
        mark = "passed" if self.passed else "failed"
        lines = [f"step {self.step} ({self.title}): {mark}"]
        seen: set[str] = set()
        for c in self.checks:
            if not c.hidden and c.text not in seen:
                seen.add(c.text)
                lines.append(f"  {'✓' if c.passed else '✗'} {c.text}")
        if any(c.hidden and not c.passed for c in self.checks) and all(c.passed for c in self.checks if not c.hidden):
            lines.append("  ✗ a hidden check failed")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "passed": self.passed, "points": self.points,
                "max_points": self.max_points, "checks": [c.to_dict() for c in self.checks]}


# --------------------------------------------------------------------------------------- requests


def _route(spec: dict[str, Any]) -> str:
    return ROUTES.get(spec.get("route", "generations"), spec.get("route", ""))


def params_of(record: Record) -> dict[str, Any]:
    """A logged request's parameters with the API's defaults filled in (the model's default size
    included) and form fields as numbers."""
    from ..offline.models import all_models

    params = {**DEFAULTS, **{k: v for k, v in record.params.items() if v is not None}}
    if record.model:
        params["model"] = record.model
    model = all_models().get(str(params.get("model")))
    if "size" not in params and model is not None and record.route in (ROUTES["generations"], ROUTES["variations"]):
        params["size"] = model.default_size
    for name, value in params.items():
        if isinstance(value, str) and value.lstrip("-").isdigit() and name != "prompt":  # multipart sends text
            params[name] = int(value)
    return params


def _value_ok(got: Any, want: Any) -> bool:
    if isinstance(want, list):  # any of these values
        return got in want
    if isinstance(want, dict) and "not_in" in want:
        return got not in want["not_in"]
    if isinstance(want, dict) and "family" in want:  # a model of this family (any GPT image model, say)
        from ..offline.models import all_models

        model = all_models().get(str(got))
        return model is not None and model.family == want["family"]
    return got == want


def matches(record: Record, spec: dict[str, Any], status: int | None = None, workdir: Path | None = None) -> bool:
    if record.method != "POST" or record.route != _route(spec):
        return False
    if status is not None and record.status != status:
        return False
    codes = spec.get("code")
    if codes and record.error_code not in (codes if isinstance(codes, list) else [codes]):
        return False
    if spec.get("message_has") and spec["message_has"] not in (record.error_message or ""):
        return False
    params = params_of(record)
    if not all(_value_ok(params.get(name), want) for name, want in spec.get("params", {}).items()):
        return False
    if not all(record.params.get(name) not in (None, "") for name in spec.get("has", [])):
        return False
    return not any(_is_asset(record.params.get(name), asset, workdir) for name, asset in spec.get("not_asset", {}).items())


def _is_asset(upload: Any, asset: str, workdir: Path | None) -> bool:
    """An uploaded file (as the log describes it) is the lesson's asset `asset` (assets/mask.png, say)."""
    import hashlib

    if workdir is None or not isinstance(upload, dict) or not upload.get("sha256"):
        return False
    try:
        return hashlib.sha256((workdir / "assets" / asset).read_bytes()).hexdigest() == upload["sha256"]
    except OSError:
        return False


def _sized(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def describe_request(params: dict[str, Any], route: str = "generations", *, has: list[str] | None = None) -> str:
    """A request in words: `one dall-e-2 image at 256x256`, `an edit with a mask`, `two variations`."""
    noun = ROUTE_WORDS.get(route, route)
    n = params.get("n")
    count = {1: "one", 2: "two", 3: "three"}.get(n, str(n)) if isinstance(n, int) and route != "responses" else None
    words = []
    model = params.get("model")
    if isinstance(model, str):
        words.append(model)
    if count:
        words.insert(0, count)
        noun += "s" if n != 1 else ""
    elif route != "generations":
        words.insert(0, "an" if noun[0] in "aeiou" else "a")
    phrase = " ".join(words + [noun])
    size = params.get("size")
    if isinstance(size, list):
        phrase += " at " + ", ".join(size[:-1]) + " or " + size[-1] if len(size) > 1 else f" at {size[0]}"
    elif isinstance(size, dict) and "not_in" in size:
        phrase += f" at a size {model or 'the model'} cannot make (such as 255x255)"
    elif size is not None:
        phrase += f" at {_sized(size)}"
    extras = []
    for name, value in params.items():
        if name in ("model", "n", "size", "prompt", "input", "stream"):
            continue
        if name == "response_format":
            extras.append("as base64" if value == "b64_json" else f"as a {value}")
        elif name == "output_format":
            extras.append(f"as {value}")
        elif isinstance(value, (str, int, float)):
            extras.append(f"{name} {value}")
    for name in has or []:
        extras.append(f"with a {name}")
    return phrase + ("" if not extras else " " + ", ".join(extras))


def _nearest(run: StepRun, spec: dict[str, Any]) -> str:
    """What the run asked for instead, in words, for a check that found no matching request."""
    tried = [r for r in run.records if r.method == "POST" and r.route in ROUTES.values()]
    if not tried:
        return "the step sent no request to the Images API"
    same_route = [r for r in tried if r.route == _route(spec)] or tried
    last = same_route[-1]
    route = next((k for k, v in ROUTES.items() if v == last.route), "generations")
    params = params_of(last)
    shown = {k: params.get(k) for k in ("model", "n", "size", *spec.get("params", {})) if params.get(k) is not None}
    asked = describe_request(shown, route, has=[h for h in spec.get("has", []) if last.params.get(h)])
    if last.status >= 400:
        return f"it asked for {asked}, which was refused: {last.error_message or last.error_code}"
    missing = [h for h in spec.get("has", []) if not last.params.get(h)]
    return f"it asked for {asked}" + (f" without a {', '.join(missing)}" if missing else "")


def _issued_urls(run: StepRun, spec: dict[str, Any]) -> list[list[str]]:
    """The URLs of each successful matching request, one list per response."""
    return [r.urls for r in run.records if matches(r, spec, 200, run.workdir) and r.urls]


def shown_as_link(url: str, output: str) -> bool:
    """The URL appears in the output as a link: at least once not inside `url='…'` or a dict's "url" entry."""
    start = output.find(url)
    while start != -1:
        if not IN_OBJECT.search(output[max(0, start - 12):start]):
            return True
        start = output.find(url, start + 1)
    return False


# ------------------------------------------------------------------------------------------ checks


Outcome = tuple[bool, str]  # (passed, detail)


def _check_request(spec: dict[str, Any], run: StepRun) -> Outcome:
    matching = [r for r in run.records if matches(r, spec, spec.get("status", 200), run.workdir)]
    if spec.get("min_images"):  # "ask for two": one request for two, or two for one each
        made = sum(max(len(r.urls), len(r.images)) for r in matching)
        if made >= spec["min_images"]:
            return True, ""
        return False, f"the run got {made} image{'s' if made != 1 else ''} of this kind" if matching else _nearest(run, spec)
    if matching:
        return True, ""
    return False, _why_not(run, spec)


def _why_not(run: StepRun, spec: dict[str, Any]) -> str:
    """Why no request of the run is the one a check looks for, in words."""
    if spec.get("not_asset") and any(matches(r, {**spec, "not_asset": {}}, spec.get("status", 200)) for r in run.records):
        return "the image and the mask are swapped: the mask went in as the image"
    return _nearest(run, spec)


def _check_printed_url(spec: dict[str, Any], run: StepRun) -> Outcome:
    responses = _issued_urls(run, spec)
    if not responses:
        return False, _why_not(run, spec) if not any(matches(r, spec, 200, run.workdir) for r in run.records) else \
            "the API issued no image URL to this run"
    out = run.stdout
    every = spec.get("all", False)
    if spec.get("at_least"):  # so many links of such requests, from one response or several
        links = {u for r in responses for u in r if shown_as_link(u, out)}
        if len(links) >= spec["at_least"]:
            return True, ""
        return False, "only some of the links were printed" if links else (
            "the URLs are printed inside the Image objects, not on their own" if any(u in out for r in responses for u in r)
            else "the output does not show the URLs the API issued to this run")
    shown = [r for r in responses if (all if every else any)(shown_as_link(u, out) for u in r)]
    if not shown:
        if every and any(shown_as_link(u, out) for r in responses for u in r):
            return False, "only some of the links were printed"
        if any(u in out for r in responses for u in r):
            return False, "the URL is printed inside the Image object, not on its own: print response.data[0].url"
        return False, ("the output does not show the URL the API issued to this run (a URL typed in or copied from "
                       "another run does not count)")
    if spec.get("alone"):
        wrapped = any(u in out and not _only_as_link(u, out) for r in responses for u in r)
        if wrapped or "ImagesResponse(" in out:
            return False, "the output shows the whole response or the Image object as well, not only the URL"
    return True, ""


def _only_as_link(url: str, output: str) -> bool:
    start = output.find(url)
    while start != -1:
        if IN_OBJECT.search(output[max(0, start - 12):start]):
            return False
        start = output.find(url, start + 1)
    return True


def _check_printed_response(spec: dict[str, Any], run: StepRun) -> Outcome:
    urls = [u for r in _issued_urls(run, spec) for u in r]
    if not urls:
        return False, _nearest(run, spec)
    out = run.stdout
    ok = "created" in out and "data" in out and any(u in out for u in urls)
    if ok:
        return True, ""
    if any(u in out for u in urls):
        return False, "only part of it was printed (the whole response shows created and data too)"
    return False, "the response the API sent this run is not in the output"


def _refusals(spec: dict[str, Any], run: StepRun) -> list[Record]:
    return [r for r in run.records if matches(r, spec, spec.get("status", 400), run.workdir)]


def _flat(text: str) -> str:
    """Whitespace as single spaces: a message wrapped over lines (textwrap, say) is still the message."""
    return " ".join(text.split())


def _check_error_shown(spec: dict[str, Any], run: StepRun) -> Outcome:
    refused = _refusals(spec, run)
    if not refused:
        if spec.get("code") or spec.get("message_has"):
            other = [r for r in run.records if r.method == "POST" and r.status >= 400]
            if other:
                return False, f"the API refused a request, but for another reason: {other[-1].error_message}"
        return False, _nearest(run, spec)
    output = _flat(run.stdout + "\n" + run.stderr)
    show = spec.get("show", "either")  # what of the error must appear: its message, its code, or either
    has_message = any(bool(r.error_message) and _flat(r.error_message) in output for r in refused)
    has_code = any(bool(r.error_code) and r.error_code in output for r in refused)
    ok = (show != "code" and has_message) or (show != "message" and has_code)
    if ok:
        return True, ""
    code = next((r.error_code for r in reversed(refused) if r.error_code), "")
    if show == "code" and has_message:
        return False, f"the output shows the error's message but not its code ({code}): print error.code as well"
    if show == "message" and has_code:
        return False, "the output shows the error's code but not its message: print error.message as well"
    if show == "code":
        return False, f"the API refused the request, but the output does not show the error's code ({code})"
    return False, "the API refused the request, but the output does not show its message"


def _check_caught(spec: dict[str, Any], run: StepRun) -> Outcome:
    if not _refusals(spec, run):
        return False, "there was no refusal to catch"
    ok = run.exit_code == 0
    return ok, "" if ok else "the refusal ended the step as an uncaught error"


def calls(source: str | None, caller: str, callee: str) -> bool:
    """Whether the function `caller` in `source` calls `callee()` (the last definition of it counts)."""
    function = code_facts(source).get(caller)
    return function is not None and callee in function.calls


REQUEST_METHODS = frozenset({"generate", "create", "create_variation", "edit", "post", "request", "stream"})


def calls_before_requests(source: str | None, caller: str, callee: str) -> bool:
    """Whether `caller` calls `callee()` before any call that sends a request (`client.images.generate(...)`,
    `httpx.post(...)`), reading its code top to bottom; true when no such call is written in it (a helper
    of the learner's sends it)."""
    function = code_facts(source).get(caller)
    if function is None or callee not in function.order:
        return False
    first_request = next((i for i, name in enumerate(function.order) if name in REQUEST_METHODS), None)
    return first_request is None or function.order.index(callee) < first_request


def _check_after_error(spec: dict[str, Any], run: StepRun) -> Outcome:
    valid = [r for r in run.records if matches(r, spec, 200, run.workdir)]
    first_error = next((r.id or 0 for r in run.records if r.method == "POST" and r.status >= 400), None)
    if first_error is not None and any((r.id or 0) > first_error for r in valid):
        return True, ""
    callee = spec.get("or_calls")
    if callee and valid and calls(run.source, f"step{run.step}", callee):
        if calls_before_requests(run.source, f"step{run.step}", callee):
            return True, ""
        return False, f"it sends the valid request first and calls {callee}() after it"
    if first_error is not None and valid:
        return False, "the valid request came before the refused one: send it after the error"
    if first_error is None:
        return False, f"no refused request came first in this run (step {run.step} should call {callee or 'the step that fails'}() before the fix)"
    return False, "no valid request followed the refusal"


def _walk_files(folder: Path, depth: int = 3) -> Iterator[tuple[Path, os.stat_result]]:
    """Plain files in `folder` or up to `depth` folders below it (out/, images/), never through a link and
    never in hidden folders or __pycache__; at most a few hundred."""
    seen = 0
    for current, dirs, files in os.walk(folder, followlinks=False):
        level = len(Path(current).relative_to(folder).parts)
        dirs[:] = [] if level >= depth else [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            path = Path(current, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                seen += 1
                yield path, info
        if seen > SNAPSHOT_FILES:
            return


SNAPSHOT_FILES = 500


def snapshot(folder: Path) -> dict[str, tuple[int, int]] | None:
    """Each file in `folder` as a step finds it, to tell afterwards which ones the step wrote; None for a folder
    too full to list (a home folder): then a file counts by its time against the run's start."""
    found = {}
    for path, info in _walk_files(folder):
        if len(found) >= SNAPSHOT_FILES:
            return None
        found[str(path.relative_to(folder))] = (info.st_mtime_ns, info.st_size)
    return found


def _saved_files(folder: Path, pattern: str, since: float,
                 before: dict[str, tuple[int, int]] | None = None) -> list[Path]:
    """Files matching `pattern` the step wrote: new or changed since `before` (the folder as the step found
    it), else written since `since`; in `folder` or a few folders below it, since the grader reads them
    outside the box."""
    found: list[Path] = []
    for path, info in _walk_files(folder):
        if not path.match(pattern):
            continue
        if before is not None:
            fresh = before.get(str(path.relative_to(folder))) != (info.st_mtime_ns, info.st_size)
        else:
            fresh = info.st_mtime >= since - 1
        if fresh:
            found.append(path)
        if len(found) > 50:
            break
    return found


def _sent_images(spec: dict[str, Any], run: StepRun) -> dict[str, int]:
    """The fingerprints of the images the API sent this run that a `file_saved` check accepts, each
    mapped to the image it belongs to (so two files of one picture count once)."""
    records = [r for r in run.records if "route" not in spec or matches(r, spec, 200, run.workdir)]
    which = spec.get("which")  # "partial": a stream's partial pictures only; "final": the finished ones
    prints: dict[str, int] = {}
    number = 0
    for record in records:
        for image in record.images:
            number += 1
            if which is not None and (which == "partial") != ("partial" in image):
                continue
            for key in ("sha256", "pixels"):
                if key in image:
                    prints.setdefault(image[key], number)
    return prints


def _saved_prints(path: Path, size: list[int]) -> tuple[dict[str, str] | None, str]:
    """A saved picture's fingerprints, or None; and why it was not read, when its header or its file's size
    already says it cannot be a picture the API sent (then it is never decoded, nor read whole)."""
    from . import fingerprints

    try:
        why = fingerprints.too_large(size[0], size[1], path.stat().st_size)
        if why:
            return None, why
        with open(path, "rb") as f:
            data = f.read(fingerprints.MAX_FILE_BYTES + 1)  # it may have grown since: never more than this
    except OSError:
        return None, ""
    return fingerprints.of_file(data), fingerprints.too_large(size[0], size[1], len(data))


def _check_file_saved(spec: dict[str, Any], run: StepRun) -> Outcome:
    if run.workdir is None:
        return False, "there was no working folder to look in"
    from PIL import Image

    pattern = spec.get("glob", "*.png")
    fresh = sorted(_saved_files(run.workdir, pattern, run.started, run.before), key=lambda p: (len(p.parts), str(p)))
    if not fresh:
        return False, f"no new {pattern} file was saved"
    sent = _sent_images(spec, run)
    every = _sent_images({}, run)  # every picture of the run: a file of another request's is not this one's try
    wanted = int(spec.get("at_least", 1))
    others: list[str] = []
    kind = {"partial": "partial picture", "final": "finished picture"}.get(spec.get("which", ""), "picture")
    problem = ""
    found: dict[int, str] = {}  # image -> the first file that holds it
    for path in fresh[:20]:
        try:
            with Image.open(path) as image:
                fmt, size = image.format, list(image.size)
        except Exception:  # noqa: BLE001 - whatever the file is, it is not a picture
            problem = problem or f"{path.name} is not a picture"
            continue
        if spec.get("format") and fmt != spec["format"]:
            problem = problem or f"{path.name} is a {fmt} file, not {spec['format']}"
            continue
        if spec.get("size") and size != spec["size"]:
            problem = problem or f"{path.name} is {size[0]}x{size[1]}, not {spec['size'][0]}x{spec['size'][1]}"
            continue
        if spec.get("returned", True):
            prints, why = _saved_prints(path, size)
            hits = [sent[v] for v in (prints or {}).values() if v in sent]
            if not hits and any(v in every for v in (prints or {}).values()):
                others.append(path.name)  # a picture of this run, but of another request or kind
                continue
            if not hits:
                problem = problem or (f"{path.name} {why}, so it is not the {kind} the API sent this run" if why
                                      else f"{path.name} is not the {kind} the API sent this run")
                continue
            found.setdefault(hits[0], path.name)
        else:
            found.setdefault(-len(found) - 1, path.name)
        if len(found) >= wanted:
            return True, ", ".join(found.values())
    if found:
        return False, (f"only {len(found)} of the {kind}s {'was' if len(found) == 1 else 'were'} saved "
                       f"({', '.join(found.values())}); each one needs a file of its own")
    if problem:
        return False, problem
    if others:
        held = (f"{others[0]} holds another picture of this run" if len(others) == 1
                else f"{', '.join(others[:3])} hold other pictures of this run")
        return False, f"no file holds the {kind} of {_request_words(spec)} ({held}): save it to a file of its own"
    return False, f"no new {pattern} file holds the {kind} the API sent this run"


def _request_words(spec: dict[str, Any]) -> str:
    """The request a check is about, briefly: "this request", "the follow-up", "the stream"."""
    if "previous_response_id" in spec.get("has", []):
        return "the follow-up"
    return {"partial": "the stream", "final": "this request"}.get(spec.get("which", ""), "this request")


def _check_streamed(spec: dict[str, Any], run: StepRun) -> Outcome:
    matching = [r for r in run.records if matches(r, spec, None, run.workdir)]
    streams = [r for r in matching if r.stream is not None]
    for record in streams:
        if record.status == 200 and record.stream.get("completed"):
            sent = sum(1 for image in record.images if "partial" in image)
            asked = int(params_of(record).get("partial_images") or 0)
            if sent >= asked:
                return True, ""
            return False, f"the stream sent {sent} of the {asked} partial pictures asked for"
    if streams:
        return False, ("the stream was not read to its end: loop over it (for event in stream:) until its "
                       "completed event")
    refused = [r for r in matching if r.status >= 400]
    if any(r.status == 200 for r in matching):
        return False, "the request was not streamed: add stream=True (partial_images alone sends no partial pictures)"
    if refused:
        return False, f"the request was refused: {refused[-1].error_message or refused[-1].error_code}"
    return False, _nearest(run, spec)


def _check_follows_up(spec: dict[str, Any], run: StepRun) -> Outcome:
    """The API accepted the request's previous_response_id (it refuses ids it does not know), changed that
    response's picture, and the response it continues was made earlier in this same run (the log holds each
    response's own id)."""
    plain = {**spec, "has": [h for h in spec.get("has", []) if h != "previous_response_id"]}
    asked = [r for r in run.records if matches(r, plain, None, run.workdir)]
    if not asked:
        return False, _nearest(run, spec)
    following = [r for r in asked if r.params.get("previous_response_id")]
    if not following:
        return False, ("no request sent previous_response_id, so each one started a new conversation and the "
                       "model could not see the first picture")
    accepted = [r for r in following if r.status == 200]
    if not accepted:
        last = following[-1]
        return False, f"the API refused the follow-up: {last.error_message or last.error_code}"
    made = {r.response_id: r for r in run.records if r.response_id and r.status == 200}

    def made_before(record: Record) -> bool:
        earlier = made.get(record.params.get("previous_response_id"))
        if earlier is not None:
            return (earlier.id or 0) < (record.id or 0)
        if made:  # this run's responses are known by id, and this is none of them
            return False
        return any(r.route == record.route and r.status == 200 and (r.id or 0) < (record.id or 0) for r in run.records)

    if any(made_before(r) and r.params.get("action", "edit") == "edit" for r in accepted):
        return True, ""
    if not any(made_before(r) for r in accepted):
        first = f"call {spec['first']}() first" if spec.get("first") else "make the first response in the same run"
        return False, (f"previous_response_id names a response this run did not make (each step runs on its own): "
                       f"{first} and follow up on the response it returns")
    return False, "the follow-up did not change a picture: the response it continues made none"


def _check_printed_field(spec: dict[str, Any], run: StepRun) -> Outcome:
    name = spec["field"]
    values = [str(image[name]) for r in run.records if matches(r, spec, 200, run.workdir) for image in r.images
              if image.get(name)]
    if not values:
        return False, _nearest(run, spec) if not any(matches(r, spec, 200, run.workdir) for r in run.records) else \
            f"the API sent no {name} to this run"
    out = _flat(run.stdout)
    ok = any(_flat(v) in out for v in values)
    return ok, "" if ok else f"the {name.replace('_', ' ')} the API sent is not in the output"


# ------------------------------------------------------------------------------ reading the code

# A lesson script is a few KB. Its syntax tree costs about 400 times its text (4 MB of code: 1.7 GB and
# 8 s to parse), in the grader's own process, so code past this is never parsed.
MAX_SOURCE_BYTES = 1024 * 1024


def too_much_code(size: int, name: str, *, notebook: bool = False) -> str:
    """Why a lesson's code of `size` bytes is not read, in words for the learner; "" when it is read."""
    if size <= MAX_SOURCE_BYTES:
        return ""
    shown = math.ceil(size / 2**20 * 10) / 10  # rounded up: 1 MB and a byte is never shown as "1.0 MB"
    what = f"{name} holds {shown:.1f} MB of code" if notebook else f"{name} is {shown:.1f} MB"
    return f"{what}, more than the {MAX_SOURCE_BYTES // 2**20} MB a lesson script may be"


@dataclass(frozen=True)
class FunctionFacts:
    """What the checks that read code need of one top-level function: kept instead of its syntax tree."""

    returns_value: bool  # a `return` with a value (not None), outside nested functions and classes
    calls: frozenset[str]  # the plain names it calls: `step4()` -> "step4"
    order: tuple[str, ...] = ()  # every name it calls, plain or a method's (`generate`), top to bottom


def code_facts(source: str | None) -> dict[str, FunctionFacts]:
    """Each top-level function of `source` (the last definition of a name counts), read once per text however
    many checks ask; {} when there is none, the code does not parse, or it is too large to parse."""
    if not source or len(source) > MAX_SOURCE_BYTES:
        return {}
    return _parsed_facts(source)


@lru_cache(maxsize=16)  # a few learners graded at once, several checks each: small facts, never a tree, are kept
def _parsed_facts(source: str) -> dict[str, FunctionFacts]:
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: dict[str, FunctionFacts] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            every = sorted((n for n in ast.walk(node) if isinstance(n, ast.Call)),
                           key=lambda n: (n.lineno, n.col_offset))
            called = frozenset(n.func.id for n in every if isinstance(n.func, ast.Name))
            order = tuple(n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in every
                          if isinstance(n.func, (ast.Name, ast.Attribute)))
            found[node.name] = FunctionFacts(_returns_value(node), called, order)
    return found


def _returns_value(function: Any) -> bool:
    """Walked with a list, not by recursion: `1 + 1 + ...` a few thousand terms long nests that deep."""
    import ast

    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def _check_returns(spec: dict[str, Any], run: StepRun) -> Outcome:
    name = f"step{run.step}"
    if run.source and len(run.source) > MAX_SOURCE_BYTES:
        return False, too_much_code(len(run.source), "the script")
    function = code_facts(run.source).get(name)
    if function is None:
        return False, f"{name}() was not found in the script"
    ok = function.returns_value
    return ok, "" if ok else f"{name}() has no return line, so the steps that call it get None"


def _check_output_matches(spec: dict[str, Any], run: StepRun) -> Outcome:
    """With a request named (`route`, `params`, `streamed`), the text counts only when this run made such a
    request: printing lines that look like its events, without making it, earns nothing."""
    if any(k in spec for k in ("route", "params", "streamed")):
        made = [r for r in run.records if matches(r, spec, 200, run.workdir)
                and (not spec.get("streamed") or (r.stream is not None and r.stream.get("events")))]
        if not made:
            if spec.get("streamed") and any(matches(r, spec, 200, run.workdir) for r in run.records):
                return False, "the request was not streamed, so it sent no events to print"
            return False, _nearest(run, spec)
    ok = re.search(spec["pattern"], run.stdout) is not None
    return ok, "" if ok else spec.get("missing", "")


def _check_printed_id(spec: dict[str, Any], run: StepRun) -> Outcome:
    """stdout shows the id of a response the API made this run (a made-up or copied id does not count)."""
    made = [r.response_id for r in run.records if matches(r, spec, 200, run.workdir) and r.response_id]
    if not made:
        return False, _nearest(run, spec)
    if any(i in run.stdout for i in made):
        return True, ""
    if re.search(r"\bresp_[A-Za-z0-9]{8,}", run.stdout):
        return False, "the id printed is not the id of the response the API made this run: print response.id"
    return False, "the output does not show the response's id: print response.id"


def _check_exit(spec: dict[str, Any], run: StepRun) -> Outcome:
    want = spec.get("code", 0)
    if run.exit_code == want:
        return True, ""
    return False, "the step stopped with an error" if run.exit_code not in (None, 0) else ""


CHECKS: dict[str, Callable[[dict[str, Any], StepRun], Outcome]] = {
    "exit": _check_exit,
    "request": _check_request,
    "printed_url": _check_printed_url,
    "printed_response": _check_printed_response,
    "error_shown": _check_error_shown,
    "caught": _check_caught,
    "after_error": _check_after_error,
    "file_saved": _check_file_saved,
    "streamed": _check_streamed,
    "follows_up": _check_follows_up,
    "printed_field": _check_printed_field,
    "returns": _check_returns,
    "output_matches": _check_output_matches,
    "printed_id": _check_printed_id,
}


def evaluate(step: dict[str, Any], run: StepRun) -> StepResult:
    """Judge one run of one step against the step's checks (as in its lesson's checks.json)."""
    results: list[CheckResult] = []
    for spec in step.get("checks", []):
        points = float(spec.get("points", 1))
        if run.reason:  # it could not run normally: the reason is said once, for the whole step
            passed, detail = False, ""
        else:
            passed, detail = CHECKS[spec["kind"]](spec, run)
        message = spec.get("success" if passed else "failure") or (
            f"{spec['kind']} passed" if passed else f"{spec['kind']} failed")
        results.append(CheckResult(spec["kind"], passed, message, points if passed else 0.0, points,
                                   bool(spec.get("hidden")), list(spec.get("hints", [])), detail if not passed else ""))
    # Running cleanly, and code that hands a value back, earn points only alongside the step's own work.
    work = [r for r, spec in zip(results, step.get("checks", []))
            if spec["kind"] not in NOT_WORK and not spec.get("hidden")]
    for result, spec in zip(results, step.get("checks", [])):
        if spec["kind"] in NOT_WORK and spec.get("needs_work", True) and result.passed and work \
                and not any(w.passed for w in work):
            result.passed, result.points = False, 0.0
            result.message = spec.get("failure_no_work", NO_WORK[spec["kind"]])
            result.detail = ""
        elif spec.get("hidden") and result.passed and work and not any(w.passed for w in work):
            # a hidden check backs up the step's own work (the URL printed is step 1's image): alone, it earns
            # nothing (a request the course made in an earlier step's place is not this step's work)
            result.passed, result.points = False, 0.0
    return StepResult(step["number"], step.get("title", f"step {step['number']}"), results)
