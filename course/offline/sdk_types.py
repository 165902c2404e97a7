"""The model names the installed `openai` SDK's own types list, read from its source without importing it.

The SDK is generated from OpenAI's OpenAPI spec, and each release's `Literal` types name the models the
real API takes then: `ImageModel` (the Images API), `ChatModel` and `ResponsesModel` (the Responses API).
The offline API accepts what they list, so a newer SDK's models are accepted the day it is installed, as
the real API accepts them; `data/models.json` and `data/response_models.json` add only what the types
cannot say (each image model's sizes and limits, retirement dates, the tool's default image model), and
name the models an older SDK does not list yet.

Importing the SDK costs about a second, and the offline API otherwise never imports it: the type files
are read as text and their string literals taken with `ast`, where the SDK is installed. Where it is not,
or a file moved, the lists are empty and the pinned tables alone decide.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

# Where each type lives, newest layout first (older SDKs kept ChatModel in openai/types/).
TYPE_FILES = {
    "ImageModel": ("types/image_model.py",),
    "ChatModel": ("types/shared/chat_model.py", "types/chat_model.py"),
    "ResponsesModel": ("types/shared/responses_model.py", "types/responses/responses_model.py"),
}


def _sdk_folder() -> Path | None:
    try:
        spec = find_spec("openai")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=None)
def literal_models(type_name: str) -> tuple[str, ...]:
    """The strings of the `Literal[...]` parts of the SDK's type `type_name`, in the SDK's order; () where the
    installed SDK has no such type (or no SDK is installed)."""
    folder = _sdk_folder()
    if folder is None:
        return ()
    for relative in TYPE_FILES.get(type_name, ()):
        try:
            tree = ast.parse((folder / relative).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if isinstance(target, ast.Name) and target.id == type_name and node.value is not None:
                return tuple(dict.fromkeys(_literal_strings(node.value)))
    return ()


def _literal_strings(node: ast.AST) -> list[str]:
    """Every string constant inside a `Literal[...]` subscript of `node` (a Union's other members left out)."""
    found: list[str] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Subscript) and _name_of(child.value) == "Literal":
            found += [c.value for c in ast.walk(child.slice) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return found


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def sdk_version() -> str:
    """The installed SDK's version, from its metadata (no import); "" without one."""
    from importlib import metadata

    try:
        return metadata.version("openai")
    except metadata.PackageNotFoundError:
        return ""
