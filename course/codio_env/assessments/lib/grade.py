"""Codio's helper functions for tests, written here from Codio's documentation (docs.codio.com, "Partial Points"
and "Assignment Level Scripts"); a test imports them as it does on Codio:

    sys.path.append('/usr/share/codio/assessments')
    from lib.grade import send_partial, send_partial_v2, FORMAT_V2_MD, FORMAT_V2_HTML, FORMAT_V2_TXT

Each function sends a score to the URL Codio gives the test in its environment and says whether it was taken
(True) or not (False, with the reason on standard error), so that `exit(0 if res else 1)` works as documented:

- `send_partial(points)`: points out of the assessment's, to `CODIO_PARTIAL_POINTS_URL` (`&points=N`);
- `send_partial_v2(percent, feedback, format)`: a percentage of the assessment's points (0 to 100), with feedback
  for the learner as plain text, Markdown or HTML, to `CODIO_PARTIAL_POINTS_V2_URL`;
- `send_grade(grade)` and `send_grade_v2(grade, feedback, format, extra_credit, penalty)`: an assignment's grade
  (a percentage), to `CODIO_AUTOGRADE_URL` / `CODIO_AUTOGRADE_V2_URL`, which Codio sets only for an assignment-level
  script; this kit runs none, so they are here for a test that imports them, and say so when called.

Codio sets the partial points URLs only when the assessment allows partial points; without them these say so.
Only the standard library is used, and no proxy: the URLs are on this machine.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request

FORMAT_V2_MD = "md"
FORMAT_V2_HTML = "html"
FORMAT_V2_TXT = "txt"
TIMEOUT = 10  # seconds for one send
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _url(variable, why):
    url = os.environ.get(variable, "")
    if not url:
        print(f"lib.grade: {variable} is not set ({why}); nothing was sent.", file=sys.stderr)
    return url


def _send(url, data=None):
    """GET `url` (or POST `data`, form-encoded); True when the answer is 2xx."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with _DIRECT.open(urllib.request.Request(url, data=body), timeout=TIMEOUT) as answer:
            return 200 <= answer.status < 300
    except urllib.error.HTTPError as exc:
        said = exc.read(2000).decode("utf-8", "replace").strip()
        print(f"lib.grade: the score was refused ({exc.code}{': ' + said if said else ''}).", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"lib.grade: the score could not be sent ({exc}).", file=sys.stderr)
    return False


def _number(value):
    """A number as sent; anything else as its text (the endpoint says why it is not taken)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def send_partial(points):
    """Send `points` (0 up to the assessment's points) for this test; True when it was taken."""
    url = _url("CODIO_PARTIAL_POINTS_URL", "the assessment does not allow partial points")
    return bool(url) and _send(f"{url}&points={_number(points)}")


def send_partial_v2(points, feedback="", format=FORMAT_V2_TXT):
    """Send `points` as a percentage of the assessment's points (0 to 100), with `feedback` for the learner in
    `format` (FORMAT_V2_TXT, FORMAT_V2_MD or FORMAT_V2_HTML); True when it was taken."""
    url = _url("CODIO_PARTIAL_POINTS_V2_URL", "the assessment does not allow partial points")
    return bool(url) and _send(url, {"points": _number(points), "feedback": str(feedback), "format": format})


ASSIGNMENT_ONLY = "Codio sets it for an assignment-level script only, which this kit does not run"


def send_grade(grade):
    """An assignment-level script's grade (a percentage); True when it was taken."""
    url = _url("CODIO_AUTOGRADE_URL", ASSIGNMENT_ONLY)
    return bool(url) and _send(f"{url}&grade={_number(grade)}")


def send_grade_v2(grade, feedback="", format=FORMAT_V2_TXT, extra_credit=None, penalty=None):
    """An assignment-level script's grade (a percentage) with feedback in `format`, and optionally extra credit or
    a penalty; True when it was taken."""
    url = _url("CODIO_AUTOGRADE_V2_URL", ASSIGNMENT_ONLY)
    if not url:
        return False
    data = {"grade": _number(grade), "feedback": str(feedback), "format": format}
    data.update({k: _number(v) for k, v in (("extra_credit", extra_credit), ("penalty", penalty)) if v is not None})
    return _send(url, data)
