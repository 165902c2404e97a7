"""course: the command line of the Images API course.

  course serve [--host H] [--port P] [--data-dir DIR] ...
      Run the offline Images API in the foreground and print its base URL,
      the value OPENAI_BASE_URL takes.
  course log [--key KEY] [--json]
      Show the offline API's request log: every request, refused ones too.
  course status | course stop
      Show or stop this user's background offline API.
  course demo
      Generate one image through the real openai SDK against the offline API.

Expected failures print one line and a hint; --verbose adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import CourseError


def _serve(args: argparse.Namespace) -> int:
    from .connect import running_server
    from .offline.config import ServerConfig
    from .offline.server import serve
    from .paths import server_dir

    for name in ("keys", "blocked_terms"):
        path = getattr(args, name)
        if path is not None and not Path(path).is_file():
            raise CourseError(f"--{name.replace('_', '-')} {path}: no such file.")
    if not 0.0 <= args.fail_rate <= 1.0:
        raise CourseError(f"--fail-rate must be between 0 and 1, got {args.fail_rate}.")
    config = ServerConfig.from_env(
        host=args.host, port=args.port, data_dir=args.data_dir, keys_file=args.keys,
        blocked_terms_file=args.blocked_terms, rate_limit=args.rate_limit, fail_rate=args.fail_rate,
        fail_seed=args.fail_seed, seed=args.seed, idle_timeout=args.idle_timeout, workers=args.workers,
    )
    if config.workers < 1:
        raise CourseError(f"--workers must be at least 1, got {config.workers}.")
    state_file = args.state_file
    if state_file is None and args.data_dir is None and running_server(timeout=1.0) is None:
        state_file = server_dir() / "state.json"  # scripts started later will use this server
    try:
        from .offline.policy import load_keys

        if config.keys_file:
            load_keys(config.keys_file)
    except ValueError as exc:
        raise CourseError(str(exc)) from None
    announce = print if args.fd is None else (lambda _msg: None)
    try:
        serve(config, fd=args.fd, state_file=state_file, announce=announce)
    except KeyboardInterrupt:
        pass
    return 0


def _log(args: argparse.Namespace) -> int:
    from .offline.requestlog import read_log
    from .paths import offline_data_dir

    data_dir = Path(args.data_dir or os.environ.get("COURSE_OFFLINE_DATA_DIR") or offline_data_dir())
    records = read_log(data_dir, key=args.key)
    if args.limit:
        records = records[-args.limit:]
    if args.json:
        for r in records:
            print(json.dumps(r.to_dict()))
        return 0
    if not records:
        print(f"No requests logged in {data_dir}" + (f" for key {args.key}" if args.key else "") + ".")
        return 0
    import time

    print(f"{'time':19}  {'status':>6}  {'route':28}  {'model':12}  {'key':16}  detail")
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time))
        detail = r.error_message or (f"{len(r.image_ids)} image(s)" if r.image_ids else "")
        route = r.route if len(r.route) <= 28 else r.route[:25] + "..."
        key = (r.key or "-")[:16]
        print(f"{when}  {r.status:>6}  {route:28}  {(r.model or '-'):12}  {key:16}  {detail[:90]}")
    return 0


def _background_server() -> dict | None:
    from .connect import running_server

    state = running_server(timeout=2.0)
    if state is None:
        print("No offline Images API is running in the background for this user.")
    return state


def _status(args: argparse.Namespace) -> int:
    state = _background_server()
    if state is None:
        return 1
    print(f"Offline Images API running: {state['url']} (pid {state['pid']}, data in {state.get('data_dir')})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    import signal

    state = _background_server()
    if state is not None:
        os.kill(int(state["pid"]), signal.SIGTERM)
        print(f"Stopped the offline Images API (pid {state['pid']}).")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("serve", help="run the offline Images API in the foreground")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, default=None, help="request log, images and URL secret")
    p.add_argument("--keys", type=Path, default=None, help="file mapping each accepted key to a learner id")
    p.add_argument("--blocked-terms", type=Path, default=None, help="terms the content policy rejects, one per line")
    p.add_argument("--rate-limit", type=int, default=None, metavar="N", help="images per minute per key (429 above)")
    p.add_argument("--fail-rate", type=float, default=0.0, metavar="R", help="fraction of requests answered 500")
    p.add_argument("--fail-seed", type=int, default=0, help="seed for --fail-rate")
    p.add_argument("--seed", type=int, default=None, help="seed mixed into every image")
    p.add_argument("--idle-timeout", type=float, default=None, help="exit after this many idle seconds")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 1; 2 uses both cores)")
    p.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--state-file", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_serve)

    p = sub.add_parser("log", help="show the offline API's request log")
    p.add_argument("--key", default=None, help="only requests made with this API key")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=None, help="only the last N requests")
    p.set_defaults(func=_log)

    sub.add_parser("status", help="is a background offline API running?").set_defaults(func=_status)
    sub.add_parser("stop", help="stop the background offline API").set_defaults(func=_stop)
    p = sub.add_parser("demo", help="generate an image offline with the real SDK")
    p.add_argument("--out", type=Path, default=Path("images"), help="folder for the image (default ./images)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CourseError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
