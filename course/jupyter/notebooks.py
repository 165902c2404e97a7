"""The lessons as Jupyter notebooks: built from the same pages, questions and scripts as the terminal.

`build_notebook(lesson)` walks the lesson's guide pages in order:

- prose, headings and code examples become Markdown cells;
- a page's `{Try it!}(python3 imageGen.py N)` button becomes a code cell holding step N of the
  lesson script (the learner's `todo()` version, or the solution with `solutions=True`), ending
  with `try_it(stepN, lesson=L)` (and its own import, so the cell also works when run first): running
  the cell runs the step, and its Try-it button runs it again;
- a `{Check It!|assessment}(ID)` becomes a `question("ID")` cell (a quiz widget);
- the notebook opens with the connect cell (`start(N)`) and the script's own setup lines, and ends
  with a progress widget.

Every code cell carries `metadata.course = {"role": ..., "step": N}` so that
`script_from_notebook()` can turn a learner's notebook back into the lesson script the grader runs:
the template's docstring, the setup cell, each step cell without its widget lines, the template's
runner. A notebook built from the exercises gives back the exercise script byte for byte (a test
holds this). Built notebooks are committed beside the scripts (`exercises/imageGen.ipynb`,
`solutions/imageGen.ipynb`); `course build` writes them and `course build --check` fails on drift.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CourseError
from ..lesson.lessons import Lesson

REPO = Path(__file__).resolve().parents[2]
WIDGET_CALLS = {"start", "try_it", "question", "progress"}
STEP_DEF = re.compile(r"^def (step(\d+))\(", re.M)
RUNNER = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.M)
MAX_NOTEBOOK_BYTES = 8 * 1024 * 1024
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


# --------------------------------------------------------------------------- the script, in pieces


@dataclass
class ScriptParts:
    """A lesson script cut at its top-level step functions."""

    docstring: str  # the module docstring, with its quotes and the blank line after it
    setup: str  # imports, the client and constants: everything before `def step1`
    steps: dict[int, str]  # each `def stepN(): ...`, without trailing blank lines
    runner: str  # `if __name__ == "__main__": ...`

    def join(self, setup: str | None = None, steps: dict[int, str] | None = None) -> str:
        """The script again, with some pieces replaced: exactly the original when none are."""
        pieces = [(self.setup if setup is None else setup).rstrip("\n")]
        chosen = self.steps if steps is None else steps
        pieces += [chosen[n].rstrip("\n") for n in sorted(chosen)]
        pieces.append(self.runner.rstrip("\n"))
        return self.docstring + "\n\n\n".join(p for p in pieces if p.strip()) + "\n"


def split_script(source: str, *, name: str = "<script>") -> ScriptParts:
    tree = ast.parse(source, filename=name)
    lines = source.splitlines(keepends=True)
    docstring = ""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        end = body[0].end_lineno or 1
        while end < len(lines) and not lines[end].strip():
            end += 1
        docstring = "".join(lines[:end])
        body = body[1:]
    else:
        end = 0
    starts: list[tuple[int, int]] = []  # (first line index, step number)
    runner_at = None
    for node in body:
        if isinstance(node, ast.FunctionDef) and re.fullmatch(r"step\d+", node.name):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            starts.append((first, int(node.name[4:])))
        elif isinstance(node, ast.If) and RUNNER.match(lines[node.lineno - 1]):
            runner_at = node.lineno - 1
    if not starts or runner_at is None:
        raise CourseError(f"{name}: a lesson script needs step functions (def step1(): ...) and the runner "
                          "(if __name__ == \"__main__\": run_steps([...])).")
    setup = "".join(lines[end:starts[0][0]])
    steps: dict[int, str] = {}
    bounds = [s for s, _ in starts] + [runner_at]
    for (first, number), nxt in zip(starts, bounds[1:]):
        steps[number] = "".join(lines[first:nxt]).rstrip("\n") + "\n"
    return ScriptParts(docstring, setup, steps, "".join(lines[runner_at:]))


def script_source(lesson: Lesson, *, solutions: bool = False, repo: Path = REPO) -> str:
    """The lesson script a notebook is built from, made from its source in solutions/ as `course build`
    makes exercises/: the solution without its marker lines, or the exercise with `todo()` lines."""
    from ..lesson.solutions import BEGIN, END, strip_solutions

    path = repo / "solutions" / lesson.script
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CourseError(f"{path} can't be read ({exc.strerror}).") from None
    if not solutions:
        return strip_solutions(text, name=str(path))
    return "".join(line for line in text.splitlines(keepends=True) if not (BEGIN.match(line) or END.match(line)))


# --------------------------------------------------------------------------- building


def _markdown_of(blocks: list[Any]) -> list[str]:
    """Markdown text for a run of guide blocks (columns are laid one after the other)."""
    from ..lesson.codio_pages import Code, Columns, Heading, Markdown

    out: list[str] = []
    for block in blocks:
        if isinstance(block, Markdown):
            if block.text.strip():
                out.append(block.text.strip("\n"))
        elif isinstance(block, Heading):
            out.append("#" * block.level + " " + block.text)
        elif isinstance(block, Code):
            out.append(f"```{block.language}\n{block.text.rstrip()}\n```")
        elif isinstance(block, Columns):
            out += _markdown_of(block.left) + _markdown_of(block.right)
    return out


def _flatten(blocks: list[Any]) -> list[Any]:
    from ..lesson.codio_pages import Columns

    out: list[Any] = []
    for block in blocks:
        if isinstance(block, Columns) and _has_widgets(block.left + block.right):
            out += _flatten(block.left) + _flatten(block.right)
        else:
            out.append(block)
    return out


def _has_widgets(blocks: list[Any]) -> bool:
    from ..lesson.codio_pages import Assessment, Columns, TryIt

    return any(isinstance(b, (Assessment, TryIt)) or (isinstance(b, Columns) and _has_widgets(b.left + b.right))
               for b in blocks)


# nbformat 4.5 written directly (the JSON is simple, and `import nbformat` pulls in jsonschema's format
# checkers: over a second here). A test validates the result with nbformat against its schema and
# compares the bytes with nbformat.writes().


def _markdown_cell(source: str, **course: Any) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {"course": course}, "source": source}


def _code(source: str, role: str, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"course": {"role": role, **extra}}
    if role != "step":
        metadata.update(editable=False, deletable=False)
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [],
            "source": source.rstrip("\n")}


def _cell_ids(nb: Any, stem: str) -> None:
    """Stable cell ids, so that rebuilding an unchanged lesson gives the same bytes."""
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{stem}-{i:02d}"


def build_notebook(lesson: Lesson, *, solutions: bool = False, repo: Path = REPO) -> Any:
    """The lesson as an nbformat 4.5 notebook, a plain dict (not written anywhere)."""
    from ..lesson.codio_pages import Assessment, TryIt, load_chapter, step_number

    source = script_source(lesson, solutions=solutions, repo=repo)
    parts = split_script(source, name=lesson.script)
    stem = Path(lesson.script).stem
    cells: list[Any] = []
    intro = (f"# Lesson {lesson.number}: {lesson.title}\n\n"
             f"This notebook is lesson {lesson.number} of the Images API course, the same lesson as "
             f"`course show {lesson.number}` and `{lesson.script}` in a terminal.\n\n"
             "- Run the first two cells once: they connect to the Images API (the offline one when no "
             "`OPENAI_API_KEY` is set) and set up the client.\n"
             "- Each step is a code cell: write your code in place of the `todo()` line, then run the "
             "cell (Shift+Enter). It runs the step, shows what it prints and the pictures it gets as they "
             "come, and says whether the step is done, with a hint when it is not. **Try it** runs the step "
             "again as its cell last ran: after editing the cell, press Shift+Enter to run your new version.\n"
             "- Each question has a **Check** button; your answers are saved in `answers.json`, "
             "as in the terminal.\n"
             "- After the kernel restarts, or when you open the notebook again, the buttons and questions "
             "show *Error displaying widget: model not found*: they lived in the old kernel. Run the cells "
             "again (**Run > Run All Cells**, or Shift+Enter on each) and they come back; your answers and "
             "progress are kept on disk.")
    cells.append(_markdown_cell(intro, role="intro"))
    cells.append(_code(f"from course.jupyter import progress, question, start, try_it\n\n"
                       f"start({lesson.number})", "connect"))
    cells.append(_code(parts.setup, "setup"))
    placed: set[int] = set()
    chapter = load_chapter(lesson.folder)
    def flush(pending: list[Any], slug: str) -> None:
        text = "\n\n".join(_markdown_of(pending))
        if text.strip():
            cells.append(_markdown_cell(text, role="lesson", page=slug))
        pending.clear()

    for page in chapter.pages:
        pending: list[Any] = []
        for block in _flatten(page.blocks):
            if isinstance(block, TryIt):
                number = step_number(block.command)
                if number is None or number not in parts.steps:
                    pending.append(block)
                    continue
                flush(pending, page.slug)
                if number in placed:  # a second button for the same step: run it again
                    cells.append(_code(_try_line(number, lesson), "try", step=number))
                else:
                    placed.add(number)
                    cells.append(_code(f"{parts.steps[number].rstrip()}\n\n\n{_try_line(number, lesson)}", "step",
                                       step=number))
            elif isinstance(block, Assessment):
                flush(pending, page.slug)
                cells.append(_code(f'from course.jupyter import question\n\nquestion("{block.task_id}")', "question",
                                   id=block.task_id))
            else:
                pending.append(block)
        flush(pending, page.slug)
    missing = sorted(set(parts.steps) - placed)
    if missing:  # steps no page has a button for still belong in the notebook (and in the script)
        cells.append(_markdown_cell("## More steps", role="lesson"))
        for number in missing:
            cells.append(_code(f"{parts.steps[number].rstrip()}\n\n\n{_try_line(number, lesson)}", "step", step=number))
    cells.append(_markdown_cell("## Your progress", role="lesson"))
    cells.append(_code(f"from course.jupyter import progress\n\nprogress({lesson.number})", "progress"))
    nb = {"cells": cells, "metadata": {
        "kernelspec": KERNELSPEC,
        "language_info": language_info(),
        "course": {"lesson": lesson.number, "script": lesson.script, "solutions": solutions},
    }, "nbformat": 4, "nbformat_minor": 5}
    _cell_ids(nb, stem)
    return nb


def language_info() -> dict[str, Any]:
    """What ipykernel says of this Python when the notebook opens: written as it says it, so that opening the
    notebook changes nothing in it (JupyterLab marks a notebook modified when its kernel's language_info differs)."""
    import sys

    return {"codemirror_mode": {"name": "ipython", "version": sys.version_info[0]}, "file_extension": ".py",
            "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
            "pygments_lexer": f"ipython{sys.version_info[0]}", "version": sys.version.split()[0]}


def _with_this_python(text: str) -> str | None:
    """A notebook's text with its language_info's Python version made this one's (None: not a notebook)."""
    try:
        data = json.loads(text)
        data["metadata"]["language_info"]["version"] = language_info()["version"]
    except (ValueError, TypeError, KeyError):
        return None
    return notebook_text(data)


def _try_line(number: int, lesson: Lesson) -> str:
    """The lines under a step that run it: with their own import and lesson, so that the cell works even
    when it is the first one run (it connects by itself)."""
    return f"from course.jupyter import try_it\n\ntry_it(step{number}, lesson={lesson.number})"


def notebook_name(lesson: Lesson) -> str:
    return Path(lesson.script).stem + ".ipynb"


def notebook_text(nb: dict[str, Any]) -> str:
    """The notebook as nbformat.writes() words it: sources as lists of lines, keys sorted, indent 1."""
    cells = [{**cell, "source": cell["source"].splitlines(keepends=True)} if isinstance(cell.get("source"), str)
             else cell for cell in nb["cells"]]
    return json.dumps({**nb, "cells": cells}, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_notebook(nb: Any, path: Path, *, keep_python: bool = False) -> Path:
    """Write `nb`. With `keep_python`, a notebook there that differs only in the Python version it names is left
    as it is (the committed notebooks do not change with the Python that rebuilds them)."""
    text = notebook_text(nb)
    if keep_python:
        with contextlib.suppress(OSError):
            if _with_this_python(path.read_text(encoding="utf-8")) == text:
                return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def build_notebooks(lessons: list[Lesson], out: Path, *, solutions: bool = False, repo: Path = REPO) -> list[Path]:
    return [write_notebook(build_notebook(lesson, solutions=solutions, repo=repo), out / notebook_name(lesson),
                           keep_python=True) for lesson in lessons]


# --------------------------------------------------------------------------- back to a script


def read_notebook(path: Path) -> dict[str, Any]:
    """A notebook's JSON, read with care: it may be a learner's, damaged or hostile."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise CourseError(f"{path.name} is {size // 2**20} MB, more than a lesson notebook can be "
                              f"({MAX_NOTEBOOK_BYTES // 2**20} MB); clear its outputs and hand it in again.")
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CourseError(f"{path.name} is not a notebook (not UTF-8 text).") from None
    except ValueError as exc:
        raise CourseError(f"{path.name} is not a readable notebook: not valid JSON ({exc}).") from None
    except OSError as exc:
        raise CourseError(f"{path.name} can't be read ({exc.strerror}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise CourseError(f"{path.name} is not a notebook: it has no list of cells.")
    return data


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def step_definitions(notebook: dict[str, Any], number: int) -> list[str]:
    """The code of every top-level `def stepN` in the notebook's code cells (decorators included), in order."""
    found = []
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = _cell_text(cell)
        try:
            tree = ast.parse(_magics_out(text))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        lines = text.splitlines()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == f"step{number}":
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                found.append("\n".join(lines[first - 1:node.end_lineno]))
    return found


def _without_widget_lines(text: str) -> str:
    """A step cell's code, less the top-level widget calls (`try_it(step3)`) and IPython magics."""
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None  # kept as written: the step then fails to import, exactly as a broken script would
    drop: set[int] = set()
    if tree is not None:
        for node in tree.body:
            call = node.value if isinstance(node, ast.Expr) else None
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in WIDGET_CALLS) or (
                    isinstance(node, ast.ImportFrom) and node.module == "course.jupyter"):
                drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop).rstrip() + "\n"


