"""`course try N`: run one step of the learner's script, show what it did, and judge it.

The step runs as `python imageGen.py N` in the script's own folder, with a key used by this run
alone, so the offline API's request log says exactly what this run asked for and got. Images it
received are saved under `images/` and, in a colour terminal, previewed in a few lines of half
blocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..lesson.checks import StepResult, StepRun
from ..lesson.explain import learner_traceback
from ..errors import CourseError
from ..lesson.hints import Hint
from ..lesson.lessons import Lesson

STEP_TIMEOUT = 60.0
# How a step runs: None, a new interpreter (`python imageGen.py N`); the warm runner sets a function of the
# script's folder that returns its own way (a fork of itself) or None where that would not be exact.
launcher: Callable[[Path], Callable[..., tuple[str, str, int | None]] | None] | None = None
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class TryResult:
    lesson: Lesson
    run: StepRun
    result: StepResult
    images: list[Path] = field(default_factory=list)
    hint: Hint | None = None
    offline: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"lesson": self.lesson.number, "exit_code": self.run.exit_code, "stdout": self.run.stdout,
                "stderr": self.run.stderr, "images": [str(p) for p in self.images],
                "hint": self.hint.to_dict() if self.hint else None, "result": self.result.to_dict()}


def try_step(lesson: Lesson, number: int, script: Path, *, images_dir: Path, timeout: float = STEP_TIMEOUT) -> TryResult:
    """Run step `number` of `script`, save the images it got, and judge it with the lesson's checks."""
    from ..connect import connect, running_server
    from ..offline.requestlog import read_log

    lesson.step(number)  # a clear error for a step the lesson lacks
    if not script.is_file():
        raise CourseError(f"there is no {script}.",
                          hint=f"run this in the folder that holds {lesson.script} (copy it from exercises/), or pass --script.")
    connection = connect(model="dall-e-2", quiet=True)
    env = dict(os.environ)
    key = None
    data_dir = None
    if connection.mode == "offline":
        state = running_server(timeout=5.0)
        data_dir = Path(state["data_dir"]) if state and state.get("data_dir") else None
        base = connection.base_url or ""
        if data_dir is None and os.environ.get("COURSE_OFFLINE_DATA_DIR"):
            data_dir = Path(os.environ["COURSE_OFFLINE_DATA_DIR"])
        key = "sk-try-" + uuid.uuid4().hex[:24]
        env.update(OPENAI_BASE_URL=base, OPENAI_API_BASE=base, OPENAI_API_KEY=key)
    before = pictures_in(script.parent)
    try:
        source = script.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        source = None
    started = time.time()
    out, err, code, interrupted = run_script(script, [str(number)], env, timeout)
    run = StepRun(number, out, err, code, workdir=script.parent, started=started, source=source)
    if code is None:
        run.timed_out = True
        run.reason = f"the step did not finish within {timeout:.0f} s"
    elif interrupted:
        run.reason = "the step was interrupted (Ctrl-C) before it finished"
    if key is not None and data_dir is not None:
        run.records = read_log(data_dir, key=key)
    return judge(lesson, run, images_dir=images_dir, folder=script.parent, offline=connection.mode == "offline",
                 before=before)


