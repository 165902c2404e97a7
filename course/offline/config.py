"""The offline API's settings: one typed object, from arguments, then environment, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import offline_data_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY = 50 * 1024 * 1024
IDLE_TIMEOUT = 2 * 3600  # longer than a URL's hour, so a pasted URL keeps working


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


@dataclass
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=offline_data_dir)
    keys_file: Path | None = None
    blocked_terms_file: Path | None = None
    rate_limit: int | None = None  # images per minute per key; None = off
    fail_rate: float = 0.0
    fail_seed: int = 0
    seed: int = 0
    idle_timeout: float | None = None
    max_body: int = MAX_BODY
    sweep_interval: float = 60.0
    workers: int = 1  # processes sharing the socket; more than one uses more cores
    uds: Path | None = None  # also listen on this Unix socket
    channel_dir: Path | None = None  # where the grader's per-run Unix channels are made (see `channels`)
    render_threads: int = 2  # images drawn at once per worker: more only adds GIL contention

    @classmethod
    def from_env(cls, **overrides: object) -> "ServerConfig":
        """Environment variables `COURSE_OFFLINE_*` fill what the caller left as None."""
        env: dict[str, object] = {}
        if _env("COURSE_OFFLINE_DATA_DIR"):
            env["data_dir"] = Path(os.environ["COURSE_OFFLINE_DATA_DIR"])
        if _env("COURSE_OFFLINE_KEYS"):
            env["keys_file"] = Path(os.environ["COURSE_OFFLINE_KEYS"])
        if _env("COURSE_OFFLINE_BLOCKED_TERMS"):
            env["blocked_terms_file"] = Path(os.environ["COURSE_OFFLINE_BLOCKED_TERMS"])
        if _env("COURSE_OFFLINE_RATE_LIMIT"):
            env["rate_limit"] = int(os.environ["COURSE_OFFLINE_RATE_LIMIT"])
        if _env("COURSE_OFFLINE_SEED"):
            env["seed"] = int(os.environ["COURSE_OFFLINE_SEED"])
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]