def _magics_out(text: str) -> str:
    """IPython magics are not Python: a script keeps them as comments."""
    return "\n".join(("# (notebook only) " + l) if l.lstrip().startswith(("%", "!")) else l
                     for l in text.splitlines())


def script_from_notebook(notebook: dict[str, Any], template: str, *, name: str = "notebook") -> str:
    """The lesson script a notebook stands for: the template's docstring and runner, the notebook's
    setup cell and step cells (found by their `course` metadata, else by `def stepN` in any cell)."""
    parts = split_script(template, name="the lesson script")
    setup: str | None = None
    steps: dict[int, str] = {}
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    for cell in cells:
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        course = meta.get("course") if isinstance(meta.get("course"), dict) else {}
        text = _magics_out(_cell_text(cell))
        role = course.get("role")
        if role == "setup":
            setup = text
        elif role == "step" and isinstance(course.get("step"), int) and course["step"] in parts.steps:
            steps[course["step"]] = _without_widget_lines(text)
    if not steps:  # the metadata was lost (copied cells, another editor): find the step functions themselves
        for cell in cells:
            text = _magics_out(_cell_text(cell))
            found = [int(m.group(2)) for m in STEP_DEF.finditer(text)]
            if len(found) == 1 and found[0] in parts.steps:
                steps[found[0]] = _without_widget_lines(text)
    for number in parts.steps:
        if number not in steps:
            steps[number] = (f"def step{number}():\n    raise RuntimeError(\"step {number}'s cell is missing from "
                             f"{name}\")\n")
    return parts.join(setup=setup, steps=steps)


