"""A request's row in the request log on its way there: filled in while the request is answered,
written once, before the answer goes out.

The request-log middleware (`recording`) makes one for every request and keeps it in the request's
scope; the routes fill in its `record` (key, model, params, images...); whoever sends the answer
writes it: the middleware for an answer sent whole, a stream (`streaming`) before its last event.
Whoever must know what the request came to once it is over (the run's budget, `budgeting`) asks to be
told with `when_finished`.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any, Callable

from .budget import LOG_VALUE_CHARS, bounded
from .requestlog import Record, RequestLog

ROW_KEY = "course.row"  # in the request's scope


class Row:
    def __init__(self, record: Record, log: RequestLog, started: float) -> None:
        self.record, self.log, self.started = record, log, started
        self.size = 0  # the written row's size in bytes, about
        self.streams = False  # the answer is a stream, which writes the row itself
        self._finished: list[Callable[[int], None]] = []

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def write(self) -> int:
        """One row in the request log, its values bounded (a huge prompt is cut, uploads are described);
        returns its size in bytes, about."""
        record = self.record
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
        self.size = 200 + len(json.dumps(record.params, default=str)) + sum(len(u) for u in record.urls) + \
            len(record.error_message or "") + 200 * len(record.images)
        return self.size

    def when_finished(self, tell: Callable[[int], None]) -> None:
        """Call `tell(log bytes charged)` once the request is over, its answer sent or its client gone."""
        self._finished.append(tell)

    def finish(self, charged: int) -> None:
        tells, self._finished = self._finished, []
        for tell in tells:
            tell(charged)


def row_of(scope: dict[str, Any]) -> Row:
    row: Row = scope[ROW_KEY]
    return row
