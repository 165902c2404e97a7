"""The ASGI application: routing, headers, the error envelope and the request log.

Every request, answered or refused, passes through `OfflineAPI.__call__`, which
times it, gives it a `req_…` id, turns any `APIError` into the real envelope,
and writes one row to the request log before the response goes out.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from . import conversations, errors, files, memory, params, streaming, uploads, urls
from .budget import BODIES_AT_ONCE, LOG_VALUE_CHARS, BodyRoom, Budgets, bounded, shortened
from .channels import CONTROL_KEY, PREFIX_KEY, STATE_KEY, ChannelError, Channels
from .config import ServerConfig
from .errors import APIError, Dalle, Gpt
from .models import all_models
from .policy import ContentPolicy, Faults, Keys, RateLimiter, ident, key_from_headers, load_keys, load_terms
from .produce import NO_INPUTS, Issuer, Producer
from .requestlog import Record, RequestLog
from .storage import ImageStore
from .streaming import Streamed

OPENAI_VERSION = "2020-10-01"
IMAGE_ROUTES = {"/v1/images/generations": "generations", "/v1/images/edits": "edits", "/v1/images/variations": "variations"}


class BodyTooLarge(Exception):
    pass


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
    

class OfflineAPI:
    """The offline Images API as an ASGI app. `clock` is replaceable so tests can move time."""

    def __init__(self, config: ServerConfig | None = None, *, clock: Callable[[], float] = time.time,
                 server_pid: int | None = None, activity: Any = None) -> None:
        self.config = config or ServerConfig()
        self.clock = clock
        data_dir = self.config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = RequestLog(data_dir)
        self.store = ImageStore(data_dir)
        self.files = files.FileStore(data_dir, lambda: self.clock())
        self.responses = conversations.ResponseStore(data_dir, lambda: self.clock())  # for previous_response_id
        self.secret = load_secret(data_dir)
        self.keys = Keys(load_keys(self.config.keys_file) if self.config.keys_file else None)
        self.policy = ContentPolicy(load_terms(self.config.blocked_terms_file))
        self.limiter = RateLimiter(self.config.rate_limit, clock=lambda: self.clock())
        self.faults = Faults(self.config.fail_rate, self.config.fail_seed)
        self.producer = Producer(self.store, self.secret, self.config.seed, lambda: self.clock())
        self.server_pid = server_pid or os.getpid()
        # Shared memory (a RawValue) when several workers serve together, so the parent sees activity.
        self.activity = activity if activity is not None else _Cell(time.monotonic())
        self.on_idle: Callable[[], None] | None = None
        self._render_limiter: anyio.CapacityLimiter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Per-run listeners for the grader (see `channels`); the control socket, when given, opens them.
        self.channels = Channels(self.config.channel_dir)
        self.budgets = Budgets()
        self.bodies = BodyRoom(BODIES_AT_ONCE)  # large request bodies in memory at once, across all runs
        self.control_socket: Any = None
        self._control: Any = None

    # --- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.activity.value = time.monotonic()
        state = scope.get("state") or {}
        if state.get(CONTROL_KEY):
            await self._control_request(scope, receive, send)
            return
        prefix = state.get(PREFIX_KEY)
        if prefix:  # a TCP channel: only a request that knows its secret prefix is the run's
            inside = _without_prefix(scope, prefix)
            if inside is None:
                await _outside_channel(scope, receive, send)
                return
            scope = inside
        if scope["path"] == "/__course__/health":
            await JSONResponse({"ok": True, "pid": self.server_pid})(scope, receive, send)
            return
        if self.control_socket is not None and state.get(STATE_KEY) is None:
            # The grader's server serves runs through their channels only: a request on its own port, which
            # any process can find, would be answered outside every run's budget.
            await _outside_channel(scope, receive, send)
            return
        started = time.perf_counter()
        channel = state.get(STATE_KEY)
        declared = _declared_length(scope)
        body = _Body(receive, self.config.max_body, self.budgets if channel is not None else None, channel, declared)
        request = Request(scope, body.receive)
        record = Record(time=self.clock(), method=scope["method"], route=scope["path"], status=0,
                        request_id="req_" + uuid.uuid4().hex, channel=channel)
        counted = False
        try:
            if channel is not None:  # a grading run's request: within its budget, or a 429 before any work
                self.budgets.start(channel, declared)
                counted = True
            async with self.bodies.room(body.size(scope)):
                response = await self._dispatch(request, record)
        except APIError as exc:
            response = self._error(exc, record)
        except BodyTooLarge:
            response = self._error(errors.body_too_large(self.config.max_body), record)
        except (ClientGone, ClientDisconnect) as gone:
            record.status, record.error_code = 499, "client_gone"  # nobody to answer: the row says why
            record.error_message = str(gone) or "The client went away before its request had arrived."
            self._write_row(record)
            if counted:
                self.budgets.done(channel, 0)
            return
        except MemoryError:  # the server's memory limit: this request fails, the server and the others go on
            response = self._error(errors.out_of_memory(), record)
        except Exception:  # never let a bug become a dropped connection: answer as the real API would
            traceback.print_exc(file=sys.stderr)
            response = self._error(errors.server_error(), record)
        if body.unread(scope) and not isinstance(response, Streamed):
            # Refused before its body was read (too large, past the run's uploads): stop reading it.
            response.headers["connection"] = "close"
        if isinstance(response, Streamed):
            logged = await self._stream(scope, send, request, response, record, started)
        else:
            logged = await self._finish(scope, receive, send, response, record, started)
        if counted:
            self.budgets.done(channel, logged)
        if body.size(scope) >= BodyRoom.SMALL_BODY:  # a large body, read and parsed: its memory goes back too
            memory.give_back_soon()

    async def _stream(self, scope: dict[str, Any], send: Callable[..., Awaitable[Any]], request: Request,
                      streamed: Streamed, record: Record, started: float) -> int:
        """Send a stream of server-sent events, drawn one at a time on a render thread. The row is
        written before the last event goes out (or when the client leaves, as a 499 with what was sent)."""
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                   (b"openai-version", OPENAI_VERSION.encode()), (b"x-request-id", (record.request_id or "").encode()),
                   (b"openai-processing-ms", str(int((time.perf_counter() - started) * 1000)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in streamed.headers.items()]
        cancel = threading.Event()
        events = streamed.events(cancel)
        stats = streaming.StreamStats()
        errored = False  # an error event went out (a refused picture inside a completed stream is no such error)
        partial = int(record.params.get("partial_images") or 0) if isinstance(record.params, dict) else 0
        gone = asyncio.ensure_future(_disconnect(request))

        def run(fn: Callable[..., Any], *args: Any) -> Any:
            return self._render_sync(fn, *args)

        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            pending = await streaming.next_event(events, run, gone)
            while pending is not None:
                try:
                    following = await streaming.next_event(events, run, gone)
                except APIError as exc:  # a refusal found mid-stream goes out as the stream's error event
                    following, errored = None, True
                    pending = ("error", {"type": "error", **exc.body()["error"]})
                    record.error_code, record.error_message = exc.code or exc.type, exc.message
                chunk = streaming.encode_event(*pending)
                stats.events += 1
                stats.bytes += len(chunk)
                if following is None:  # the last event: the row first, so the log never lags the answer
                    stats.completed = not errored
                    record.status = 200
                    record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
                    record.stream = stats.as_dict(partial)
                    size = self._write_row(record)
                    await send({"type": "http.response.body", "body": chunk, "more_body": False})
                    return size
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if gone.done():
                    raise streaming.Gone()
                pending = following
            record.status = 200
            record.stream = stats.as_dict(partial)
            size = self._write_row(record)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return size
        except (streaming.Gone, OSError):
            cancel.set()
            record.status, record.error_code = 499, "client_gone"
            record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            record.stream = stats.as_dict(partial)
            return self._write_row(record)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            record.status, record.error_code = 500, "server_error"
            record.stream = stats.as_dict(partial)
            size = self._write_row(record)
            error = {"type": "error", **errors.server_error().body()["error"]}
            try:
                await send({"type": "http.response.body", "body": streaming.encode_event("error", error),
                            "more_body": False})
            except Exception:
                pass
            return size
        finally:
            gone.cancel()
            await anyio.to_thread.run_sync(events.close)

    async def _finish(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                      send: Callable[..., Awaitable[Any]], response: Response, record: Record, started: float) -> int:
        """Log the request's row, then send the response; returns the row's size in bytes (about)."""
        elapsed = (time.perf_counter() - started) * 1000
        if not scope["path"].startswith("/private/"):
            response.headers["openai-version"] = OPENAI_VERSION
            response.headers["openai-processing-ms"] = str(int(elapsed))
            response.headers["x-request-id"] = record.request_id or ""
        record.status = response.status_code
        record.duration_ms = round(elapsed, 3)
        size = self._write_row(record)
        await response(scope, receive, send)
        return size

    def _write_row(self, record: Record) -> int:
        """One row in the request log, its values bounded (a huge prompt is cut, uploads are described);
        returns its size in bytes, about."""
        record.params = bounded(record.params)  # type: ignore[assignment]
        if record.error_message and len(record.error_message) > LOG_VALUE_CHARS:
            record.error_message = record.error_message[:LOG_VALUE_CHARS] + "…"
        try:
            self.log.write(record)
        except Exception:  # a row that cannot be stored must not cost the learner the answer
            traceback.print_exc(file=sys.stderr)
            self.log.write(Record(time=record.time, method=record.method, route=record.route, status=record.status,
                                  error_code=record.error_code, request_id=record.request_id, channel=record.channel,
                                  params={"_unloggable": repr(record.params)[:2000]}))
        return 200 + len(json.dumps(record.params, default=str)) + sum(len(u) for u in record.urls) + \
            len(record.error_message or "") + 200 * len(record.images)

    async def _lifespan(self, receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.sweep()
                self._tasks.append(asyncio.create_task(self._housekeeping()))
                if self.control_socket is not None:
                    self.control_socket.setblocking(False)
                    self._control = await asyncio.get_running_loop().create_server(
                        self.channels.factory({CONTROL_KEY: True}), sock=self.control_socket)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                if self._control is not None:
                    self._control.close()
                self.channels.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _housekeeping(self) -> None:
        idle = self.config.idle_timeout
        interval = self.config.sweep_interval if idle is None else min(self.config.sweep_interval, max(0.05, idle / 4))
        while True:
            await asyncio.sleep(interval)
            await run_in_threadpool(self.sweep)
            if idle is not None and time.monotonic() - self.activity.value > idle and self.on_idle:
                self.on_idle()

    def sweep(self) -> int:
        now = self.clock()
        return self.store.sweep(now) + self.responses.sweep(now)

    async def _control_request(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                               send: Callable[..., Awaitable[Any]]) -> None:
        """The grader's requests on the control socket: open and close channels (see `channels`)."""
        request = Request(scope, receive)
        path, method = scope["path"], scope["method"]
        try:
            if path == "/__course__/channels" and method == "POST":
                try:
                    body = json.loads(await request.body())
                except ValueError:
                    raise ChannelError("the body is not JSON") from None
                if not isinstance(body, dict):
                    raise ChannelError("the body is not a JSON object")
                response = JSONResponse(await self.channels.open(body.get("name"), body.get("kind", "unix")))
            elif path.startswith("/__course__/channels/") and method == "DELETE":
                name = path.rsplit("/", 1)[-1]
                closed = self.channels.close(name)
                await run_in_threadpool(self.files.delete_channel, name)  # a run's files end with it
                await run_in_threadpool(memory.give_back)  # and what its requests used is not kept for the next
                response = JSONResponse({"closed": closed})
            elif path == "/__course__/health":
                response = JSONResponse({"ok": True, "pid": self.server_pid, "channels": len(self.channels)})
            else:
                response = JSONResponse({"error": f"no control route {method} {path}"}, status_code=404)
        except ChannelError as exc:
            response = JSONResponse({"error": str(exc)}, status_code=400)
        except OSError as exc:
            response = JSONResponse({"error": f"cannot open the channel: {exc}"}, status_code=500)
        await response(scope, receive, send)

    # --- routing -----------------------------------------------------------------------

    async def _dispatch(self, request: Request, record: Record) -> Response | Streamed:
        method, path = request.method, request.url.path
        if path.startswith("/private/") and method in ("GET", "HEAD"):
            return self._serve_image(request, record)
        route = IMAGE_ROUTES.get(path)
        is_models = path == "/v1/models" or (path.startswith("/v1/models/") and path.count("/") == 3)
        is_files = path == "/v1/files" or path.startswith("/v1/files/")
        is_responses = path == "/v1/responses"
        if not ((route and method == "POST") or (is_models and method == "GET") or is_files
                or (is_responses and method == "POST")):
            raise errors.invalid_url(method, path)
        key = key_from_headers(request.headers.get("authorization"))
        record.key = key
        record.learner = self.keys.check(key)
        if is_models:
            return self._models(path)
        if is_files:
            return await self._files(request, record)
        if self.faults.strike():
            raise errors.server_error()
        if is_responses:
            from . import responses  # the Responses image tool: loaded when first asked for

            return await responses.create_response(self, request, record)
        assert route is not None
        if route == "generations":
            return await self._generations(request, record)
        return await self._with_uploads(route, request, record)

    async def _render(self, fn: Callable[..., Any], *args: Any, watch: Request | None = None) -> Any:
        """Pillow work, off the event loop but on a few threads only: more would just queue on the GIL.
        With `watch` (a request whose body has been read), a client that goes away stops the work
        between two pictures (`fn` takes a `cancel` event) and ClientGone is raised."""
        if watch is None:
            return (await anyio.to_thread.run_sync(_returning, fn, *args, limiter=self._renderers())).take()
        cancel = threading.Event()
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(_returning, fn, *args, cancel=cancel),
                                                              limiter=self._renderers()))
        gone = asyncio.ensure_future(_disconnect(watch))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            left = not work.done()
            if left:
                cancel.set()
            gone.cancel()
        outcome = await work  # soon, when it was left: the work stops at its next look at `cancel`
        if left:
            stopped = outcome.take_error()
            raise ClientGone(str(stopped) if isinstance(stopped, uploads.Stopped) else "")
        return outcome.take()

    async def _render_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return (await anyio.to_thread.run_sync(_returning, fn, *args, limiter=self._renderers())).take()

    def _renderers(self) -> anyio.CapacityLimiter:
        if self._render_limiter is None:
            self._render_limiter = anyio.CapacityLimiter(max(1, self.config.render_threads))
        return self._render_limiter

    def _error(self, exc: APIError, record: Record) -> Response:
        record.error_code = exc.code or exc.type
        record.error_message = exc.message
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    def _issuer(self, request: Request, key: str | None, learner: str | None) -> Issuer:
        """Image URLs point back at this server, through the channel's prefix when it has one, so that
        downloading a picture goes through the run's own channel."""
        who = learner or key or "anonymous"
        return Issuer(base_url=f"{request.url.scheme}://{request.url.netloc}{_prefix_of(request)}",
                      org=ident("org", "org", who), user=ident("user", "user", who))

    # --- images --------------------------------------------------------------------------

    async def _generations(self, request: Request, record: Record) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise errors.wrong_content_type(content_type, "application/json")
        if int(request.headers.get("content-length") or 0) > self.config.max_body:
            raise BodyTooLarge()
        raw = await request.body()
        try:
            fields = json.loads(raw)
            # Escapes of lone surrogates ("\ud800") parse but can never be echoed, stored or drawn.
            json.dumps(fields, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            record.params = {"_raw": raw[:2000].decode("utf-8", "replace")}
            raise errors.invalid_json() from None
        record.params = fields if isinstance(fields, dict) else {"_body": fields}
        if not isinstance(fields, dict):
            raise Dalle.not_type(fields, "object", None)
        record.model = fields.get("model") if isinstance(fields.get("model"), str) else "dall-e-2"
        p = params.parse("generations", fields)
        record.model = p.model.id
        limits = self._admit(p, record)
        issuer = self._issuer(request, record.key, record.learner)
        if p.stream:
            return self._streamed(p, NO_INPUTS, record, limits)
        body = await self._render(self.producer.respond, p, issuer, NO_INPUTS, record.image_ids, record.urls,
                                  record.images, watch=request)
        return JSONResponse(body, headers=limits)

    def _streamed(self, p: params.Params, inputs: uploads.Inputs, record: Record, limits: dict[str, str]) -> Streamed:
        def events(cancel: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
            yield from self.producer.events(p, inputs, record.images)

        return Streamed(events, headers=limits)

    async def _with_uploads(self, route: str, request: Request, record: Record) -> Response | Streamed:
        content_type = request.headers.get("content-type", "")
        if route == "edits" and content_type.split(";")[0].strip().lower() == "application/json":
            return await self._json_edit(request, record)
        if content_type.split(";")[0].strip().lower() != "multipart/form-data":
            raise errors.wrong_content_type(content_type, "multipart/form-data")
        if "boundary=" not in content_type:
            raise errors.no_boundary()
        if int(request.headers.get("content-length") or 0) > self.config.max_body:
            raise BodyTooLarge()
        try:
            form = await request.form(max_files=32, max_fields=64, max_part_size=1024 * 1024)
        except MultiPartException as exc:
            raise errors.bad_multipart(str(exc)) from None
        fields: dict[str, Any] = {}
        files: dict[str, list[uploads.Upload]] = {}
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    upload = uploads.Upload(name, value.filename or "", value.content_type or "", data)
                    files.setdefault(name, []).append(upload)
                    fields[name] = upload.describe() if name not in fields else [*_as_list(fields[name]), upload.describe()]
                else:
                    fields[name] = value
        finally:
            await form.close()
        record.params = fields
        record.model = fields["model"] if isinstance(fields.get("model"), str) else "dall-e-2"
        p = params.parse(route, fields, form=True)
        record.model = p.model.id
        return await self._edit_with(p, files, request, record)

    async def _edit_with(self, p: params.Params, files: dict[str, list[uploads.Upload]], request: Request,
                         record: Record) -> Response | Streamed:
        inputs = await self._read_inputs(p, files, request, record)
        limits = self._admit(p, record)
        if p.stream:
            return self._streamed(p, inputs, record, limits)
        issuer = self._issuer(request, record.key, record.learner)
        body = await self._render(self.producer.respond, p, issuer, inputs, record.image_ids, record.urls,
                                  record.images, watch=request)
        return JSONResponse(body, headers=limits)

    async def _json_edit(self, request: Request, record: Record) -> Response | Streamed:
        """An edit sent as JSON: `images` (and `mask`) name pictures by a data URL or an uploaded file's id."""
        fields = await self._json_body(request, record)
        model = fields.get("model")
        record.model = model if isinstance(model, str) else "dall-e-2"
        resolved = params.resolve_model("edits", model)
        if not resolved.is_gpt:
            raise Gpt.json_edit_needs_gpt(resolved.id)
        refs = fields.get("images")
        if refs is None:
            raise Gpt.missing("images")
        if not isinstance(refs, list):
            raise Gpt.invalid_type("images", "array", refs)
        if not refs:
            raise Gpt.missing("images")
        if len(refs) > 16:
            raise Gpt.too_many_images(len(refs))
        files = {"image[]": [self.files.reference(ref, f"images[{i}]", record.channel) for i, ref in enumerate(refs)]}
        if fields.get("mask") is not None:
            files["mask"] = [self.files.reference(fields["mask"], "mask", record.channel)]
        rest = {k: v for k, v in fields.items() if k not in ("images", "mask")}
        p = params.parse("edits", {**rest, "image": "(by reference)"})
        record.model = p.model.id
        return await self._edit_with(p, files, request, record)

    async def _json_body(self, request: Request, record: Record) -> dict[str, Any]:
        if int(request.headers.get("content-length") or 0) > self.config.max_body:
            raise BodyTooLarge()
        raw = await request.body()
        try:
            fields = json.loads(raw)
            json.dumps(fields, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            record.params = {"_raw": raw[:2000].decode("utf-8", "replace")}
            raise errors.invalid_json() from None
        # Shortened now: a data URL of 40 MB is read from `fields`, never kept in the row until it is written.
        record.params = shortened(fields) if isinstance(fields, dict) else {"_body": shortened(fields)}
        if not isinstance(fields, dict):
            raise Gpt.invalid_type("body", "object", fields)
        return fields

    async def _read_inputs(self, p: params.Params, files: dict[str, list[uploads.Upload]], request: Request,
                           record: Record) -> uploads.Inputs:
        """A request's pictures, decoded on a render thread (so at most `render_threads` requests decode
        at once), charged to the run's budget before any pixel is decoded, and stopped between two
        pictures when the client goes (ClientGone)."""
        charge = functools.partial(self.budgets.decode, record.channel) if record.channel is not None else None
        return await self._render(uploads.read_inputs, p, files, charge, watch=request)

    def _admit(self, p: params.Params, record: Record) -> dict[str, str]:
        """Content policy, then the rate limit: checks on a request that is otherwise valid. Returns rate headers."""
        if p.prompt and self.policy.blocked(p.prompt):
            if p.model.is_gpt:
                raise Gpt.content_policy(record.request_id or "")
            raise Dalle.content_policy(p.model.family)
        if record.channel is not None:  # a grading run: within its images and pixels
            self.budgets.draw(record.channel, p.n, p.width * p.height)
        who = record.learner or record.key or "anonymous"
        return self.limiter.take(record.key or "", p.n, ident("org", "org", who))

    def _serve_image(self, request: Request, record: Record) -> Response:
        now = self.clock()
        path = request.url.path
        record.urls = [_as_requested(request)]
        headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": urls.SV}
        verdict = urls.verify(self.secret, path, request.url.query, now)
        name = path.rsplit("/", 1)[-1]
        image_id, _, ext = name.partition(".")
        record.image_ids = [image_id]
        if not verdict.ok:
            record.error_code = verdict.reason
            record.error_message = verdict.detail
            return Response(urls.forbidden_xml(verdict, headers["x-ms-request-id"], now), 403,
                            headers=headers, media_type="application/xml")
        data = self.store.load(image_id, ext, verdict.expires)
        if data is None:
            record.error_code = "BlobNotFound"
            return Response(urls.not_found_xml(headers["x-ms-request-id"], now), 404, headers=headers,
                            media_type="application/xml")
        headers["content-disposition"] = "inline"
        return Response(data, 200, headers=headers, media_type=urls.CONTENT_TYPES.get(ext, "application/octet-stream"))

    async def _files(self, request: Request, record: Record) -> Response:
        """The Files API, as far as pictures for edits need it: create, list, retrieve, content, delete."""
        method, parts = request.method, request.url.path.strip("/").split("/")[2:]
        channel = record.channel  # a run sees only the files it uploaded, as an organisation sees its own
        if not parts and method == "POST":
            return await self._file_upload(request, record)
        if not parts and method == "GET":
            cards = self.files.cards(channel)
            purpose = request.query_params.get("purpose")
            if purpose:
                cards = [c for c in cards if c["purpose"] == purpose]
            return JSONResponse({"object": "list", "data": cards, "has_more": False,
                                 "first_id": cards[0]["id"] if cards else None,
                                 "last_id": cards[-1]["id"] if cards else None})
        if len(parts) == 1 and method in ("GET", "DELETE"):
            card = self.files.card(parts[0], channel)
            if card is None:
                raise errors.no_such_file_object(parts[0])
            if method == "DELETE":
                self.files.delete(parts[0], channel)
                return JSONResponse({"id": parts[0], "object": "file", "deleted": True})
            return JSONResponse(card)
        if len(parts) == 2 and parts[1] == "content" and method == "GET":
            data = self.files.content(parts[0], channel)
            if data is None:
                raise errors.no_such_file_object(parts[0])
            return Response(data, 200, media_type="application/octet-stream")
        raise errors.invalid_url(method, request.url.path)

    async def _file_upload(self, request: Request, record: Record) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "multipart/form-data":
            raise errors.wrong_content_type(content_type, "multipart/form-data")
        if int(request.headers.get("content-length") or 0) > self.config.max_body:
            raise BodyTooLarge()
        try:
            form = await request.form(max_files=1, max_fields=8)
        except MultiPartException as exc:
            raise errors.bad_multipart(str(exc)) from None
        try:
            upload, purpose = form.get("file"), form.get("purpose")
            data = await upload.read() if isinstance(upload, UploadFile) else None
            filename = upload.filename or "upload" if isinstance(upload, UploadFile) else ""
        finally:
            await form.close()
        record.params = {"purpose": purpose, "file": {"filename": filename, "bytes": len(data or b"")}}
        if data is None:
            raise Gpt.missing("file")
        if purpose is None:
            raise Gpt.missing("purpose")
        if purpose not in files.PURPOSES:
            raise files.invalid_purpose(purpose)
        card = await run_in_threadpool(self.files.create, filename, str(purpose), data, record.channel)
        return JSONResponse(card)

    def _models(self, path: str) -> Response:
        def card(m: Any) -> dict[str, Any]:
            return {"id": m.id, "object": "model", "created": m.created, "owned_by": "system",
                    "shutdown_date": m.retired}

        if path == "/v1/models":
            return JSONResponse({"object": "list", "data": [card(m) for m in all_models().values()]})
        model_id = path.rsplit("/", 1)[-1]
        model = all_models().get(model_id)
        if model is None:
            raise errors.model_not_found(model_id)
        return JSONResponse(card(model))


class _Outcome:
    """What a call on a worker thread came to, its result or its error, taken out once. An error raised on
    the thread would be kept by the thread pool's own frame, in a cycle that holds the request's uploads
    and pictures until the garbage collector happens to run; carried out in this box and raised again on
    the event loop, it goes with the request."""

    __slots__ = ("result", "error")

    def __init__(self, result: Any, error: Exception | None) -> None:
        self.result, self.error = result, error

    def take_error(self) -> Exception | None:
        error, self.result, self.error = self.error, None, None
        return error

    def take(self) -> Any:
        result, error = self.result, self.take_error()
        if error is None:
            return result
        try:
            raise error
        finally:
            error = None  # the raised error refers to this frame: the frame must not refer to the error


def _returning(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Outcome:
    try:
        return _Outcome(fn(*args, **kwargs), None)
    except Exception as exc:  # noqa: BLE001 - raised again on the event loop by _Outcome.take
        return _Outcome(None, exc)


class ClientGone(Exception):
    """The client went away before its images were drawn: the drawing stopped."""


class _Body:
    """A request's body as it arrives: past `max_body` a 413 (BodyTooLarge); on a channel, bytes beyond those
    declared (a chunked body declares none) count against the run's uploads as they arrive, so reading
    stops with a 429 as soon as the run's budget is spent, not after the whole body."""

    def __init__(self, receive: Callable[..., Awaitable[Any]], max_body: int, budgets: Budgets | None,
                 channel: str | None, declared: int) -> None:
        self._receive, self._max_body, self._budgets, self._channel = receive, max_body, budgets, channel
        self._declared, self._seen, self._complete = declared, 0, False

    async def receive(self) -> Any:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = len(message.get("body", b""))
            self._seen += chunk
            self._complete = not message.get("more_body", False)
            if self._seen > self._max_body:
                raise BodyTooLarge()
            beyond = min(chunk, self._seen - self._declared)
            if self._budgets is not None and beyond > 0:
                self._budgets.upload(self._channel, beyond)  # type: ignore[arg-type]
        return message

    def size(self, scope: dict[str, Any]) -> int:
        """The most this body may hold: its declared length, or (chunked, none declared) the largest body."""
        headers = dict(scope.get("headers", []))
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        return self._max_body if chunked else self._declared

    def unread(self, scope: dict[str, Any]) -> bool:
        """Whether the request has a body that was not read to its end."""
        return not self._complete and self.size(scope) > 0


def _without_prefix(scope: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The request as if its channel's prefix were not there; None when its path does not start with it."""
    raw = scope.get("raw_path") or scope["path"].encode("latin-1", "replace")
    mark = prefix.encode("ascii")
    if not (raw == mark or raw.startswith(mark + b"/")):
        return None
    path = scope["path"][len(prefix):] or "/"
    return {**scope, "path": path, "raw_path": raw[len(mark):] or b"/"}


async def _outside_channel(scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                           send: Callable[..., Awaitable[Any]]) -> None:
    """A request on a TCP channel without the channel's prefix, or on a grading server's own port: whoever
    sent it found a port, not a run's channel. The real API's 404, nothing counted or logged, and the
    connection closed."""
    error = errors.invalid_url(scope["method"], scope["path"])
    await JSONResponse(error.body(), status_code=error.status,
                       headers={"openai-version": OPENAI_VERSION, "x-request-id": "req_" + uuid.uuid4().hex,
                                "connection": "close"})(scope, receive, send)


def _prefix_of(request: Request) -> str:
    return (request.scope.get("state") or {}).get(PREFIX_KEY) or ""


def _as_requested(request: Request) -> str:
    """The URL the client asked for, the channel's prefix included."""
    url = request.url
    return str(url.replace(path=_prefix_of(request) + url.path))


def _declared_length(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0


async def _disconnect(request: Request) -> None:
    """Returns once the client has gone (its body already read, the next message can only say so)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


class _Cell:
    """A plain stand-in for a shared RawValue when there is one process."""

    def __init__(self, value: float) -> None:
        self.value = value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
