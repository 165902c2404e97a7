"""Judging one run of a step, the same for `course try` (a run of the script) and the notebook's Try-it (a run in
the kernel): its checks' verdict and hint (`advice.explain`), the pictures it got or saved, and the progress.

- `judge()`: a `StepRun` in, a `TryResult` out (the verdict, the hint, the pictures), the progress recorded;
- `pictures_in()`, `save_images()`, `fetch_image()`: which pictures a run saved, and fetching those the API sent
  by URL into `images/`;
- `shown_stderr()`: stderr as a learner should read it (tracebacks cut to their own frames).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import StepResult, StepRun
from .explain import learner_traceback
from ..hints import Hint
from .lessons import Lesson

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class TryResult:
    lesson: Lesson
    run: StepRun
    result: StepResult
    images: list[Path] = field(default_factory=list)
    hint: Hint | None = None
    offline: bool = True
    live: Any = None  # what was shown while the step ran (a try in a terminal: trying.Live), None when nothing was

    def to_dict(self) -> dict[str, Any]:
        return {"lesson": self.lesson.number, "exit_code": self.run.exit_code, "stdout": self.run.stdout,
                "stderr": self.run.stderr, "images": [str(p) for p in self.images],
                "hint": self.hint.to_dict() if self.hint else None, "result": self.result.to_dict()}


def fetch_image(url: str, target: Path, timeout: float = 30) -> bool:
    """Save the image at `url` as `target`; whether it could."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            data = reply.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError:
        return False
    return True


def judge(lesson: Lesson, run: StepRun, *, images_dir: Path, folder: Path, offline: bool,
          before: dict[str, int] | None = None, fetched: dict[str, Path] | None = None) -> TryResult:
    """Judge a step's run with the lesson's checks, save its images, find its hint, record the progress.

    Shared by `course try` (a run of the script) and the notebook's Try-it (a run in the kernel)."""
    from .advice import explain
    from .progress import record_step

    result, hint, _crash = explain(lesson.step(run.step), run, str(folder))
    images = save_images(run, images_dir, f"lesson{lesson.number}-step{run.step}", before, fetched)
    first = result.first_failure()
    record_step(folder, lesson.number, run.step, result.passed, first.message if first else "")
    return TryResult(lesson, run, result, images, hint, offline=offline)


def shown_stderr(run: StepRun) -> str:
    """What the step wrote to stderr as a learner should read it: each traceback cut to the learner's own
    frames (not the SDK's insides), and without the runner's own hint line, which the verdict's hint
    replaces (it knows what the step was for: a refusal step 4 asks for is not a size mistake)."""
    return learner_traceback(run.stderr, str(run.workdir) if run.workdir else None)


def pictures_in(folder: Path | None) -> dict[str, int]:
    """The pictures in a folder and when each was last written, to tell afterwards which ones a step saved."""
    if folder is None or not folder.is_dir():
        return {}
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()}


def save_images(run: StepRun, folder: Path, stem: str, before: dict[str, int] | None = None,
                fetched: dict[str, Path] | None = None) -> list[Path]:
    """Fetch every image URL the run received into `folder` (those in `fetched` were already, while it ran),
    and list the pictures the step saved itself (those new or rewritten since `before`, or, without it,
    written since the run started)."""
    saved: list[Path] = []
    urls = [u for r in run.records if r.status == 200 and r.method == "POST" for u in r.urls]
    for i, url in enumerate(urls, 1):
        if fetched and url in fetched:
            saved.append(fetched[url])
            continue
        target = folder / f"{stem}-{i}.png"
        if fetch_image(url, target):
            saved.append(target)
    if run.workdir is not None:
        for name, written in sorted(pictures_in(run.workdir).items()):
            if (before.get(name) != written) if before is not None else written / 1e9 >= run.started - 1:
                saved.append(run.workdir / name)
    return saved
