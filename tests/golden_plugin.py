"""Golden files: expected terminal output kept next to the tests, refreshed with one flag.

A test module `tests/test_<name>.py` keeps its goldens in `tests/files/<name>/`. Register with
`pytest_plugins = ["tests.golden_plugin"]` in tests/conftest.py (or `-p tests.golden_plugin`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest

FLAG = "--update-goldens"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(FLAG, action="store_true", default=False,
                     help="write golden files from the current output instead of comparing with them")


def normalise(text: str) -> str:
    """Trailing spaces are rich's padding, not content; one final newline so files diff cleanly."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines()) + "\n"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(name, text)`: compare `text` with tests/files/<module>/<name>, or write it with the flag."""
    module = Path(request.node.path)
    folder = module.parent / "files" / module.stem.removeprefix("test_")
    update = bool(request.config.getoption(FLAG))

    def check(name: str, text: str) -> None:
        path = folder / name
        actual = normalise(text)
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        if not path.is_file():
            pytest.fail(f"golden file {path} is missing; run pytest with {FLAG} to write it, then review it")
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                                fromfile=f"{path} (golden)", tofile="actual output"))
            pytest.fail(f"output differs from {path.name}; if the change is intended, run pytest with {FLAG}\n{diff}",
                        pytrace=False)

    return check