def check_notebooks(repo: Path = REPO) -> list[str]:
    """Committed notebooks that differ from a fresh build (empty when all is in step)."""
    from ..lesson.lessons import all_lessons

    drift = []
    for folder, solutions in (("exercises", False), ("solutions", True)):
        for lesson in all_lessons():
            path = repo / folder / notebook_name(lesson)
            fresh = notebook_text(build_notebook(lesson, solutions=solutions, repo=repo))
            try:
                committed = _with_this_python(path.read_text(encoding="utf-8"))
            except OSError:
                committed = None
            if committed != fresh:
                drift.append(f"{folder}/{path.name}")
    return drift


# --------------------------------------------------------------------------- as it runs in Jupyter

NOTEBOOK_PRELUDE = '''"""{name}, as it runs in Jupyter from top to bottom (made by the grader)."""
from course.jupyter.notebooks import jupyter_stand_ins as _stand_ins, run_cell as _cell

display = _stand_ins()  # a notebook has display() without an import
'''


def run_cell(namespace: dict[str, Any], index: int, source: str, notebook: str) -> None:
    """Run one cell of a notebook in the script's namespace, as a kernel runs a cell: its definitions
    stay; an error ends that cell only (the learner saw it, and ran the next cells anyway), with a
    line saying so. Tracebacks name the cell and show its lines."""
    import linecache
    import sys

    filename = f"{notebook}, cell {index}"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        code = compile(source, filename, "exec")
        exec(code, namespace)  # noqa: S102 - the learner's own cell, in the box the grader built for it
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - one failing cell must not stop the others
        print(f"({notebook}: code cell {index} stopped with {type(exc).__name__}: {exc}; the steps run without "
              "the rest of that cell)", file=sys.stderr)


