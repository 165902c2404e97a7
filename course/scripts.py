"""Running a learner's script in a forked process exactly as `python script.py ARGS` would run it.

Shared by the warm runner of `course try` and the grader's zygote: both fork a process that has the
SDK imported already, and the learner's script must not notice. `run_as_main` gives it its own
`__main__`, `sys.argv`, `sys.path[0]`, refuses a file the interpreter would refuse, and returns the
exit status the interpreter would have exited with.
"""

from __future__ import annotations

import io
import os
import sys
import tokenize
import traceback


def source_problem(path: str) -> str:
    """What `python script` says of a script it cannot even decode (PEP 263: UTF-8 unless declared),
    which `runpy.run_path` would run anyway; "" when there is nothing to say."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""  # runpy says why, as python would
    if b"\0" in data:
        return "SyntaxError: source code cannot contain null bytes"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        data.decode(encoding)
    except SyntaxError as exc:
        return f"SyntaxError: {exc}"
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return (f"SyntaxError: Non-UTF-8 code starting with '\\x{data[exc.start]:02x}' in file {path} on line {line}, "
                "but no encoding declared; see https://peps.python.org/pep-0263/ for details")
    except LookupError:
        return "SyntaxError: unknown encoding declared"
    return ""


def run_as_main(script: str, args: list[str], folder: str | None = None) -> int:
    """Run `script` as `__main__` with `sys.argv == [script, *args]`, in this process, as `python script
    ARGS` would from the current folder: `__file__` absolute, the script's folder first on `sys.path`,
    a traceback of the script's own frames if it raises. Returns the exit status the interpreter would
    have ended with. Output goes to the current sys.stdout and sys.stderr; the caller flushes them."""
    import builtins
    import importlib.machinery
    import types

    path = os.path.abspath(script)
    sys.argv = [script, *args]
    sys.path[0] = folder or os.path.dirname(os.path.realpath(path))
    problem = source_problem(path)
    if problem:  # `python imageGen.py` refuses such a file before running a line; exec would not
        os.write(2, (problem + "\n").encode("utf-8", "replace"))
        return 1
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        os.write(2, f"{sys.executable}: can't open file {path!r}: [Errno {exc.errno}] {exc.strerror}\n".encode())
        return 2
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__spec__ = None
    sys.modules["__main__"] = main
    try:
        exec(compile(source, path, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as exc:
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        if exc.code is not None:
            print(exc.code, file=sys.stderr)
            return 1
        return 0
    except BaseException as exc:  # noqa: BLE001 - a script that fails outside the step runner (at import, say)
        # Without this function's frame, as the interpreter prints it.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        return 1
    return 0


def flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the learner may have closed them
            pass
