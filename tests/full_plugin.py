"""`pytest --full`: the whole suite, as CI runs it, one test at a time. Without it, tests marked `slow` (browsers,
virtual environments built from PyPI, clusters, whole hostile classes, warm runners and servers timed, the compat
matrix) are left out and, where pytest-xdist is installed, the rest run on two processes, so that a developer's
run takes under three minutes on two cores; the summary says how many were left out. An explicit `-m` expression,
or `-n`, decides by itself."""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The quick run spreads over two processes (before pytest-xdist reads its option, so it takes this one)."""
    quick = not (config.getoption("--full") or config.getoption("-m"))
    config._course_quick = quick  # type: ignore[attr-defined]
    if (quick and importlib.util.find_spec("xdist") is not None and hasattr(config.option, "numprocesses")
            and config.option.numprocesses is None and "PYTEST_XDIST_WORKER" not in os.environ
            and not config.getoption("collectonly")):
        config.option.numprocesses = min(2, os.cpu_count() or 1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", help="run the slow tests too (what CI runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--full") or config.getoption("-m"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config._course_left_out = len(slow)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left = getattr(config, "_course_left_out", 0)
    if left:
        terminalreporter.write_line(f"{left} slow tests left out: `pytest --full` runs them too (CI does)")
    elif getattr(config, "_course_quick", False) and config.getoption("numprocesses", None):
        terminalreporter.write_line("slow tests left out: `pytest --full` runs them too (CI does)")
