"""The README and the documentation site: a short README that leads into docs/, pages that build, and the claims
the README makes that other files can prove (the Quick start's test command is CI's, the supported range is
pyproject.toml's, every command of `grader` and `course` is written down)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"

# Run mkdocs with every network connection refused: the site must build from what is installed.
NO_NETWORK = """
import socket
def _refused(self, address, *rest):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError("the documentation build reached for the network: " + repr(address))
    return _connect(self, address, *rest)
_connect = socket.socket.connect
socket.socket.connect = _refused
socket.create_connection = lambda address, *rest, **kw: _refused(socket.socket(), address)
from mkdocs.__main__ import cli
cli()
"""


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _subcommands(parser_module: str) -> list[str]:
    """The subcommands a CLI's parser offers, as its usage line lists them ({check,grade,...})."""
    import importlib

    usage = importlib.import_module(parser_module).build_parser().format_usage()
    found = re.search(r"\{([a-z,]+)\}", usage)
    assert found, usage
    return found.group(1).split(",")


def test_the_readme_is_at_most_150_lines() -> None:
    """Is the README a front page (what the project is, the Quick start, where to go next), the rest in docs/?"""
    lines = _readme().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_every_docs_page_the_readme_links_to_exists() -> None:
    """Does each link from the README into docs/ lead to a page, and does it lead to every audience's part?"""
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#[^)]*)?\)", _readme())
    assert links, "the README links to no page of docs/"
    missing = [link for link in links if not (REPO / link).is_file()]
    assert not missing, f"README.md links to pages that do not exist: {missing}"
    for part in ("learners/", "instructors/", "codio-guides.md", "offline-api/", "development/"):
        assert any(link.startswith("docs/" + part) for link in links), f"README.md leads nowhere into docs/{part}"


def test_the_quick_start_runs_the_demo_and_ci_runs_its_test_command() -> None:
    """Are the Quick start's two commands the setup-and-demo line and, word for word, the test line .ci/run runs?"""
    quick_start = _readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick_start, re.S)
    assert block, "the Quick start has no bash block"
    first, second = block.group(1).strip().splitlines()
    assert first == "python3 -m venv .venv && .venv/bin/python -m pip install -q -e . && .venv/bin/course demo"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert second == ci, "the README's test command is not the one .ci/run runs"
    assert "--require-hashes -r tests/requirements.lock" in second and second.endswith("pytest -q --full")


def test_the_supported_range_the_readme_states_is_the_one_pyproject_allows() -> None:
    """Does the README promise the Pythons and SDKs pyproject.toml accepts (3.11+, openai 1.40 and newer)?"""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
    openai = next(r for r in project["dependencies"] if r.startswith("openai"))
    assert openai.startswith("openai>=1.40,")
    supported = " ".join(_readme().split("## Supported Pythons and SDKs", 1)[1].split("\n## ", 1)[0].split())
    assert re.search(r"Python 3\.11\.2 \([^)]*\) to 3\.13", supported), supported
    assert "`openai` 1.40 to the newest release" in supported, supported
    licence = _readme().split("## Licence", 1)[1]
    assert project["license"]["text"] in licence, "the README's licence is not pyproject.toml's"


def test_every_grader_command_is_in_the_instructors_command_list() -> None:
    """Does the instructors' page list every `grader` subcommand the CLI has (grader guide included)?"""
    page = (DOCS / "instructors" / "index.md").read_text(encoding="utf-8")
    commands = page.split("```", 2)[1]
    for name in _subcommands("grader.cli"):
        assert re.search(rf"^grader {name}\b", commands, re.M), f"grader {name} is missing from the commands list"


def test_every_course_command_is_written_down_in_the_docs() -> None:
    """Does some page of docs/ show each `course` subcommand in a command line?"""
    text = "\n".join(page.read_text(encoding="utf-8") for page in DOCS.rglob("*.md"))
    for name in _subcommands("course.terminal.cli"):
        assert re.search(rf"^(course \S+ \| )?course {name}\b", text, re.M), f"course {name} is in no command list of docs/"


def test_the_site_builds_strictly_offline_with_every_page(tmp_path: Path) -> None:
    """Does `mkdocs build --strict` build every page of the nav with the network refused, into pages that load
    nothing from the network when read?"""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["strict"] is True and config["theme"]["name"] == "material"
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run([sys.executable, "-c", NO_NETWORK, "build", "--strict", "--site-dir", str(site)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    pages = _nav_pages(config["nav"])
    assert {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")} == set(pages), "a page of docs/ is not in the nav"
    for page in pages:
        html = site / Path(page).with_suffix(".html")
        assert html.is_file(), f"{page} was not built"
        shown = html.read_text(encoding="utf-8")
        assert not re.search(r"""<(script|link|img)\b[^>]*\b(src|href)=["']https?://""", shown), \
            f"{page} loads something from the network"


@pytest.mark.parametrize("page", ["instructors/output.md", "instructors/grader-guide.md"])
def test_what_out_holds_has_a_page_of_its_own(page: str) -> None:
    """Is what `grader grade` and `grader guide` write into OUT said on their own pages, not under Speed?"""
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "gradebook.csv" in text and "feedback" in text
    assert "gradebook.csv" not in (DOCS / "instructors" / "speed.md").read_text(encoding="utf-8")


def test_the_jupyter_page_gives_the_commands_test_jupyter_commands_runs() -> None:
    """Does the Jupyter page say what tests/test_jupyter_commands.py proves: the plain command for a user, and
    `--allow-root` (with `--ip 0.0.0.0 --no-browser` in a container) for root?"""
    page = " ".join((DOCS / "learners" / "jupyter.md").read_text(encoding="utf-8").split())
    assert "cd exercises && ../.venv/bin/jupyter lab imageGen.ipynb" in page
    assert "`../.venv/bin/jupyter lab imageGen.ipynb --allow-root`" in page and "`--ip 0.0.0.0 --no-browser`" in page
    assert "As an ordinary user, the command above works as it is." in page
