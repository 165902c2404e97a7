"""Does `course try` in a terminal show the step as it runs: its output as it prints it, each picture as it
comes, then the verdict, as `python imageGen.py N` would show the output, and without the buffering of a pipe?

Through a real pty (pexpect), as a learner types it, warm (the runner's fork) and with `COURSE_WARM=0` (a new
interpreter), without PYTHONUNBUFFERED (conftest drops it, as users' machines do not set it). Piped output is
left as it was: tests/test_try.py and tests/test_warm.py read it.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from course.lesson.explain import learner_traceback
from tests.conftest import REPO, warm_runners

ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

SLOW_STEP = '''\
import os
import sys
import time

import course.auto
from course.steps import run_steps


def where():
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        return "warm" if b"course.terminal.warm" in f.read() else "cold"


def step1():
    """Print, wait, print again"""
    print("first line, run", where())
    time.sleep(2)
    print("second line")


def step2():
    """Print, then wait for Ctrl-C"""
    print("waiting for you")
    time.sleep(60)


def step3():
    """Print, then ask for a size the API refuses"""
    print("asking for 255x255")
    from openai import OpenAI

    OpenAI().images.generate(model="dall-e-2", prompt="a cat", n=1, size="255x255")


if __name__ == "__main__":
    run_steps([step1, step2, step3])
'''


# -- through a terminal ----------------------------------------------------------------------------------

def env_for(server, *, warm: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COURSE_WARM", "PYTHONUNBUFFERED"))}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir),
               TERM="xterm-256color", COLORTERM="truecolor")
    if not warm:
        env["COURSE_WARM"] = "0"
    return env


def start_runner(folder: Path, server, home: Path, *args: str) -> None:
    """A first try (piped) of `course ARGS` starts the warm runner; wait until it answers."""
    subprocess.run([sys.executable, "-m", "course", *args], cwd=folder, env=env_for(server, warm=True),
                   capture_output=True, timeout=120)
    deadline = time.monotonic() + 60
    while not (warm_runners(home) and list((home / "warm").glob("*.sock"))):
        assert time.monotonic() < deadline, "no warm runner came up"
        time.sleep(0.1)


class Screen:
    """`course ARGS` in a pty, and when each piece of what it wrote arrived."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.started = time.monotonic()
        self.child = pexpect.spawn(sys.executable, ["-m", "course", *args], cwd=str(folder), env=env,
                                   encoding="utf-8", timeout=60, dimensions=(50, 120))
        self.pieces: list[tuple[float, str]] = []

    def read_until(self, text: str, timeout: float = 60) -> float:
        """Read until `text` (escapes left out) has come; when it came, in seconds since the start."""
        deadline = time.monotonic() + timeout
        while text not in self.plain:
            assert time.monotonic() < deadline, f"{text!r} did not come: {self.plain!r}"
            try:
                piece = self.child.read_nonblocking(65536, timeout=max(0.01, deadline - time.monotonic()))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(f"{text!r} never came: {self.plain!r}") from None
            self.pieces.append((time.monotonic() - self.started, piece))
        return self.when(text)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.pieces.append((time.monotonic() - self.started, self.child.before))
        self.child.close()
        return self.child.exitstatus

    @property
    def raw(self) -> str:
        return "".join(piece for _, piece in self.pieces)

    @property
    def plain(self) -> str:
        return ESCAPES.sub("", self.raw).replace("\r\n", "\n")

    def when(self, text: str) -> float:
        """When `text` first stood complete in what had come."""
        seen = ""
        for at, piece in self.pieces:
            seen += piece
            if text in ESCAPES.sub("", seen).replace("\r\n", "\n"):
                return at
        raise AssertionError(f"{text!r} never came: {self.plain!r}")


@pytest.fixture
def slow_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "slow.py").write_text(SLOW_STEP, encoding="utf-8")
    return folder


WAYS = [pytest.param(False, id="new interpreter"), pytest.param(True, id="warm", marks=pytest.mark.slow)]


@pytest.mark.parametrize("warm", WAYS)
def test_what_a_step_prints_shows_as_it_prints_it(server, slow_folder, isolated_home, warm: bool) -> None:
    """A step that prints, waits 2 s and prints again: its first line is on the screen 2 s before the second
    (a pipe would hold both to the end), each line once, then the verdict."""
    args = ("try", "1", "--script", "slow.py", "--lesson", "1")
    if warm:
        start_runner(slow_folder, server, isolated_home, "try", "3", "--script", "slow.py", "--lesson", "1")
    screen = Screen(slow_folder, env_for(server, warm=warm), *args)
    first = screen.read_until("first line, run")
    second = screen.read_until("second line")
    verdict = screen.read_until("step 1 (Create an image from a prompt): failed")
    screen.finish()
    assert second - first > 1.5, screen.pieces
    assert verdict >= second
    plain = screen.plain
    assert f"first line, run {'warm' if warm else 'cold'}" in plain
    assert plain.count("first line") == 1 and plain.count("second line") == 1
    assert plain.count("lesson 1, step 1: Create an image from a prompt") == 1  # the rule, once, before the output
    assert plain.index("lesson 1, step 1:") < plain.index("first line") < plain.index("second line")


