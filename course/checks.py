"""Judging a step: its expectations are data, checked against what the run printed and what the
offline API's request log says it really asked for and got.

A step's checks live in its lesson's `index.json` (`course.steps[].checks`). Each is a dict with a
`kind` (below) and optional `points`, `hidden`, `success`, `failure` and `hints`. `course try` and
the grader call the same `evaluate()`.

Kinds:
- `exit`: the step exited with `code` (default 0).
- `request`: the log holds a request on `route` with `status` whose parameters include `params`.
- `printed_url`: stdout holds a URL the API issued to this very run (for a request matching `params`).
- `printed_response`: stdout shows a whole response: `created`, `data` and an issued URL.
- `error_shown`: a request matching `params` was refused with `status`, and the API's message
  appears in the output (printed or in a traceback).
- `ok_after_error`: a request matching `params` succeeded after a refused one, and its URL was printed.
- `file_saved`: a file matching `glob` appeared in the working folder and opens as `format`
  (optionally of `size` [w, h]).
- `output_matches`: stdout matches the regular expression `pattern`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .offline.requestlog import Record

ROUTES = {"generations": "/v1/images/generations", "edits": "/v1/images/edits", "variations": "/v1/images/variations"}
DEFAULTS = {"model": "dall-e-2", "n": 1}


@dataclass
class StepRun:
    """What one run of one step did: its output, and the log rows made with its own key."""

    step: int
    stdout: str
    stderr: str
    exit_code: int | None
    records: list[Record] = field(default_factory=list)
    workdir: Path | None = None
    started: float = 0.0
    timed_out: bool = False
    reason: str = ""  # why it could not run at all (timeout, crash, too much output)


@dataclass
class CheckResult:
    kind: str
    passed: bool
    message: str
    points: float = 0.0
    max_points: float = 0.0
    hidden: bool = False
    hints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
        for c in self.checks:
            if not c.hidden:
                lines.append(f"  {'✓' if c.passed else '✗'} {c.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "passed": self.passed, "points": self.points,
                "max_points": self.max_points, "checks": [c.to_dict() for c in self.checks]}


def _route(spec: dict[str, Any]) -> str:
    return ROUTES.get(spec.get("route", "generations"), spec.get("route", ""))


def _matches(record: Record, spec: dict[str, Any], status: int | None = None) -> bool:
    if record.method != "POST" or record.route != _route(spec):
        return False
    if status is not None and record.status != status:
        return False
    params = {**DEFAULTS, **{k: v for k, v in record.params.items() if v is not None}}
    if record.model:
        params["model"] = record.model
    for name, want in spec.get("params", {}).items():
        got = params.get(name)
        if isinstance(got, str) and got.lstrip("-").isdigit():  # multipart fields arrive as text
            got = int(got)
        if isinstance(want, list):  # any of these values
            if got not in want:
                return False
        elif isinstance(want, dict) and "not_in" in want:
            if got in want["not_in"]:
                return False
        elif got != want:
            return False
    return True


def _issued_urls(run: StepRun, spec: dict[str, Any]) -> list[str]:
    return [u for r in run.records if _matches(r, spec, 200) for u in r.urls]


def _check_exit(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    want = spec.get("code", 0)
    return run.exit_code == want, f"the step exited with status {run.exit_code} (expected {want})"


def _check_request(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    ok = any(_matches(r, spec, spec.get("status", 200)) for r in run.records)
    return ok, "the API received the request the step asks for" if ok else (
        f"no request with {spec.get('params', {})} reached the API with status {spec.get('status', 200)}")


def _check_printed_url(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    urls = _issued_urls(run, spec)
    if not urls:
        return False, "the API issued no image URL to this run"
    ok = any(u in run.stdout for u in urls)
    return ok, "the output shows the URL the API issued" if ok else (
        "the output does not show the URL the API issued to this run (a URL typed in or copied from "
        "another run does not count)")


def _check_printed_response(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    urls = _issued_urls(run, spec)
    ok = bool(urls) and "created" in run.stdout and "data" in run.stdout and any(u in run.stdout for u in urls)
    return ok, "the output shows the whole response" if ok else (
        "the output does not show the whole response (created, data and the image URL)")


def _check_error_shown(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    refused = [r for r in run.records if _matches(r, spec, spec.get("status", 400))]
    if not refused:
        return False, "the API never refused a request like the one this step should make"
    output = run.stdout + run.stderr
    show = spec.get("show", "either")  # what of the error must appear: its message, its code, or either
    ok = any((show != "code" and bool(r.error_message) and r.error_message in output)
             or (show != "message" and bool(r.error_code) and r.error_code in output) for r in refused)
    return ok, "the output shows the API's error" if ok else "the API refused the request, but the output does not show its message"


def _check_ok_after_error(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    first_error = next((r.id or 0 for r in run.records if r.method == "POST" and r.status >= 400), None)
    if first_error is None:
        return False, "no refused request came before the valid one in this run"
    later = [u for r in run.records if (r.id or 0) > first_error and _matches(r, spec, 200) for u in r.urls]
    ok = any(u in run.stdout for u in later)
    return ok, "a valid request followed the error and its URL was printed" if ok else (
        "after the error, no valid request's URL was printed")


def _check_file_saved(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    if run.workdir is None:
        return False, "no working folder to look in"
    pattern = spec.get("glob", "*.png")
    # never a link: the grader reads these files outside the box
    fresh = [p for p in run.workdir.glob(pattern)
             if p.is_file() and not p.is_symlink() and p.stat().st_mtime >= run.started - 1]
    if not fresh:
        return False, f"no new file matching {pattern} was saved"
    from PIL import Image

    try:
        with Image.open(fresh[0]) as image:
            fmt, size = image.format, list(image.size)
    except Exception:
        return False, f"{fresh[0].name} is not a picture"
    if spec.get("format") and fmt != spec["format"]:
        return False, f"{fresh[0].name} is a {fmt} file, not {spec['format']}"
    if spec.get("size") and size != spec["size"]:
        return False, f"{fresh[0].name} is {size[0]}x{size[1]}, not {spec['size'][0]}x{spec['size'][1]}"
    return True, f"{fresh[0].name} was saved as a {fmt} picture"


def _check_output_matches(spec: dict[str, Any], run: StepRun) -> tuple[bool, str]:
    ok = re.search(spec["pattern"], run.stdout) is not None
    return ok, spec.get("describe", "the output looks right") if ok else spec.get("describe_failure", "the output is not what the step should print")


CHECKS: dict[str, Callable[[dict[str, Any], StepRun], tuple[bool, str]]] = {
    "exit": _check_exit,
    "request": _check_request,
    "printed_url": _check_printed_url,
    "printed_response": _check_printed_response,
    "error_shown": _check_error_shown,
    "ok_after_error": _check_ok_after_error,
    "file_saved": _check_file_saved,
    "output_matches": _check_output_matches,
}


def evaluate(step: dict[str, Any], run: StepRun) -> StepResult:
    """Judge one run of one step against the step's checks (as in its lesson's index.json)."""
    results: list[CheckResult] = []
    for spec in step.get("checks", []):
        points = float(spec.get("points", 1))
        if run.reason:
            passed, message = False, run.reason
        else:
            passed, message = CHECKS[spec["kind"]](spec, run)
        if passed and spec.get("success"):
            message = spec["success"]
        elif not passed and spec.get("failure") and not run.reason:
            message = f"{spec['failure']} ({message})"
        results.append(CheckResult(spec["kind"], passed, message, points if passed else 0.0, points,
                                   bool(spec.get("hidden")), list(spec.get("hints", []))))
    return StepResult(step["number"], step.get("title", f"step {step['number']}"), results)
