"""Copying between learners: the pairs of a class whose code is too alike to have been written apart.

Each learner's file for a lesson is the one `grader grade` grades (`grader.handin.find_work`: any spelling of
its name, three folders down, inside a zip), read as its checks read it: a notebook as the code its cells make
(`course.jupyter.notebooks.notebook_code`), so a notebook and a script made from it are compared as equals.

The comparison is copydetect's (MOSS's method): the code is tokenised as Python, with every name, attribute and
string replaced by one letter and every comment and blank dropped, so renamed variables, reworded comments and
docstrings, other quotes and other blank lines do not hide a copy; its fingerprints are the hashes of every run
of `NOISE` characters of those tokens (a winnowing window of 1, so the fingerprints kept never depend on
Python's per-process string hash salt: the report is the same on every run). What the lesson gives everyone
never counts: the fingerprints of the exercise (script and notebook), of the code blocks of the lesson's pages
and of the solution's lines that the pages give are taken out of every learner's before comparing.

A pair's `similarity` is the share of the code of their own (what is left after the boilerplate) that they
share, taken on the learner for whom it is larger: a copier who added code of their own still matches the
source in full. A pair is judged likely copied when that share is at least `THRESHOLD` and the shared code is
at least `MIN_SHARED` characters of tokens (two learners who each added one line can share all of it by
chance). Both figures come from measurement: `benchmarks/bench_similarity.py` (recall on copies in every
disguise, false flags on independent learners, time for a class of 200).
"""

from __future__ import annotations

import csv
import html
import io
import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from course.lesson.lessons import Lesson

from .handin import FOUND, find_work
from .reports import spreadsheet_safe, write_summary_section
from .runner import REPO
from .submissions import Submission, load_submissions, unpack_zip

NOISE = 25  # characters of tokens a match must span (copydetect's noise threshold, its default)
THRESHOLD = 0.7  # the share of a learner's own code shared with the other's, from which a pair is flagged
MIN_SHARED = 100  # characters of tokens shared, at least, for a pair to be flagged
CSV_NAME = "similarity.csv"
SECTION = "similarity"
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Work:
    """One learner's file for one lesson, as compared."""

    learner: str
    lesson: int
    shown: str  # the file as the learner sees it: "lesson1/imageGen.ipynb"
    code: str


@dataclass
class Pair:
    """Two learners' files for one lesson, judged likely copied; `a` sorts before `b`."""

    lesson: int
    a: Work
    b: Work
    similarity: float
    shared_lines: int  # lines of a's file the shared regions cover
    regions_a: list[tuple[int, int]]  # (start, end) character ranges of a.code that b shares
    regions_b: list[tuple[int, int]]
    shared_tokens: int = 0  # characters of tokens shared (names and strings one character each)

    def csv_row(self) -> list[str]:
        return [str(self.lesson), spreadsheet_safe(self.a.learner), spreadsheet_safe(self.b.learner),
                f"{self.similarity:.3f}", str(self.shared_lines)]

    def html(self) -> list[str]:
        """The two files side by side, what they share marked."""
        head = (f"<p><strong>{_e(self.a.learner)}</strong> and <strong>{_e(self.b.learner)}</strong>: "
                f"{round(100 * self.similarity)}% alike, {self.shared_lines} line{'' if self.shared_lines == 1 else 's'}"
                f" of {_e(self.a.learner)}'s file shared</p>")
        columns = [f'<div style="min-width:0"><p class="muted">{_e(w.learner)}: {_e(w.shown)}</p>'
                   f"<pre>{_marked(w.code, regions)}</pre></div>"
                   for w, regions in ((self.a, self.regions_a), (self.b, self.regions_b))]
        return [head, '<div style="display:grid;grid-template-columns:1fr 1fr;gap:.6rem">', *columns, "</div>"]


@dataclass
class Group:
    """Three learners or more of one lesson joined by pairs judged copied: likely one source shared."""

    lesson: int
    learners: list[str]
    pairs: list[Pair]  # the closest pairs that join them all (one fewer than the learners)


