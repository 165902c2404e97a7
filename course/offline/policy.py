"""What the server allows: keys, the content policy, rate limits and injected faults."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
from collections import deque
from pathlib import Path

from . import errors
from .models import DATA


def organization(learner: str | None, key: str | None) -> str:
    """The organisation a request's key (its learner, when the server knows keys) belongs to, as the real
    `openai-organization` header and error messages name it."""
    return ident("org", "org", learner or key or "anonymous")


def ident(prefix: str, *parts: str) -> str:
    """A stable 24-character id like the real `org-…`/`user-…` ones."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()
    text = base64.b64encode(digest, altchars=b"Az").decode().replace("=", "")
    return f"{prefix}-{text[:24]}"


# --- keys -----------------------------------------------------------------------------


def load_keys(path: Path) -> dict[str, str]:
    """A keys file maps key -> learner id: a JSON object, or lines `KEY LEARNER` (`#` comments)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError(f"{path}: expected a JSON object mapping each key to a learner id")
        return dict(data)
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"[\s,]+", line)
        if len(parts) != 2:
            raise ValueError(f"{path}, line {number}: expected 'KEY LEARNER', got {line!r}")
        keys[parts[0]] = parts[1]
    return keys


def key_from_headers(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except Exception:
            return None
        return password or None
    return None


class Keys:
    def __init__(self, mapping: dict[str, str] | None) -> None:
        self.mapping = mapping

    def check(self, key: str | None) -> str | None:
        """The learner id for a key (None when any key is accepted); raises the real 401s."""
        if not key:
            raise errors.missing_key()
        if self.mapping is None:
            return None
        if key not in self.mapping:
            raise errors.invalid_key(key)
        return self.mapping[key]


# --- content policy -------------------------------------------------------------------


def load_terms(path: Path | None = None) -> tuple[str, ...]:
    path = path or DATA / "blocked_terms.txt"
    lines = (line.split("#", 1)[0].strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


class ContentPolicy:
    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms = terms
        self._re = (
            re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE) if terms else None
        )

    def blocked(self, prompt: str) -> str | None:
        if self._re is None:
            return None
        m = self._re.search(prompt)
        return m.group(1).lower() if m else None


# --- rate limits ----------------------------------------------------------------------


class RateLimiter:
    """Images per minute, per key, over a sliding minute."""

    def __init__(self, per_minute: int | None, clock=time.time) -> None:
        self.limit = per_minute
        self.clock = clock
        self._seen: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, images: int, org: str) -> dict[str, str]:
        """Count `images` against the key, or raise the real 429. Returns the rate-limit headers."""
        if self.limit is None:
            return {}
        now = self.clock()
        with self._lock:
            window = self._seen.setdefault(key, deque())
            while window and window[0][0] <= now - 60:
                window.popleft()
            used = sum(n for _, n in window)
            reset = (window[0][0] + 60 - now) if window else 0.0
            if used + images > self.limit:
                headers = self._headers(max(0, self.limit - used), reset)
                raise errors.rate_limited(org, self.limit, used + images, headers)
            window.append((now, images))
            return self._headers(self.limit - used - images, reset if used else 60.0)

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-images": str(self.limit),
            "x-ratelimit-remaining-images": str(remaining),
            "x-ratelimit-reset-images": _duration(reset),
        }


class RequestMeter:
    """Requests and tokens per minute, per key, over a sliding minute: the x-ratelimit-*-requests and -tokens
    headers of /v1/responses (`data/rate_limits.json`). It counts and tells; it never refuses."""

    def __init__(self, requests_per_minute: int | None, clock=time.time) -> None:
        table = json.loads((DATA / "rate_limits.json").read_text(encoding="utf-8"))
        self.requests = requests_per_minute or int(table["requests_per_minute"])
        self.tokens = int(table["tokens_per_minute"])
        self.clock = clock
        self._seen: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, tokens: int) -> dict[str, str]:
        """Count one request of `tokens` against the key; returns the headers."""
        now = self.clock()
        with self._lock:
            window = self._seen.setdefault(key, deque())
            while window and window[0][0] <= now - 60:
                window.popleft()
            window.append((now, tokens))
            reset = window[0][0] + 60 - now
            used_requests, used_tokens = len(window), sum(n for _, n in window)
        # The requests window frees one request at a time; the tokens one, the tokens used so far.
        per_request = 60 / self.requests
        return {
            "x-ratelimit-limit-requests": str(self.requests),
            "x-ratelimit-limit-tokens": str(self.tokens),
            "x-ratelimit-remaining-requests": str(max(0, self.requests - used_requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.tokens - used_tokens)),
            "x-ratelimit-reset-requests": _duration(min(reset, per_request * used_requests)),
            "x-ratelimit-reset-tokens": _duration(min(reset, 60 * used_tokens / self.tokens)),
        }


def _duration(seconds: float) -> str:
    """The API's duration style: 1m0s, 12s, 340ms."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Faults:
    """Injected 500s at a chosen rate, reproducible from a seed."""

    def __init__(self, rate: float = 0.0, seed: int = 0) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def strike(self) -> bool:
        if self.rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.rate
