"""The SQLite gradebook: every run, every learner's result in it, committed as soon as it is known.

- A learner's result is committed the moment it is graded, so a run killed halfway loses nothing.
- Running `grader grade` again on the same class and output folder resumes the unfinished run:
  learners it already graded are not graded again, and (run, learner) is the primary key, so no row
  is ever duplicated.
- A learner whose submission (content hash) and grading materials (grader hash) are unchanged since
  a finished run is not run again: that result is reused.
- A result with a step left "not graded" by a fault of ours (`complete` = 0) is never reused nor
  counted as done: the next run grades that learner again and replaces the row.

A result is any object with `learner`, `content_hash`, `complete` and `to_dict()`; `read` makes one again from
its dict (a lesson's `LearnerResult` unless told otherwise: `grader guide` stores its own results here too).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from .results import LearnerResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    grader_hash TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS grades (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    learner TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    reused INTEGER NOT NULL DEFAULT 0,
    graded_at REAL NOT NULL,
    complete INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, learner)
);
"""


class Gradebook:
    def __init__(self, path: Path, read: Callable[[dict[str, Any]], Any] = LearnerResult.from_dict) -> None:
        self.read = read
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        if "complete" not in {row[1] for row in self.db.execute("PRAGMA table_info(grades)")}:
            self.db.execute("ALTER TABLE grades ADD COLUMN complete INTEGER NOT NULL DEFAULT 1")

    def open_run(self, source: str, grader_hash: str) -> tuple[int, bool]:
        """The unfinished run for this source and grader, to resume, or a new one. (id, resumed)"""
        row = self.db.execute(
            "SELECT id FROM runs WHERE source = ? AND grader_hash = ? AND finished IS NULL ORDER BY id DESC LIMIT 1",
            (source, grader_hash)).fetchone()
        if row:
            return int(row[0]), True
        cur = self.db.execute("INSERT INTO runs (source, grader_hash, started) VALUES (?, ?, ?)",
                              (source, grader_hash, time.time()))
        return int(cur.lastrowid or 0), False

    def graded_in_run(self, run_id: int) -> dict[str, Any]:
        rows = self.db.execute("SELECT learner, result FROM grades WHERE run_id = ? AND complete = 1", (run_id,))
        return {learner: self.read(json.loads(result)) for learner, result in rows}

    def reusable(self, learner: str, content_hash: str, grader_hash: str) -> Any:
        row = self.db.execute(
            "SELECT g.result FROM grades g JOIN runs r ON r.id = g.run_id WHERE g.learner = ? AND g.content_hash = ? "
            "AND r.grader_hash = ? AND r.finished IS NOT NULL AND g.complete = 1 ORDER BY r.id DESC LIMIT 1",
            (learner, content_hash, grader_hash)).fetchone()
        return self.read(json.loads(row[0])) if row else None

    def save(self, run_id: int, result: Any, *, reused: bool = False) -> None:
        # A complete row is final; an incomplete one (a fault of ours) gives way to the next try.
        self.db.execute(
            "INSERT INTO grades (run_id, learner, content_hash, result, reused, graded_at, complete) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, learner) DO UPDATE SET content_hash = excluded.content_hash, "
            "result = excluded.result, reused = excluded.reused, graded_at = excluded.graded_at, "
            "complete = excluded.complete WHERE grades.complete = 0",
            (run_id, result.learner, result.content_hash, json.dumps(result.to_dict()), int(reused), time.time(),
             int(result.complete)))

    def finish(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def counts(self, run_id: int) -> tuple[int, int]:
        """(graded, reused) in a run."""
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(reused), 0) FROM grades WHERE run_id = ?", (run_id,)).fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self.db.close()