@dataclass
class SimilarityReport:
    """Every pair judged likely copied in a class, lesson by lesson; renders itself as CSV and as HTML."""

    pairs: list[Pair]
    compared: dict[int, int] = field(default_factory=dict)  # lesson -> files compared
    threshold: float = THRESHOLD

    def groups(self) -> list[Group]:
        """Flagged pairs joined into groups per lesson; a group of two is a plain pair."""
        groups = []
        for lesson in sorted({p.lesson for p in self.pairs}):
            parent: dict[str, str] = {}

            def root(name: str) -> str:
                while parent.setdefault(name, name) != name:
                    name = parent[name]
                return name

            tree: list[Pair] = []
            for pair in sorted((p for p in self.pairs if p.lesson == lesson), key=lambda p: -p.similarity):
                ra, rb = root(pair.a.learner), root(pair.b.learner)
                if ra != rb:
                    parent[ra] = rb
                    tree.append(pair)
            members: dict[str, list[str]] = {}
            for name in parent:
                members.setdefault(root(name), []).append(name)
            for names in members.values():
                pairs = [p for p in tree if root(p.a.learner) == root(names[0])]
                groups.append(Group(lesson, sorted(names), sorted(pairs, key=lambda p: (p.a.learner, p.b.learner))))
        return sorted(groups, key=lambda g: (g.lesson, g.learners))

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["lesson", "learner_a", "learner_b", "similarity", "shared_lines"])
        for pair in self.pairs:
            writer.writerow(pair.csv_row())
        return buffer.getvalue()

    def html(self) -> list[str]:
        """summary.html's section: each group of three or more as one, then each pair, side by side."""
        files = sum(self.compared.values())
        out = ["<h2>Likely copied</h2>",
               f'<p class="muted">{files} lesson files compared, pair by pair within each lesson. The lesson\'s own '
               "code (the exercise, the pages' code, the solution's lines the pages give) never counts; names, "
               "strings, comments and blank lines are set aside, so a renamed or reworded copy still matches. A pair "
               f"is listed when {round(100 * self.threshold)}% or more of one learner's own code is in the other's "
               f"file ({CSV_NAME} lists the same pairs). Marked: what they share. Read the code before you act: "
               "similar is not proof of copying.</p>"]
        groups = self.groups()
        if not groups:
            return out + ["<p>No pair was judged likely copied.</p>"]
        for group in groups:
            if len(group.learners) > 2:
                out.append(f"<h3>Lesson {group.lesson}: a group of {len(group.learners)} learners sharing one source: "
                           f"{', '.join(_e(name) for name in group.learners)}</h3>")
            else:
                out.append(f"<h3>Lesson {group.lesson}: {_e(group.learners[0])} and {_e(group.learners[1])}</h3>")
            for pair in group.pairs:
                out += pair.html()
        return out


def _e(text: object) -> str:
    """Learner ids, file names and code come from learners: escaped for HTML text and attributes."""
    return html.escape(str(text), quote=True)


def _marked(code: str, regions: list[tuple[int, int]]) -> str:
    parts, at = [], 0
    for start, end in regions:
        parts += [_e(code[at:start]), "<mark>", _e(code[start:end]), "</mark>"]
        at = end
    return "".join(parts + [_e(code[at:])])


# ------------------------------------------------------------------------------------------- the lesson's own


def page_code(lesson: Lesson) -> list[str]:
    """The fenced code blocks of the lesson's pages."""
    blocks = []
    for page in sorted(lesson.folder.glob("*.md")):
        blocks += [m.group(2) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]
    return blocks


def boilerplate(lesson: Lesson, repo: Path = REPO) -> list[str]:
    """What every learner is given for `lesson`: the exercise script and notebook, the pages' code blocks, and
    the solution as far as the pages give it (its lines outside the solution blocks, which are the exercise's,
    and inside them the lines a page shows), so that what joins the pages' pieces in a whole script counts too."""
    from course.jupyter.notebooks import notebook_code, read_notebook
    from course.lesson.solutions import BEGIN, END

    texts = []
    exercise = repo / "exercises" / lesson.script
    if exercise.is_file():
        texts.append(exercise.read_text(encoding="utf-8"))
    notebook = exercise.with_suffix(".ipynb")
    if notebook.is_file():
        texts.append(notebook_code(read_notebook(notebook), [int(s["number"]) for s in lesson.steps]))
    blocks = page_code(lesson)
    texts += blocks
    given = "\n".join(_layout_free(block) for block in blocks)
    solution = repo / "solutions" / lesson.script
    if solution.is_file():
        kept, inside = [], False
        for line in solution.read_text(encoding="utf-8").splitlines(keepends=True):
            if BEGIN.match(line) or END.match(line):
                inside = bool(BEGIN.match(line))
            elif not inside or (line.strip() and _layout_free(line).rstrip(",") in given):
                kept.append(line)
        texts.append("".join(kept))
    return texts


def _boilerplate_hashes(lesson: Lesson) -> Any:
    return _hashes_of(tuple(boilerplate(lesson)))


def _layout_free(code: str) -> str:
    """Code without its layout, to find a solution line in a page that spreads a call over several lines:
    no white space, no comma before a closing bracket, one kind of quote."""
    return re.sub(r",([)\]}])", r"\1", re.sub(r"\s+", "", code)).replace("'", '"')


@lru_cache(maxsize=8)
def _hashes_of(texts: tuple[str, ...]) -> Any:
    """Every fingerprint of the texts (copydetect's hashes are salted per process: never kept across runs)."""
    hashes: set[int] = set()
    for text in texts:
        hashes.update(int(h) for h in fingerprint(text).hashes)
    return frozenset(hashes)


