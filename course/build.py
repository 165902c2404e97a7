"""`course build`: the learners' files, generated from the instructors' sources.

- `exercises/*.py` from `solutions/*.py`: every `# BEGIN SOLUTION` ... `# END SOLUTION` block
  becomes one `todo()` line at the block's indentation (`course.lesson.solutions`);
- `exercises/assets/` is a byte copy of `solutions/assets/`;
- `course/content/assessments/` holds the hash-locked copies of `solutions/assessments/`;
- `exercises/*.ipynb` and `solutions/*.ipynb`: each lesson as a notebook (`course.jupyter.notebooks`), the
  learner's and the instructor's.

It sits above the lessons and the notebooks, which it both uses. `check_build()` rebuilds into a temporary folder and lists every file that differs, so a test (and
CI) fails when the committed copies drift from their sources.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

from .errors import CourseError
from .lesson.solutions import strip_solutions

REPO = Path(__file__).resolve().parents[1]


def build(repo: Path = REPO, *, exercises: Path | None = None, assessments: Path | None = None,
          notebooks: bool = True) -> list[Path]:
    """Write the generated files; returns the paths written."""
    from .lesson.questions import build_locked

    solutions = repo / "solutions"
    exercises = exercises or repo / "exercises"
    assessments = assessments or repo / "course" / "content" / "assessments"
    written: list[Path] = []
    exercises.mkdir(parents=True, exist_ok=True)
    for script in sorted(solutions.glob("*.py")):
        target = exercises / script.name
        target.write_text(strip_solutions(script.read_text(encoding="utf-8"), name=str(script)), encoding="utf-8")
        written.append(target)
    if (solutions / "assets").is_dir():
        shutil.rmtree(exercises / "assets", ignore_errors=True)
        shutil.copytree(solutions / "assets", exercises / "assets")
        written.extend(sorted((exercises / "assets").iterdir()))
    assessments.mkdir(parents=True, exist_ok=True)
    for old in assessments.glob("*.json"):
        old.unlink()
    written.extend(build_locked(solutions / "assessments", assessments))
    if notebooks:
        from .lesson.lessons import all_lessons
        from .jupyter.notebooks import build_notebooks

        written += build_notebooks(all_lessons(), exercises, repo=repo)
        written += build_notebooks(all_lessons(), solutions, solutions=True, repo=repo)
    return written


def check_build(repo: Path = REPO) -> list[str]:
    """Files whose committed copy differs from a fresh build (empty when all is in step)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_ex, fresh_q = Path(tmp) / "exercises", Path(tmp) / "assessments"
        build(repo, exercises=fresh_ex, assessments=fresh_q, notebooks=False)
        drift: list[str] = []
        for fresh_root, committed_root, label in (
            (fresh_ex, repo / "exercises", "exercises"),
            (fresh_q, repo / "course" / "content" / "assessments", "course/content/assessments"),
        ):
            fresh = {p.relative_to(fresh_root) for p in fresh_root.rglob("*") if p.is_file()}
            committed = {p.relative_to(committed_root) for p in committed_root.rglob("*")
                         if p.is_file() and p.suffix in (".py", ".json", ".png", ".jpg")
                         and not _is_learner_output(p)}
            for rel in sorted(fresh | committed):
                a, b = fresh_root / rel, committed_root / rel
                if not a.exists() or not b.exists() or not filecmp.cmp(a, b, shallow=False):
                    drift.append(f"{label}/{rel}")
        from .jupyter.notebooks import check_notebooks

        return drift + check_notebooks(repo)


def _is_learner_output(path: Path) -> bool:
    """Pictures the lesson scripts save next to themselves are not generated files."""
    return path.parent.name != "assets" and path.suffix in (".png", ".jpg")


def draw_assets(folder: Path) -> list[Path]:
    """The pictures lesson 2 edits: a square PNG, a mask with a transparent hole, the same picture as JPEG."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    lounge = Image.new("RGB", (512, 512), (236, 222, 196))
    draw = ImageDraw.Draw(lounge)
    draw.rectangle((0, 330, 512, 512), fill=(120, 160, 200))  # the pool
    draw.rectangle((40, 60, 200, 250), fill=(250, 240, 170), outline=(120, 100, 60), width=6)  # a window
    draw.rectangle((300, 200, 480, 320), fill=(170, 90, 60))  # a sofa
    draw.ellipse((330, 150, 380, 200), fill=(230, 120, 80))  # a cushion
    mask = Image.new("RGBA", (512, 512), (0, 0, 0, 255))
    ImageDraw.Draw(mask).ellipse((160, 300, 352, 492), fill=(0, 0, 0, 0))  # edit here: in the pool
    paths = [folder / "lounge.png", folder / "mask.png", folder / "lounge.jpg"]
    lounge.convert("RGBA").save(paths[0], "PNG")
    mask.save(paths[1], "PNG")
    lounge.save(paths[2], "JPEG", quality=85)
    return paths
