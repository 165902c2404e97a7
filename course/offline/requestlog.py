"""The durable request log: one SQLite row per request, rejected ones included.

The grader treats it as the truth about what a script asked for and got, so a
row is committed before its response is sent. WAL mode lets readers (`course
log`, the grader) read while the server writes.

Each row names the `channel` the request came through (the grader opens one per step it runs, see
`channels`), so a run's requests are its own whatever key they carry, and the fingerprints of the
images it was sent (`images`: the file's sha256 and its pixels' sha256), so a picture a step saves
can be traced to the very image the API returned.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        REAL NOT NULL,
    key         TEXT,
    learner     TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    model       TEXT,
    params      TEXT NOT NULL DEFAULT '{}',
    status      INTEGER NOT NULL,
    error_code  TEXT,
    error_message TEXT,
    request_id  TEXT,
    image_ids   TEXT NOT NULL DEFAULT '[]',
    urls        TEXT NOT NULL DEFAULT '[]',
    duration_ms REAL,
    channel     TEXT,
    images      TEXT NOT NULL DEFAULT '[]',
    stream      TEXT,
    response_id TEXT
);
CREATE INDEX IF NOT EXISTS requests_key ON requests(key);
"""
# Columns added after the first release: a log written by an older server gains them on open.
ADDED_COLUMNS = {"channel": "TEXT", "images": "TEXT NOT NULL DEFAULT '[]'", "stream": "TEXT", "response_id": "TEXT"}
LOG_NAME = "requests.sqlite3"


@dataclass
class Record:
    time: float
    method: str
    route: str
    status: int
    key: str | None = None
    learner: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    image_ids: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    duration_ms: float | None = None
    channel: str | None = None
    images: list[dict[str, str]] = field(default_factory=list)  # {"sha256", "pixels"} per image sent
    # A streamed answer: {"events", "partial_images", "bytes", "completed"}; None when not streamed.
    stream: dict[str, Any] | None = None
    response_id: str | None = None  # the id of the response the Responses API made (resp_...), so a step's
    # printed id and its follow-up's previous_response_id can be traced to this very run
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class RequestLog:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LOG_NAME
        self._db = _connect(self.path)
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
        self._db.execute("CREATE INDEX IF NOT EXISTS requests_channel ON requests(channel)")
        self._lock = threading.Lock()

    def write(self, r: Record) -> int:
        row = (
            r.time, r.key, r.learner, r.method, r.route, r.model, json.dumps(r.params, default=str), r.status,
            r.error_code, r.error_message, r.request_id, json.dumps(r.image_ids), json.dumps(r.urls), r.duration_ms,
            r.channel, json.dumps(r.images), None if r.stream is None else json.dumps(r.stream), r.response_id,
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO requests (time, key, learner, method, route, model, params, status, error_code, "
                "error_message, request_id, image_ids, urls, duration_ms, channel, images, stream, response_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_log(data_dir: Path | str, *, key: str | None = None, channel: str | None = None,
             since_id: int = 0) -> list[Record]:
    """Every logged request (for one key, or one channel, if given), oldest first."""
    return list(iter_log(data_dir, key=key, channel=channel, since_id=since_id))


def iter_log(data_dir: Path | str, *, key: str | None = None, channel: str | None = None,
             since_id: int = 0) -> Iterator[Record]:
    path = Path(data_dir) / LOG_NAME
    if not path.exists():
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        sql = "SELECT * FROM requests WHERE id > ?"
        args: list[Any] = [since_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        if channel is not None:
            sql += " AND channel = ?"
            args.append(channel)
        db.row_factory = sqlite3.Row
        for row in db.execute(sql + " ORDER BY id", args):
            d = dict(row)
            d["params"] = json.loads(d["params"])
            d["image_ids"] = json.loads(d["image_ids"])
            d["urls"] = json.loads(d["urls"])
            d["images"] = json.loads(d.get("images") or "[]")
            d["stream"] = json.loads(d["stream"]) if d.get("stream") else None
            yield Record(**d)
    finally:
        db.close()