def fingerprint(code: str, boilerplate: frozenset[int] = frozenset()) -> Any:
    """copydetect's fingerprint of some Python code, every run of `NOISE` token characters (a window of 1),
    without the boilerplate's. (copydetect's own boilerplate removal assumes a file's hashes are all different,
    which with a window of 1 they are not, a repeated statement repeating them: they are taken out here.)"""
    from copydetect import CodeFingerprint
    from copydetect.utils import get_token_coverage

    print_ = CodeFingerprint("learner.py", NOISE, 1, fp=io.StringIO(code), language="python")
    if boilerplate:
        print_.hashes = {h for h in print_.hashes if int(h) not in boilerplate}
        print_.hash_idx = {h: at for h, at in print_.hash_idx.items() if int(h) not in boilerplate}
        print_.token_coverage = get_token_coverage(print_.hash_idx, NOISE, len(print_.filtered_code))
    return print_


# ------------------------------------------------------------------------------------------------ comparing


def class_work(submissions: Iterable[Submission], lessons: list[Lesson]) -> dict[int, list[Work]]:
    """Each lesson's files, learner by learner, found as `grader grade` finds them (zips in a folder included)."""
    work: dict[int, list[Work]] = {lesson.number: [] for lesson in lessons}
    with tempfile.TemporaryDirectory(prefix="similar-") as scratch:
        for index, sub in enumerate(submissions):
            handin = find_work(sub.path, lessons, Path(scratch) / str(index))
            for lesson in lessons:
                found = handin.lessons[lesson.number]
                if found.status == FOUND and found.chosen is not None and found.source.strip():
                    work[lesson.number].append(Work(sub.learner, lesson.number, found.origin, found.source))
    return work


def _lines(code: str, regions: list[tuple[int, int]]) -> int:
    covered: set[int] = set()
    for start, end in regions:
        first = code.count("\n", 0, start)
        covered.update(range(first, first + code.count("\n", start, max(start, end - 1)) + 1))
    return len(covered)


def _regions(slices: Any, code: str) -> list[tuple[int, int]]:
    """copydetect's slices as sorted, merged (start, end) ranges within the code."""
    pairs = sorted((max(0, int(s)), min(len(code), int(e))) for s, e in zip(slices[0], slices[1]))
    merged: list[tuple[int, int]] = []
    for start, end in pairs:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def compare_lesson(lesson: Lesson, files: list[Work], *, threshold: float = THRESHOLD,
                   min_shared: int = MIN_SHARED) -> list[Pair]:
    """Every pair of `files` (one lesson's) judged likely copied, most alike first."""
    from copydetect import compare_files

    common = _boilerplate_hashes(lesson)
    prints = [(w, fingerprint(w.code, common)) for w in sorted(files, key=lambda w: w.learner)]
    prints = [(w, p) for w, p in prints if p.hashes]  # nothing of their own: nothing to copy or be copied
    pairs = []
    for i, (a, fa) in enumerate(prints):
        for b, fb in prints[i + 1:]:
            if fa.hashes.isdisjoint(fb.hashes):
                continue
            shared, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
            similarity = min(1.0, float(max(share_a, share_b)))
            if similarity < threshold or shared < min_shared:
                continue
            regions_a, regions_b = _regions(slices_a, a.code), _regions(slices_b, b.code)
            pairs.append(Pair(lesson.number, a, b, similarity, _lines(a.code, regions_a), regions_a, regions_b,
                              int(shared)))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a.learner, p.b.learner))


def compare_class(submissions: list[Submission], lessons: list[Lesson], *, threshold: float = THRESHOLD,
                  min_shared: int = MIN_SHARED) -> SimilarityReport:
    """The copying report of a class, for the lessons given."""
    work = class_work(submissions, lessons) if len(submissions) > 1 else {l.number: [] for l in lessons}
    pairs = []
    for lesson in lessons:
        if len(work[lesson.number]) > 1:
            pairs += compare_lesson(lesson, work[lesson.number], threshold=threshold, min_shared=min_shared)
    return SimilarityReport(pairs, {n: len(files) for n, files in work.items()}, threshold)


def write_similarity(report: SimilarityReport, out: Path) -> list[Path]:
    """OUT/similarity.csv, and the report's section of OUT/summary.html (the page alone when OUT has none)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / CSV_NAME
    target.write_text(report.csv(), encoding="utf-8", newline="\n")
    return [target, write_summary_section(out, SECTION, report.html())]


def similar_class(source: Path, out: Path, lessons: list[Lesson]) -> SimilarityReport:
    """`grader similar`: a class (a folder of learner folders, or a zip of one) compared without grading."""
    with tempfile.TemporaryDirectory(prefix="similar-class-") as tmp:
        root = unpack_zip(source, Path(tmp))[0] if source.is_file() else source
        report = compare_class(load_submissions(root), lessons)
    write_similarity(report, out)
    return report
