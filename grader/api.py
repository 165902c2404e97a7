"""A private offline Images API for one grading run: its own port and its own request log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from course.errors import CourseError

REPO = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the grader dies (killed halfway), instead of running on orphaned."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextmanager
def offline_api(data_dir: Path, *, workers: int = 1) -> Iterator[str]:
    """… also listening on `data_dir/api.sock`, the only way out of the grading sandboxes."""
    """Start `course serve` on a free loopback port; yield its base URL; stop it at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "course", "serve", "--port", "0", "--data-dir", str(data_dir),
         "--workers", str(workers), "--uds", str(data_dir / "api.sock")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env,
        start_new_session=True, preexec_fn=_die_with_parent,
    )
    assert proc.stdout is not None
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"listening on (http://\S+/v1)", line)
            if match and not found:
                found.append(match[1])
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(30) or not found:
        proc.kill()
        raise CourseError("the offline Images API for grading did not start.", hint="try `course serve` by hand to see why.")
    try:
        yield found[0]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            proc.kill()
