"""Codio's test environment, offline: what a guide's code tests expect to find around them on Codio.

Written from Codio's documentation (the pages are named in `docs/codio-guides.md`), in our own words and code:

- `assessments/lib/grade.py`: Codio's helper library for tests (`from lib.grade import send_partial`), found
  through PYTHONPATH wherever Codio's own `/usr/share/codio/assessments` is absent;
- `points`: what a test sends to `CODIO_PARTIAL_POINTS_URL` (points) or `CODIO_PARTIAL_POINTS_V2_URL` (a percentage,
  feedback and its format), read alike by the quiz's endpoint (`endpoint`) and the grader's (a route of its
  private offline API, reached from inside the box), and what it is worth;
- `workspace`: Codio's workspace folder, `/home/codio/workspace`, where this machine has none.
"""

from __future__ import annotations

from pathlib import Path

HELPERS = Path(__file__).resolve().parent / "assessments"  # holds `lib/grade.py`, as Codio's folder holds it
CODIO_HELPERS = "/usr/share/codio/assessments"  # where Codio keeps its own


def helpers_path(current: str = "", helpers: Path = HELPERS) -> str:
    """A PYTHONPATH that finds `lib.grade`: `current` with the helper folder `helpers` after it, unless Codio's own
    folder is on this machine (a test appends it to sys.path itself, and Codio's library is the one to use)."""
    if Path(CODIO_HELPERS).is_dir():
        return current
    return f"{current}:{helpers}" if current else str(helpers)