@pytest.mark.parametrize("warm", WAYS)
def test_ctrl_c_stops_a_step_shown_live(server, slow_folder, isolated_home, warm: bool) -> None:
    """Ctrl-C once the step's first line is on the screen: the step stops, what it printed stays shown once,
    and the try says it was interrupted, without a traceback."""
    args = ("try", "2", "--script", "slow.py", "--lesson", "1")
    if warm:
        start_runner(slow_folder, server, isolated_home, "try", "3", "--script", "slow.py", "--lesson", "1")
    screen = Screen(slow_folder, env_for(server, warm=warm), *args)
    shown = screen.read_until("waiting for you")
    screen.child.sendintr()
    stopped = screen.read_until("The step was interrupted (Ctrl-C) before it finished.")
    assert screen.finish() == 1
    assert stopped - shown < 20  # not the step's 60 s
    plain = screen.plain
    assert plain.count("waiting for you") == 1 and "step 2 interrupted" in plain
    assert "Traceback" not in plain


def test_a_traceback_shows_cut_to_the_learners_lines_after_what_was_printed(server, slow_folder) -> None:
    """The line printed before the error shows at once; the traceback shows cut to the learner's own frames
    (no SDK insides), and the hint once, the verdict's."""
    screen = Screen(slow_folder, env_for(server, warm=False), "try", "3", "--script", "slow.py", "--lesson", "1")
    screen.read_until("asking for 255x255")
    screen.read_until("hint [invalid-size]")
    assert screen.finish() == 1
    plain = screen.plain
    assert plain.index("asking for 255x255") < plain.index("Traceback (most recent call last):")
    assert 'File "slow.py", line' in plain and "site-packages" not in plain and str(slow_folder) not in plain
    assert plain.count("hint [invalid-size]") == 1 and plain.count("Traceback") == 1
    assert plain.index("BadRequestError") < plain.index("step 3 (")


@pytest.fixture
def streaming_folder(tmp_path: Path) -> Path:
    """Lesson 3's reference solution, its step 1 waiting a second after each picture it saves, as a real
    stream's pictures come a while apart."""
    folder = tmp_path / "work"
    folder.mkdir()
    source = (REPO / "solutions" / "imageGen3.py").read_text(encoding="utf-8")
    saved = '\n        print("  saved", target.name)\n'  # step 1's, at its loop's depth
    assert source.count(saved) == 1
    source = source.replace(saved, saved + "        __import__('time').sleep(1)\n")
    (folder / "imageGen3.py").write_text(source, encoding="utf-8")
    shutil.copytree(REPO / "solutions" / "assets", folder / "assets")
    return folder


@pytest.mark.parametrize("warm", WAYS)
def test_lesson3_partial_pictures_show_as_they_arrive(server, streaming_folder, isolated_home, warm: bool) -> None:
    """Lesson 3, step 1, streaming two partial pictures and the finished one, saving each: each picture's line
    and preview are on the screen a second apart, in the order they came, well before the step ends; each
    once (not again at the end); then the verdict."""
    if warm:
        start_runner(streaming_folder, server, isolated_home, "try", "5", "--lesson", "3")
    screen = Screen(streaming_folder, env_for(server, warm=warm), "try", "1", "--lesson", "3")
    names = ["partial-0.png", "partial-1.png", "fox.png"]
    times = [screen.read_until(f"image saved: {streaming_folder / name}") for name in names]
    verdict = screen.read_until("step 1 (Stream a generation and save its partial images): passed")
    assert screen.finish() == 0
    assert times[0] < times[1] < times[2] < verdict
    assert times[1] - times[0] > 0.5 and times[2] - times[1] > 0.5  # each as it came, not all at once
    assert verdict - times[0] > 1.5  # the first one long before the step ended
    plain = screen.plain
    places = [plain.index(f"image saved: {streaming_folder / name}") for name in names]
    assert places == sorted(places)
    for name in names:
        assert plain.count(f"image saved: {streaming_folder / name}") == 1
        assert plain.count(f"  saved {name}") == 1
    # Each picture is previewed (half blocks in true colour) right under its line, before what comes next.
    raw = screen.raw
    for name, following in zip(names, ["image_generation.partial_image", "image_generation.completed",
                                       "step 1 (Stream"]):
        start = raw.index(f"image saved: {streaming_folder / name}")
        after = raw[start:raw.index(following, start)]
        assert "▀" in after and "\x1b[38;2;" in after, name


