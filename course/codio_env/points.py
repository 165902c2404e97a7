"""What a code test sends to Codio's partial points URLs, and what it is worth (docs.codio.com, "Partial Points").

Codio gives a test that allows partial points two URLs in its environment, each already holding a query, so a
script adds its own with `&`:

- `CODIO_PARTIAL_POINTS_URL`, the older: `"$CODIO_PARTIAL_POINTS_URL&points=3"`, the points earned, from 0 up to the
  assessment's points;
- `CODIO_PARTIAL_POINTS_V2_URL`: GET or POST with `points` (a percentage of the assessment's points, 0 to 100),
  `feedback` (text, at most 1 MB) and `format` (`txt`, the default, `md` or `html`); here a POST's body may be a
  form (`curl -d`, `curl -F`) or a JSON object.

`read_sent` reads one request into a `Sent` (or the reason it is refused), the same for the quiz's endpoint and
the grader's. Our URLs carry a secret `token` of the run, so a sent score counts for the run that was given it
and no other (`of_run`); the last one taken counts (`counted`). What it is worth is `code_tests.CodeTest`'s rule.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

PATH = "/__codio__/partial-points"  # CODIO_PARTIAL_POINTS_URL
PATH_V2 = "/__codio__/partial-points-v2"  # CODIO_PARTIAL_POINTS_V2_URL
MAX_FEEDBACK = 1024 * 1024  # Codio's limit on feedback
MAX_BODY = MAX_FEEDBACK + 64 * 1024
FORMATS = ("txt", "md", "html")
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class Refused(Exception):
    """A request the endpoint does not take, with the reason (for the test's own output and the learner's feedback)."""


@dataclass(frozen=True)
class Sent:
    """One score a test sent: `points` out of the assessment's (older URL) or `percent` of them (V2)."""

    token: str
    version: int  # 1: CODIO_PARTIAL_POINTS_URL, 2: CODIO_PARTIAL_POINTS_V2_URL
    value: float  # the points (1) or the percentage (2), as sent
    feedback: str = ""
    format: str = "txt"
    error: str = ""  # why the endpoint refused it ("": taken)

    def points_of(self, possible: float) -> float:
        """What it is worth out of `possible` points: within 0 and `possible`."""
        earned = self.value if self.version == 1 else possible * self.value / 100.0
        return min(max(earned, 0.0), possible)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sent:
        return cls(str(data.get("token") or ""), int(data.get("version") or 0), float(data.get("value") or 0.0),
                   str(data.get("feedback") or ""), str(data.get("format") or "txt"), str(data.get("error") or ""))


def new_token() -> str:
    return secrets.token_urlsafe(18)


def environment(base: str, token: str) -> dict[str, str]:
    """The two variables Codio sets, pointing at the endpoint whose root is `base` (`http://127.0.0.1:PORT`)."""
    query = "?token=" + token
    return {"CODIO_PARTIAL_POINTS_URL": base + PATH + query, "CODIO_PARTIAL_POINTS_V2_URL": base + PATH_V2 + query}


def version_of(path: str) -> int:
    """1 or 2 for our two paths; 0 for any other."""
    return {PATH: 1, PATH_V2: 2}.get(path.rstrip("/"), 0)


def read_sent(path: str, query: str, body: bytes = b"", content_type: str = "") -> Sent:
    """One request to either URL as the score it sends; one the endpoint refuses has `error`, the reason (it is
    kept, so the learner reads why the score was not taken)."""
    version = version_of(path)
    fields = _fields(query)
    try:
        if not version:
            raise Refused(f"{path} is neither of Codio's partial points URLs")
        if len(body) > MAX_BODY:
            raise Refused("the request is larger than Codio's 1 MB limit on feedback")
        fields.update(_body_fields(body, content_type))
        return _score(version, fields)
    except Refused as exc:
        token = fields.get("token", "")
        return Sent(token if TOKEN.fullmatch(token) else "", version, 0.0, error=str(exc))


def _score(version: int, fields: dict[str, str]) -> Sent:
    token = fields.get("token", "")
    if not TOKEN.fullmatch(token):
        raise Refused("the URL's token is missing: use the URL from the environment as it is, adding to it with '&'")
    raw = fields.get("points", "").strip()
    if not raw:
        raise Refused("no points were sent (add '&points=N' to the URL, or send points=N)")
    try:
        value = float(raw)
    except ValueError:
        raise Refused(f"the points sent, {raw[:40]!r}, are not a number") from None
    if not math.isfinite(value):
        raise Refused(f"the points sent, {raw[:40]!r}, are not a number")
    feedback = fields.get("feedback", "") if version == 2 else ""
    if len(feedback.encode()) > MAX_FEEDBACK:
        raise Refused("the feedback is larger than Codio's limit of 1 MB")
    fmt = (fields.get("format") or "txt").strip().lower() if version == 2 else "txt"
    if fmt not in FORMATS:
        raise Refused(f"the format {fmt[:20]!r} is not one of txt, md or html")
    return Sent(token, version, value, feedback, fmt)


def _fields(query: str) -> dict[str, str]:
    """A query string's fields, the last of each name (a URL with `&points=` added twice means the last)."""
    return {name: value for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True)}


def _body_fields(body: bytes, content_type: str) -> dict[str, str]:
    if not body.strip():
        return {}
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/json" or (not kind and text.lstrip().startswith("{")):
        try:
            data = json.loads(text)
        except ValueError:
            raise Refused("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused("the JSON body is not an object {\"points\": …}")
        return {str(k): ("" if v is None else str(v)) for k, v in data.items()}
    if kind == "multipart/form-data":
        return _multipart(body, content_type)
    return _fields(text)


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    """A `curl -F name=value` body: its plain fields."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1", "replace")
                                                  + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields


def of_run(sent: list[Sent], token: str) -> list[Sent]:
    """What the run given `token` sent, in order: its own sends, and those refused for lacking any token (they
    came to this run's endpoint or channel, so they are its own attempts); another token's are not its."""
    return [s for s in sent if secrets.compare_digest(s.token, token) or (s.error and not s.token)]


def counted(sent: list[Sent]) -> Sent | None:
    """The send that counts: the last one taken (None: none was)."""
    taken = [s for s in sent if not s.error]
    return taken[-1] if taken else None
