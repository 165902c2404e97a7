"""The partial points endpoint of a run outside the grader (`course quiz`, the notebook's Check): a small HTTP
server on this machine's loopback, started for one run of a code test and stopped after it, that records what the
test sends to Codio's URLs (see `points`). It answers only requests that carry the run's secret token.

    with PointsEndpoint() as endpoint:
        env = endpoint.environment()          # CODIO_PARTIAL_POINTS_URL and CODIO_PARTIAL_POINTS_V2_URL
        ...run the test with env...
        sent = endpoint.sent()                # what it sent, in order
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import replace
from typing import Any

from .points import MAX_BODY, Sent, environment, new_token, read_sent

KEPT = 16  # the most sends kept for one run (the last one counts)


class PointsEndpoint:
    def __init__(self) -> None:
        self.token = new_token()
        self._sent: list[Sent] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> PointsEndpoint:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None, "the endpoint is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environment(self) -> dict[str, str]:
        """Codio's two variables for this run, and loopback kept off any proxy the shell names."""
        loopback = "127.0.0.1,localhost"
        return {**environment(self.base, self.token), "NO_PROXY": loopback, "no_proxy": loopback}

    def record(self, sent: Sent) -> Sent:
        """Keep `sent` when it is this run's (refusing another token's); what was kept, or why it was refused."""
        if sent.token and sent.token != self.token:
            return replace(sent, error="the URL's token is not this run's")
        with self._lock:
            self._sent = [*self._sent[-(KEPT - 1):], sent]
        return sent

    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)


def _handler(endpoint: PointsEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test's output is the learner's
            pass

        def do_GET(self) -> None:
            self._take(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": "the request is larger than Codio's 1 MB limit on feedback"})
                return
            self._take(self.rfile.read(length) if length > 0 else b"")

        def _take(self, body: bytes) -> None:
            url = urllib.parse.urlsplit(self.path)
            kept = endpoint.record(read_sent(url.path, url.query, body, self.headers.get("Content-Type") or ""))
            self._answer(400 if kept.error else 200, {"error": kept.error} if kept.error else {"ok": True})

        def _answer(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
