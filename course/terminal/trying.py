"""`course try N`: run one step of the learner's script, show what it did, and judge it.

The step runs as `python imageGen.py N` in the script's own folder, with a key used by this run
alone, so the offline API's request log says exactly what this run asked for and got. Images it
received are saved under `images/` and, in a colour terminal, previewed in a few lines of half
blocks.

In a terminal the try is shown live (`Live`): the step's output as it prints it, each picture it saves
or the API sends it as soon as it is there, then the verdict. Piped, it is all shown at the end, as a
whole. Either way the step's output is captured whole for the verdict.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from ..errors import CourseError
from ..lesson.checks import StepRun, snapshot
from ..lesson.explain import CHAINS, HEADER, RUNNER_HINT, learner_traceback
from ..lesson.judging import PICTURE_SUFFIXES, TryResult, fetch_image, judge, pictures_in, shown_stderr
from ..lesson.lessons import Lesson

STEP_TIMEOUT = 60.0
# How a step runs: None, a new interpreter (`python imageGen.py N`); the warm runner sets a function of the
# script's folder that returns its own way (a fork of itself) or None where that would not be exact.
launcher: Callable[[Path], Callable[..., tuple[str, str, int | None]] | None] | None = None
TICK = 0.1  # seconds between looks at the step's folder (and the request log) while nothing is printed


def try_step(lesson: Lesson, number: int, script: Path, *, images_dir: Path, timeout: float = STEP_TIMEOUT,
             console: Any = None, previews: bool | None = None) -> TryResult:
    """Run step `number` of `script`, save the images it got, and judge it with the lesson's checks.

    With a `console` writing to a terminal, the step's output and pictures are shown while it runs (see
    `Live`), and `show` then adds only what is left: a traceback, the pictures not shown yet, the verdict."""
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
    found = snapshot(script.parent)  # what the step finds: a file it saved is new or changed, never the last try's
    env["COURSE_LESSON"] = str(lesson.number)
    try:
        source = script.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        source = None
    live = None
    if console is not None and is_tty(console):
        title = lesson.step(number).get("title", f"step {number}")
        live = Live(console, title=f"lesson {lesson.number}, step {number}: {title}", workdir=script.parent,
                    before=before, previews=previews, images_dir=images_dir, stem=f"lesson{lesson.number}-step{number}",
                    data_dir=data_dir, key=key)
        live.start()
    started = time.time()
    out, err, code, interrupted = run_script(script, [str(number)], env, timeout, watch=live)
    if live is not None:
        live.close()
    run = StepRun(number, out, err, code, workdir=script.parent, started=started, source=source, before=found)
    if code is None:
        run.timed_out = True
        run.reason = f"the step did not finish within {timeout:.0f} s"
    elif interrupted:
        run.reason = "the step was interrupted (Ctrl-C) before it finished"
    if key is not None and data_dir is not None:
        run.records = read_log(data_dir, key=key)
    outcome = judge(lesson, run, images_dir=images_dir, folder=script.parent, offline=connection.mode == "offline",
                    before=before, fetched=live.fetched if live is not None else None)
    outcome.live = live
    return outcome


def is_tty(console: Any) -> bool:
    """Whether the console writes to a terminal itself (not piped, whatever FORCE_COLOR says): only there is a
    try shown live, so that piped output stays whole and in its usual order."""
    try:
        return bool(console.file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def run_script(script: Path, args: list[str], env: dict[str, str], timeout: float,
               watch: Live | None = None) -> tuple[str, str, int | None, bool]:
    """`python script ARGS` in the script's folder: (stdout, stderr, exit status or None past `timeout`,
    whether Ctrl-C interrupted it). Ctrl-C reaches the step too (it is in this terminal's process group):
    its output up to then is kept, as is what it says on its way out. The step's output is unbuffered
    (`python -u`), so that what it prints reaches `watch` (and so the terminal) at once, as it would reach
    a terminal; `watch` is given each piece as it comes."""
    fork = launcher(script.parent) if launcher is not None else None
    if fork is not None:
        return fork(script, args, env, timeout, watch=watch)
    proc = subprocess.Popen([sys.executable, "-u", script.name, *args], cwd=script.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    with proc.stdout, proc.stderr:
        out, err, unfinished, interrupted = collect((proc.stdout.fileno(), proc.stderr.fileno()), timeout, watch)
    try:
        if not unfinished:  # its output is closed; it is ending (or closed its streams and goes on)
            proc.wait(timeout=max(0.1, timeout - (time.monotonic() - started)) if not interrupted else 5)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        unfinished = True
    if unfinished:  # past its time (or still going 5 s after Ctrl-C)
        proc.kill()
        proc.wait()
    code = None if unfinished and not interrupted else proc.returncode
    return out.decode(errors="replace"), err.decode(errors="replace"), code, interrupted


def collect(fds: tuple[int, int], timeout: float, watch: Live | None = None) -> tuple[bytes, bytes, bool, bool]:
    """Read a step's stdout and stderr (the read ends of its pipes, `fds`) until both are closed, giving each
    piece to `watch` as it comes: (its stdout, its stderr, whether it was still going past `timeout`, or 5 s
    after a Ctrl-C, or at a second Ctrl-C, whether Ctrl-C interrupted it). The caller stops it if still going.

    Ctrl-C (a KeyboardInterrupt here: the step got its own SIGINT too) is held off while a piece is read and
    shown, so that nothing read is lost and nothing is shown twice; it is taken between pieces."""
    import selectors

    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    deadline = time.monotonic() + timeout
    interrupted = False
    mask = hasattr(signal, "pthread_sigmask")
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ready = selector.select(min(left, TICK))
                if mask:
                    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    # All there is to read now, then a look for pictures: a picture is not shown ahead of
                    # the text the step printed before it was seen. Within a round, stdout first: a line
                    # printed before a traceback comes before it.
                    until = time.monotonic() + TICK
                    while ready:
                        for key, _ in sorted(ready, key=lambda pair: fds.index(pair[0].fd)):
                            data = os.read(key.fd, 65536)
                            if not data:
                                selector.unregister(key.fd)
                                continue
                            chunks[key.fd].append(data)
                            if watch is not None:
                                watch.output(fds.index(key.fd), data)
                        more = selector.get_map() and time.monotonic() < until
                        ready = selector.select(0) if more else []
                    if watch is not None:
                        watch.tick()
                finally:
                    if mask:
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: stop waiting for the step to finish
                    break
                interrupted = True  # the step got Ctrl-C too: collect what it says on its way out
                deadline = time.monotonic() + 5
        unfinished = bool(selector.get_map())
    return b"".join(chunks[fds[0]]), b"".join(chunks[fds[1]]), unfinished, interrupted


class Live:
    """What a try in a terminal shows while its step runs, in the order it happens: its rule first, then

    - what the step prints to stdout, as it prints it;
    - what it prints to stderr, a line at a time in red, except a traceback, held until it is complete and
      then shown cut to the learner's own frames (`learner_traceback`, as `show` cuts it), and the step
      runner's own `hint [...]` line, which the verdict's hint replaces;
    - each picture the step saves in its folder (new or rewritten, once it can be read whole) and each image
      the offline API sends it by URL (fetched into `images/` as `save_images` would), previewed as `show`
      previews them, each once.

    `collect` gives it each piece of output (`output`) and calls `tick` between them and at least every
    `TICK` seconds; `close` shows what is left once the step has ended. `show` then skips what was shown."""

    LOG_EVERY = 0.25  # seconds between looks at the request log (a query) for images sent by URL
    FOLDER_EVERY = 0.01  # at most this often a look at the step's folder, however fast it prints
    LINE_WAIT = 1.0  # a picture waits this long at most for the end of a line the step is printing
    SETTLE = 0.03  # a picture unchanged this long is shown (one being written changes)

    def __init__(self, console: Any, *, title: str, workdir: Path, before: dict[str, int], previews: bool | None,
                 images_dir: Path, stem: str, data_dir: Path | None = None, key: str | None = None) -> None:
        self.console = console
        self.title = title
        self.workdir = workdir
        self.previews = (console.color_system is not None) if previews is None else previews
        self.images_dir, self.stem = images_dir, stem
        self.data_dir, self.key = data_dir, key
        self.known: dict[str, tuple[int, int]] = {name: (mtime, -1) for name, mtime in before.items()}
        self.shown: dict[str, int] = {}  # the step's pictures shown: name -> the mtime shown
        # pictures seen changed, not shown yet: name -> ((mtime, size), when first seen so, could not be read so)
        self.seen: dict[str, tuple[tuple[int, int], float, bool]] = {}
        self.fetched: dict[str, Path] = {}  # image URLs the API sent, fetched: url -> file
        self.urls = 0  # image URLs seen in the log so far (they are numbered as `save_images` numbers them)
        self.last_id = 0
        self.decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in range(2)]
        self.err_line = ""  # the start of a stderr line not ended yet
        self.block: list[str] = []  # a traceback being received
        self.block_said = False  # its exception line has come: what follows may end it
        self.held: list[str] = []  # blank lines after it, which a chained traceback would continue
        self.at_line_start = True
        self.line_open = 0.0  # since when the last line shown has been waiting for its end (monotonic)
        self.looked_folder = self.looked_log = 0.0

    # -- what collect calls ------------------------------------------------------------------------------

    def start(self) -> None:
        self.console.rule(self.title)

    def output(self, stream: int, data: bytes) -> None:
        """A piece of the step's stdout (0) or stderr (1), as read."""
        text = self.decoders[stream].decode(data)
        if stream == 0:
            self._stdout(text)
        else:
            self._stderr(text)

    def tick(self) -> None:
        """A look for new pictures and images, once what the step had printed so far is shown."""
        self._pictures()
        self._api_images()

    def close(self) -> None:
        """The step has ended: what it left unfinished (a line without its end, a traceback), and the pictures
        and images that came in since the last look."""
        self._stdout(self.decoders[0].decode(b"", final=True))
        self._stderr(self.decoders[1].decode(b"", final=True))
        if self.err_line:
            line, self.err_line = self.err_line, ""
            self._err(line)
        self._end_block()
        self._pictures(last=True)
        self._api_images(force=True)
        self._line_start()

    def was_shown(self, path: Path) -> bool:
        """Whether `show` can leave this picture out: it was shown while the step ran, as it is now."""
        if path in self.fetched.values():
            return True
        if path.parent != self.workdir or path.name not in self.shown:
            return False
        try:
            return path.stat().st_mtime_ns == self.shown[path.name]
        except OSError:
            return False

    # -- output ------------------------------------------------------------------------------------------

    def _stdout(self, text: str) -> None:
        if not text:
            return
        if self.block_said:  # the step goes on after a traceback it printed: that traceback is complete
            self._end_block()
        if self.err_line and not self.block:  # a stderr line still open: it came first
            line, self.err_line = self.err_line, ""
            self._write(learner_traceback(line, str(self.workdir)), red=True)
        self._write(text)

    def _stderr(self, text: str) -> None:
        if not text:
            return
        lines = (self.err_line + text).split("\n")
        self.err_line = lines.pop()
        for line in lines:
            self._err(line)

    def _err(self, line: str) -> None:
        """One complete line of stderr."""
        if self.block:
            if not self.block_said:  # the frames, then the exception's own line
                self.block.append(line)
                self.block_said = bool(line.strip()) and not line.startswith("  ")
                return
            if not line.strip():
                self.held.append(line)
                return
            if line == HEADER or line in CHAINS or (not self.held and line[0] in " \t" and not line.startswith("  File ")):
                self.block += self.held + [line]  # a chained traceback, or the exception's message going on
                self.held = []
                self.block_said = line != HEADER
                return
            self._end_block()
        if line == HEADER:
            self._line_start()
            self.block, self.block_said = [line], False
        elif not RUNNER_HINT.match(line):
            self._write(learner_traceback(line, str(self.workdir)) + "\n", red=True)

    def _end_block(self) -> None:
        if self.block:
            text = learner_traceback("\n".join(self.block) + "\n", str(self.workdir))
            self.block, self.block_said = [], False
            self._write(text, red=True)
        held, self.held = self.held, []
        for line in held:
            self._write(line + "\n", red=True)

    def _write(self, text: str, red: bool = False) -> None:
        if not text:
            return
        if red:
            self.console.print(text, end="", markup=False, highlight=False, style="red", soft_wrap=True)
        else:  # as the step printed it, to the terminal itself (a terminal's own escapes and \r included)
            self.console.file.write(text)
            self.console.file.flush()
        if text.endswith("\n"):
            self.at_line_start, self.line_open = True, 0.0
        elif self.at_line_start:
            self.at_line_start, self.line_open = False, time.monotonic()

    def _line_start(self) -> None:
        if not self.at_line_start:
            self._write("\n")

    # -- pictures ----------------------------------------------------------------------------------------

    def _pictures(self, last: bool = False) -> None:
        """Show the pictures the step has saved or rewritten since the last look, oldest first, each once it
        has stayed as it is for `SETTLE` seconds (time for the step to say it saved it) and can be read whole;
        one that cannot is looked at again when it changes. At the `last` look, once the step has ended, every
        one is shown that can be read; the rest are left to `show`, which lists them as it lists every picture."""
        now = time.monotonic()
        if not last and (now - self.looked_folder < self.FOLDER_EVERY
                         or (self.line_open and now - self.line_open < self.LINE_WAIT)):  # a line not ended yet
            return
        self.looked_folder = now
        found = []
        try:
            entries = list(os.scandir(self.workdir))
        except OSError:
            return
        for entry in entries:
            if not entry.name.lower().endswith(PICTURE_SUFFIXES):
                continue
            try:
                if not entry.is_file():
                    continue
                info = entry.stat()
            except OSError:
                continue
            state = (info.st_mtime_ns, info.st_size)
            if self.known.get(entry.name, (None,))[0] == info.st_mtime_ns:
                continue
            seen = self.seen.get(entry.name)
            if seen is None or seen[0] != state:
                self.seen[entry.name] = (state, now, False)
                if not last:
                    continue
            elif not last and (seen[2] or now - seen[1] < self.SETTLE):
                continue  # not settled yet, or could not be read as it is
            found.append((info.st_mtime_ns, entry.name, state))
        for mtime, name, state in sorted(found):
            path = self.workdir / name
            art = _picture_art(path, self.previews)
            if art is None:
                self.seen[name] = (state, now, True)
                continue
            self.known[name] = state
            self.shown[name] = mtime
            self._picture(path, art)

    def _api_images(self, force: bool = False) -> None:
        """Fetch and show the images the offline API has sent this run by URL since the last look."""
        now = time.monotonic()
        if self.key is None or self.data_dir is None or (not force and now - self.looked_log < self.LOG_EVERY):
            return
        self.looked_log = now
        from ..offline.requestlog import read_log

        try:
            records = read_log(self.data_dir, key=self.key, since_id=self.last_id)
        except Exception:  # noqa: BLE001 - a log being written or moved: the next look, or `show`, has them
            return
        for record in records:
            self.last_id = max(self.last_id, record.id or 0)
            if record.status != 200 or record.method != "POST":
                continue
            for url in record.urls:
                self.urls += 1
                target = self.images_dir / f"{self.stem}-{self.urls}.png"
                if fetch_image(url, target, timeout=5):
                    self.fetched[url] = target
                    self._picture(target, _picture_art(target, self.previews))

    def _picture(self, path: Path, art: Any) -> None:
        self._line_start()
        self.console.print(f"image saved: {path}", markup=False, highlight=False, soft_wrap=True)
        if self.previews and art is not True and art is not None:
            self.console.print(art, end="")
        self.at_line_start, self.line_open = True, 0.0


def _picture_art(path: Path, previews: bool) -> Any:
    """The picture's preview (`previews`), or True when it can be read whole but is not to be previewed;
    None when it cannot be read (yet)."""
    if previews:
        return preview(path)
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception:  # noqa: BLE001 - half written, or no picture at all
        return None
    return True


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
    """Print a try's output, images (with previews where the terminal can), verdict and hint; after a try
    shown live (`outcome.live`), only what it has not shown: the pictures left, the verdict and hint."""
    run = outcome.run
    live = outcome.live
    if live is None:
        console.rule(f"lesson {outcome.lesson.number}, step {run.step}: {outcome.result.title}")
        if run.stdout:
            # soft_wrap: a URL folded across lines could not be copied into a browser.
            console.print(run.stdout.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
        stderr = shown_stderr(run)
        if stderr.strip():
            console.print(stderr.rstrip("\n"), markup=False, highlight=False, style="red", soft_wrap=True)
    can_preview = console.is_terminal and console.color_system is not None if previews is None else previews
    for path in outcome.images:
        if live is not None and live.was_shown(path):
            continue
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