def jupyter_stand_ins() -> Any:
    """What a notebook has that a script lacks, for a notebook run as a script: `display()` (it prints
    what it is given, as a kernel shows its text), and `IPython.display` where IPython is not installed."""
    import importlib.util
    import sys
    import types

    def display(*objects: Any, **_options: Any) -> None:
        for item in objects:
            print(item)

    if importlib.util.find_spec("IPython") is None and "IPython" not in sys.modules:
        class Shown:
            def __init__(self, data: Any = None, url: Any = None, filename: Any = None, **_options: Any) -> None:
                self.text = str(url or filename or data)

            def __repr__(self) -> str:
                return self.text

        package, module = types.ModuleType("IPython"), types.ModuleType("IPython.display")
        module.display = display  # type: ignore[attr-defined]
        for name in ("Image", "Markdown", "HTML", "Pretty", "JSON"):
            setattr(module, name, type(name, (Shown,), {}))
        package.display = module  # type: ignore[attr-defined]
        sys.modules.update({"IPython": package, "IPython.display": module})
    return display


def code_cells_text(data: bytes) -> str:
    """The code cells of a notebook's raw bytes, joined (magics left out): for a quick look, not for running."""
    notebook = json.loads(data.decode("utf-8-sig"))
    cells = notebook.get("cells", []) if isinstance(notebook, dict) else []
    texts = [_cell_text(c) for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    return "\n\n".join("\n".join(l for l in t.splitlines() if not l.lstrip().startswith(("%", "!"))) for t in texts)


def _runnable_cell(text: str, steps: set[int]) -> str:
    """One code cell as script text: widget lines, the notebook's own connect call and bare calls of a
    step (trying it, as `try_it(stepN)` does) dropped; a cell that does not compile becomes a stub."""
    text = _magics_out(text)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
        defined = [int(m.group(2)) for m in STEP_DEF.finditer(text)]
        stubs = [f"def step{n}():\n    raise SyntaxError({f'the cell of step {n} does not compile ({detail})'!r})\n"
                 for n in defined]
        return "\n".join(stubs) or f"# (a cell that does not compile was left out: {detail})\n"
    lines = text.splitlines()
    drop: set[int] = set()
    connect = False
    for node in tree.body:
        span = range(node.lineno - 1, node.end_lineno or node.lineno)
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and (
                call.func.id in WIDGET_CALLS or (re.fullmatch(r"step\d+", call.func.id) and not call.args)):
            drop.update(span)
            connect = connect or call.func.id == "start"
        elif isinstance(node, ast.ImportFrom) and node.module == "course.jupyter":
            drop.update(span)
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop).rstrip()
    if connect:  # the notebook's start(N) connected the kernel; a script connects with this line
        kept = "import course.auto\n" + kept
    return kept + "\n"


