"""Signed image URLs in the shape of the real Azure blob URLs DALL-E handed out.

`/private/org-…/user-…/img-….png?st=…&se=…&sp=r&sv=…&sr=b&rscd=inline&rsct=image/png&skoid=…&sktid=…
&skt=…&ske=…&sks=b&skv=…&sig=…`: `st` is the creation time minus an hour, `se`
the creation time plus an hour, and `sig` an HMAC-SHA256 over the path and
every other query value, so a changed character or an expired URL is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

LIFETIME = 3600
SV = "2021-08-06"
SIGNED_KEYS = ("st", "se", "sp", "sv", "sr", "rscd", "rsct", "skoid", "sktid", "skt", "ske", "sks", "skv")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_iso(value: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


def _sign(secret: bytes, path: str, values: dict[str, str]) -> str:
    message = "\n".join([path, *(values.get(k, "") for k in SIGNED_KEYS)])
    return base64.b64encode(hmac.new(secret, message.encode(), hashlib.sha256).digest()).decode()


def make(secret: bytes, base: str, org: str, user: str, image_id: str, ext: str, created: int) -> str:
    path = f"/private/{org}/{user}/{image_id}.{ext}"
    tenant = str(uuid.UUID(bytes=hashlib.md5(b"tenant" + secret).digest()))
    values = {
        "st": iso(created - LIFETIME),
        "se": iso(created + LIFETIME),
        "sp": "r",
        "sv": SV,
        "sr": "b",
        "rscd": "inline",
        "rsct": CONTENT_TYPES[ext],
        "skoid": str(uuid.UUID(bytes=hashlib.md5(org.encode()).digest())),
        "sktid": tenant,
        "skt": iso(created - LIFETIME),
        "ske": iso(created + 23 * LIFETIME),
        "sks": "b",
        "skv": SV,
    }
    values["sig"] = _sign(secret, path, values)
    query = "&".join(f"{k}={quote(v, safe='')}" if k != "rsct" else f"{k}={v}" for k, v in values.items())
    return f"{base}{path}?{query}"


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    expires: float = 0.0
    detail: str = ""


def verify(secret: bytes, path: str, query: str, now: float) -> Verdict:
    values = dict(parse_qsl(query, keep_blank_values=True))
    sig = values.get("sig", "")
    if not sig or any(k not in values for k in ("st", "se")):
        return Verdict(False, "AuthenticationFailed", detail="Signature did not match. String to sign used was r")
    expected = _sign(secret, path, values)
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        return Verdict(False, "AuthenticationFailed", detail="Signature did not match. String to sign used was r")
    try:
        start, expiry = parse_iso(values["st"]), parse_iso(values["se"])
    except ValueError:
        return Verdict(False, "AuthenticationFailed", detail="Signature did not match. String to sign used was r")
    if not start <= now < expiry:
        detail = (
            f"Signed expiry time [{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(expiry))}] must be "
            f"after signed start time and the current time [{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(now))}]"
        )
        return Verdict(False, "AuthenticationFailed", expires=expiry, detail="Signature not valid in the specified time frame: " + detail)
    return Verdict(True, expires=expiry)


def forbidden_xml(verdict: Verdict, request_id: str, now: float) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to '
        "authenticate the request. Make sure the value of Authorization header is formed correctly including the "
        f"signature.\nRequestId:{request_id}\nTime:{iso(now)}</Message>"
        f"<AuthenticationErrorDetail>{verdict.detail}</AuthenticationErrorDetail></Error>"
    )


def not_found_xml(request_id: str, now: float) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does '
        f"not exist.\nRequestId:{request_id}\nTime:{iso(now)}</Message></Error>"
    )
