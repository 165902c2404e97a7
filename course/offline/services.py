"""What every route of the offline API shares: the request log, the stores, the policy, the budgets,
the producer of pictures, the render threads and the clock, made once per server (`create_services`),
and the few checks the image routes make alike (who asks, whether to admit a valid request)."""

from __future__ import annotations

import functools
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from starlette.requests import Request

from . import conversations, errors, files, params, uploads
from .budget import BODIES_AT_ONCE, BodyRoom, Budgets
from .channels import Channels, prefix_of
from .config import ServerConfig
from .errors import Dalle, Gpt
from .policy import (ContentPolicy, Faults, Keys, RateLimiter, RequestMeter, ident, key_from_headers, load_keys,
                     load_terms, organization)
from .produce import Issuer, Producer
from .renderers import RenderThreads
from .requestlog import Record, RequestLog
from .storage import ImageStore


@dataclass
class Services:
    config: ServerConfig
    clock: Callable[[], float]  # replaceable, so that tests can move time
    log: RequestLog
    store: ImageStore  # pictures served by URL
    files: files.FileStore  # the Files API's uploads
    responses: conversations.ResponseStore  # past Responses, for previous_response_id
    secret: bytes  # signs image URLs
    keys: Keys
    policy: ContentPolicy
    limiter: RateLimiter
    meter: RequestMeter  # /v1/responses' requests and tokens, for its headers
    faults: Faults
    producer: Producer
    budgets: Budgets  # each grading run's
    bodies: BodyRoom  # large request bodies in memory at once, across all runs
    renderers: RenderThreads
    channels: Channels  # a listener per grading run (see `channels`)
    server_pid: int
    activity: Any  # .value: when the last request came (time.monotonic), shared by all workers

    def sweep(self) -> int:
        """Forget pictures and past responses whose time is up; returns how many."""
        now = self.clock()
        return self.store.sweep(now) + self.responses.sweep(now)

    def identify(self, request: Request, record: Record) -> None:
        """Who asks: the request's key, and its learner when the server knows keys (the real 401s)."""
        record.key = key_from_headers(request.headers.get("authorization"))
        record.learner = self.keys.check(record.key)

    def strike(self) -> None:
        """A fault injected on purpose (`--fail-rate`), as the real API's 500."""
        if self.faults.strike():
            raise errors.server_error()

    def admit(self, p: params.Params, record: Record) -> dict[str, str]:
        """Content policy, then the run's budget and the rate limit: checks on a request that is otherwise
        valid. Returns the rate-limit headers."""
        if p.prompt and self.policy.blocked(p.prompt):
            if p.model.is_gpt:
                raise Gpt.content_policy(record.request_id or "")
            raise Dalle.content_policy(p.model.family)
        if record.channel is not None:  # a grading run: within its images and pixels
            self.budgets.draw(record.channel, p.n, p.width * p.height)
        return self.limiter.take(record.key or "", p.n, organization(record.learner, record.key))

    def issuer(self, request: Request, record: Record) -> Issuer:
        """Image URLs point back at this server, through the channel's prefix when it has one, so that
        downloading a picture goes through the run's own channel."""
        who = record.learner or record.key or "anonymous"
        return Issuer(base_url=f"{request.url.scheme}://{request.url.netloc}{prefix_of(request.scope)}",
                      org=organization(record.learner, record.key), user=ident("user", "user", who))

    async def read_inputs(self, p: params.Params, pictures: dict[str, list[uploads.Upload]], request: Request,
                          record: Record) -> uploads.Inputs:
        """A request's pictures, decoded on a render thread (so at most `render_threads` requests decode
        at once), charged to the run's budget before any pixel is decoded, and stopped between two
        pictures when the client goes (ClientGone)."""
        charge = functools.partial(self.budgets.decode, record.channel) if record.channel is not None else None
        return await self.renderers.run_for(request, uploads.read_inputs, p, pictures, charge)


def create_services(config: ServerConfig, *, clock: Callable[[], float] = time.time, server_pid: int | None = None,
                    activity: Any = None) -> Services:
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    store, secret = ImageStore(data_dir), load_secret(data_dir)
    return Services(
        config=config, clock=clock, log=RequestLog(data_dir), store=store, files=files.FileStore(data_dir, clock),
        responses=conversations.ResponseStore(data_dir, clock), secret=secret,
        keys=Keys(load_keys(config.keys_file) if config.keys_file else None),
        policy=ContentPolicy(load_terms(config.blocked_terms_file)),
        limiter=RateLimiter(config.rate_limit, clock=clock), meter=RequestMeter(config.rate_limit, clock=clock),
        faults=Faults(config.fail_rate, config.fail_seed),
        producer=Producer(store, secret, config.seed, clock), budgets=Budgets(), bodies=BodyRoom(BODIES_AT_ONCE),
        renderers=RenderThreads(config.render_threads), channels=Channels(config.channel_dir),
        server_pid=server_pid or os.getpid(),
        # Shared memory (a RawValue) when several workers serve together, so the parent sees activity.
        activity=activity if activity is not None else Cell(time.monotonic()),
    )


def load_secret(data_dir: Path) -> bytes:
    path = data_dir / "url-secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
        return secret


class Cell:
    """A plain stand-in for a shared RawValue when there is one process."""

    def __init__(self, value: float) -> None:
        self.value = value