def _cells(notebook: dict[str, Any], steps: list[int], name: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(index, runnable text) of each code cell that holds anything, and the step numbers no cell defines."""
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    out: list[tuple[int, str]] = []
    defined: set[int] = set()
    for index, cell in enumerate(cells, 1):
        text = _cell_text(cell)
        runnable = _runnable_cell(text, set(steps))
        if runnable.strip():
            out.append((index, runnable))
        defined.update(int(m.group(2)) for m in STEP_DEF.finditer(text))
    return out, sorted(set(steps) - defined)


def _missing_steps(missing: list[int], name: str) -> str:
    stubs = []
    for number in missing:
        why = f"step {number}'s cell is missing from {name} (no cell defines step{number}())"
        stubs.append(f"def step{number}():\n    raise NotImplementedError({why!r})\n")
    return "\n\n".join(stubs)


def notebook_code(notebook: dict[str, Any], steps: list[int], *, name: str = "notebook") -> str:
    """A notebook's code cells, as one plain text (what the checks that read code look at)."""
    cells, missing = _cells(notebook, steps, name)
    return _joined_code(cells, missing, name)


def _joined_code(cells: list[tuple[int, str]], missing: list[int], name: str) -> str:
    return "\n\n".join([text for _, text in cells] + [_missing_steps(missing, name)]).strip() + "\n"


def notebook_script(notebook: dict[str, Any], steps: list[int], *, name: str = "notebook") -> str:
    """A learner's notebook as the script the grader runs like `python imageGen.py N`: every code cell in
    order, the learner's own cells included (a helper above step 1, an extra import), each run as a kernel
    runs it (an error ends that cell only); then the step runner. A step no cell defines fails clearly."""
    cells, missing = _cells(notebook, steps, name)
    return _runnable_script(cells, missing, steps, name)


def graded_notebook(notebook: dict[str, Any], steps: list[int], *, name: str = "notebook",
                    shown: str | None = None) -> tuple[str, str]:
    """(`notebook_script`, `notebook_code`) of a learner's notebook, for the grader: each cell parsed once for
    both. Code too large to parse in the grader's own process raises CourseError, with the reason (`shown`:
    the notebook as the learner sees it, `lesson1/imageGen.ipynb`)."""
    from ..lesson.checks import too_much_code

    size = sum(len(_cell_text(c).encode("utf-8", "surrogatepass")) for c in notebook.get("cells", [])
               if isinstance(c, dict) and c.get("cell_type") == "code")
    why = too_much_code(size, shown or name, notebook=True)
    if why:
        raise CourseError(why + ".")
    cells, missing = _cells(notebook, steps, name)
    return _runnable_script(cells, missing, steps, name), _joined_code(cells, missing, name)


def _runnable_script(cells: list[tuple[int, str]], missing: list[int], steps: list[int], name: str) -> str:
    parts = [NOTEBOOK_PRELUDE.format(name=name)]
    parts += [f"_cell(globals(), {index}, {text!r}, {name!r})" for index, text in cells]
    if missing:
        parts.append(_missing_steps(missing, name))
    listed = ", ".join(f"step{n}" for n in sorted(steps))
    parts.append(f'if __name__ == "__main__":\n    from course.steps import run_steps as _run_steps\n\n'
                 f"    _run_steps([{listed}])\n")
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)