def test_piped_output_is_shown_whole_at_the_end(server, slow_folder) -> None:
    """Piped, nothing is shown live: the rule, the output, then the verdict, each once and without escapes."""
    env = env_for(server, warm=False)
    done = subprocess.run([sys.executable, "-m", "course", "try", "1", "--script", "slow.py", "--lesson", "1"],
                          cwd=slow_folder, env=env, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert "\x1b[" not in done.stdout
    assert lines[0].count("lesson 1, step 1: Create an image from a prompt") == 1
    assert lines[1:3] == ["first line, run cold", "second line"]
    assert lines[3].startswith("step 1 (Create an image from a prompt): failed")


# -- what Live shows, piece by piece ------------------------------------------------------------------------

def console_for_test():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(file=io.StringIO(), color_system=None, width=200, highlight=False)


def live_for(tmp_path: Path, console=None):  # type: ignore[no-untyped-def]
    from course.terminal.trying import Live

    return Live(console or console_for_test(), title="a step", workdir=tmp_path, before={}, previews=False,
                images_dir=tmp_path / "images", stem="lesson1-step1")


STDERRS = {
    "a warning, then a traceback through the SDK and the runner's hint": (
        "UserWarning: careful\n"
        "Traceback (most recent call last):\n"
        '  File "{dir}/imageGen.py", line 9, in step1\n'
        "    client.images.generate(size='255x255')\n"
        '  File "/usr/lib/python3/site-packages/openai/_base_client.py", line 1, in post\n'
        "    raise self._make_status_error_from_response(err.response) from None\n"
        "openai.BadRequestError: Error code: 400 - {{'error': {{'message': 'no'}}}}\n"
        "hint [invalid-size]: that size is not one dall-e-2 makes.\n"),
    "a chained traceback with a message over two lines, then more output": (
        "Traceback (most recent call last):\n"
        '  File "{dir}/imageGen.py", line 3, in step2\n'
        "    data['x']\n"
        "KeyError: 'x'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "<frozen runpy>", line 88, in _run_code\n'
        '  File "{dir}/imageGen.py", line 5, in step2\n'
        "    raise ValueError('two\\n lines')\n"
        "ValueError: two\n"
        " lines\n"
        "said after it, in {dir}/notes.txt, é ü 🙂\n"),
}


@pytest.mark.parametrize("name", list(STDERRS))
def test_stderr_in_any_pieces_reads_as_the_whole_does(tmp_path, name: str) -> None:
    """However the step's stderr is cut into pieces (mid-line, mid-character), what Live shows is what `show`
    shows of the whole: ordinary lines as they are, each traceback cut to the learner's frames, no hint line."""
    text = STDERRS[name].format(dir=tmp_path)
    whole = learner_traceback(text, str(tmp_path))
    data = text.encode()
    rng = random.Random(7)
    for _ in range(20):
        console = console_for_test()
        live = live_for(tmp_path, console)
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        for start, end in zip([0, *cuts], [*cuts, len(data)]):
            live.output(1, data[start:end])
        live.close()
        assert console.file.getvalue() == whole, (name, cuts)
    assert "site-packages" not in whole and "hint [" not in whole


def test_a_traceback_is_held_until_complete_and_other_lines_are_not(tmp_path) -> None:
    console = console_for_test()
    live = live_for(tmp_path, console)
    live.output(1, b"a warning\n")
    assert console.file.getvalue() == "a warning\n"  # at once
    live.output(1, b"Traceback (most recent call last):\n")
    live.output(1, f'  File "{tmp_path}/imageGen.py", line 2, in step1\n'.encode())
    assert console.file.getvalue() == "a warning\n"  # held: it may go through the SDK's insides yet
    live.output(1, b"KeyError: 'x'\n")
    live.output(0, b"the step goes on\n")  # the traceback is complete: shown, then what the step printed
    assert console.file.getvalue() == ("a warning\nTraceback (most recent call last):\n"
                                       '  File "imageGen.py", line 2, in step1\n'
                                       "KeyError: 'x'\nthe step goes on\n")


def test_a_picture_shows_once_whole_and_again_when_rewritten(tmp_path) -> None:
    """A picture being written is not shown until it can be read whole; it shows once; rewritten, once more;
    `show` leaves out what was shown."""
    from PIL import Image

    from course.terminal.trying import Live

    console = console_for_test()
    live = live_for(tmp_path, console)
    picture = tmp_path / "partial-0.png"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue()[:40])  # half written
    for _ in range(3):
        live.tick()
        time.sleep(Live.SETTLE + 0.02)
    assert "image saved" not in console.file.getvalue()
    picture.write_bytes(buffer.getvalue())
    for _ in range(3):
        live.tick()
        time.sleep(Live.SETTLE + 0.02)
    assert console.file.getvalue() == f"image saved: {picture}\n"
    assert live.was_shown(picture)
    live.close()
    assert console.file.getvalue().count("image saved") == 1
    time.sleep(0.01)
    picture.write_bytes(buffer.getvalue() + b"")
    os.utime(picture, ns=(time.time_ns(), time.time_ns()))
    assert not live.was_shown(picture)
    live.tick()
    time.sleep(Live.SETTLE + 0.02)
    live.tick()
    assert console.file.getvalue().count("image saved") == 2
