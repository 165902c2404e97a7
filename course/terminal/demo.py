"""`course demo`: lesson 1's reference solution, run through every step against the offline API.

It is the main job of the README's Quick start: it shows the steps' output, saves each image under
`images/` (or `--out`), previews them when the terminal can, and says where they went.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..build import REPO


def run_demo(out: Path) -> int:
    from rich.console import Console

    from ..lesson.lessons import find_lesson
    from .trying import show, try_step

    console = Console(highlight=False)
    lesson = find_lesson(1)
    source = REPO / "solutions" / lesson.script
    passed = 0
    with tempfile.TemporaryDirectory(prefix="course-demo-") as tmp:
        script = Path(tmp) / lesson.script
        shutil.copy(source, script)
        for step in lesson.steps:
            outcome = try_step(lesson, step["number"], script, images_dir=out.resolve())
            show(outcome, console)
            passed += outcome.result.passed
    console.rule()
    console.print(f"{passed}/{len(lesson.steps)} steps of lesson 1 passed. The images are in {out.resolve()}",
                  soft_wrap=True)
    return 0 if passed == len(lesson.steps) else 1