def run_script(script: Path, args: list[str], env: dict[str, str],
               timeout: float) -> tuple[str, str, int | None, bool]:
    """`python script ARGS` in the script's folder: (stdout, stderr, exit status or None past `timeout`,
    whether Ctrl-C interrupted it). Ctrl-C reaches the step too (it is in this terminal's process group):
    its output up to then is kept, as is what it says on its way out."""
    fork = launcher(script.parent) if launcher is not None else None
    if fork is not None:
        return fork(script, args, env, timeout)
    proc = subprocess.Popen([sys.executable, script.name, *args], cwd=script.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    interrupted = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return out.decode(errors="replace"), err.decode(errors="replace"), None, False
    except KeyboardInterrupt:
        interrupted = True
        try:
            out, err = proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            out, err = proc.communicate()
    return out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode, interrupted


def judge(lesson: Lesson, run: StepRun, *, images_dir: Path, folder: Path, offline: bool,
          before: dict[str, int] | None = None) -> TryResult:
    """Judge a step's run with the lesson's checks, save its images, find its hint, record the progress.

    Shared by `course try` (a run of the script) and the notebook's Try-it (a run in the kernel)."""
    from ..lesson.progress import record_step

    from ..lesson.advice import explain

    result, hint, _crash = explain(lesson.step(run.step), run, str(folder))
    images = save_images(run, images_dir, f"lesson{lesson.number}-step{run.step}", before)
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


def save_images(run: StepRun, folder: Path, stem: str, before: dict[str, int] | None = None) -> list[Path]:
    """Fetch every image URL the run received into `folder`, and list the pictures the step saved itself
    (those new or rewritten since `before`, or, without it, written since the run started)."""
    saved: list[Path] = []
    urls = [u for r in run.records if r.status == 200 and r.method == "POST" for u in r.urls]
    if urls:
        folder.mkdir(parents=True, exist_ok=True)
    for i, url in enumerate(urls, 1):
        target = folder / f"{stem}-{i}.png"
        try:
            with urllib.request.urlopen(url, timeout=30) as reply:
                target.write_bytes(reply.read())
            saved.append(target)
        except OSError:
            continue
    if run.workdir is not None:
        for name, written in sorted(pictures_in(run.workdir).items()):
            if (before.get(name) != written) if before is not None else written / 1e9 >= run.started - 1:
                saved.append(run.workdir / name)
    return saved


def preview(path: Path, width: int = 32) -> Any:
    """A rich Text of the picture in half blocks (two pixels per character cell), or None."""
    from PIL import Image
    from rich.style import Style
    from rich.text import Text

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except Exception:
        return None
    height = max(2, round(width * rgb.height / rgb.width / 2) * 2)
    small = rgb.resize((width, height), Image.Resampling.BOX)
    text = Text()
    for y in range(0, height, 2):
        for x in range(width):
            top, bottom = small.getpixel((x, y)), small.getpixel((x, y + 1))
            text.append("▀", Style(color=f"rgb({top[0]},{top[1]},{top[2]})", bgcolor=f"rgb({bottom[0]},{bottom[1]},{bottom[2]})"))
        text.append("\n")
    return text


def show(outcome: TryResult, console: Any, *, previews: bool | None = None) -> None:
    """Print a try's output, images (with previews where the terminal can), verdict and hint."""
    run = outcome.run
    title = f"lesson {outcome.lesson.number}, step {run.step}: {outcome.result.title}"
    console.rule(title)
    if run.stdout:
        # soft_wrap: a URL folded across lines could not be copied into a browser.
        console.print(run.stdout.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
    stderr = shown_stderr(run)
    if stderr.strip():
        console.print(stderr.rstrip("\n"), markup=False, highlight=False, style="red", soft_wrap=True)
    can_preview = console.is_terminal and console.color_system is not None if previews is None else previews
    for path in outcome.images:
        console.print(f"image saved: {path}", markup=False, highlight=False, soft_wrap=True)
        if can_preview:
            art = preview(path)
            if art is not None:
                console.print(art, end="")
    if run.reason:  # it could not run normally (it ran past its time): say so before the verdict
        console.print(run.reason[0].upper() + run.reason[1:] + ".", markup=False, highlight=False, style="red",
                      soft_wrap=True)
    console.print(outcome.result.render(), markup=False, highlight=False, soft_wrap=True,
                  style="green" if outcome.result.passed else "yellow")
    if outcome.hint is not None:
        console.print(outcome.hint.render(), markup=False, highlight=False, style="cyan", soft_wrap=True)
    if not outcome.offline:
        console.print("(live API: the checks that read the offline request log could not be made)", style="dim")
