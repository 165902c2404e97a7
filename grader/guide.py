"""Grading a class on another Codio guide's assessments: `grader guide SUBMISSIONS --questions GUIDE --out OUT`.

Each learner's answers.json (found as `grader grade` finds it: beside the work first, then the
shallowest, zips handed in included) is scored against the guide's own assessments:

- judged here, from the answer alone: multiple choice, fill in the blanks, Parsons puzzles (each its own
  `Task.check`, as in `course quiz`, so a learner's quiz and the grader agree);
- recorded for a person: free text and the other types answered in words. Each answer goes into the
  learner's feedback and into `to_mark.csv` (learner, question, points it is out of, the answer, the
  guidance as the model answer), and counts 0 until marked: the gradebook says how many await marking;
- run again, in the grader's box: code tests (`code-output-compare`, `test`), on the guide's workspace with
  the learner's files laid over it (see `grader.commands`); what the learner's own run saved is not trusted;
- types that do not run here at all are listed with their reason.

A fault of ours (the box could not be built, the engine failed) is never a learner's zero: that
question is "not graded", the run ends with exit status 3, and running it again grades it.

The class is graded by `grader grade`'s own pipeline (`coordinator.grade_class`), on a `GuidePlan`: the gradebook
store (a second run grades only the learners who are new, changed or not fully graded; a run killed midway
resumes), and several learners at once (`jobs`). The store's fingerprint is the guide's assessments, its
workspace when a code test runs there, and the grader's and the course's code.

Out: `gradebook.csv` (a row per learner: each question's points, the total, what is possible, and the
count to mark), `feedback/<learner>.md`, `to_mark.csv`, and the store, `gradebook.sqlite3`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from course.errors import CourseError
from course.untrusted_text import for_markdown, markdown_code_block

from course.lesson.answers import HandedIn, handed_in_attempts, read_handed_in
from course.lesson.assessments import Listed, assessment_sources, list_assessments, load_guide_assessments, workspace_of
from course.lesson.code_tests import Ran
from course.lesson.task import Task
from course.lesson.wording import for_people

from .box.copying import GUIDE_WORKSPACE_SKIPPED, SKIPPED, Entry, TooBig, walk
from .commands import boxed_workspace, learner_workspace
from .coordinator import grade_class
from .grade import graded_files
from .handin import find_work
from .reports import learner_folder, spreadsheet_safe
from .runner import REPO, GraderFault
from .submissions import Submission


@dataclass
class Scored:
    task_id: str
    title: str
    kind: str
    points: float
    possible: float
    status: str  # "correct", "incorrect", "partly correct", "not answered", "to be marked", "not graded"
    reason: str
    answer: list[str] = field(default_factory=list)
    feedback: str = ""
    ran: bool = False  # a code test run in the box: `answer` is what the run found
    readable: bool = True  # `answer` reads well for a person (not answer ids)


@dataclass
class LearnerGuideResult:
    learner: str
    scored: list[Scored] = field(default_factory=list)
    answers_file: str = ""
    note: str = ""
    content_hash: str = ""  # what was handed in (`Submission.content_hash`): the store reuses an unchanged one

    @property
    def total(self) -> float:
        return sum(s.points for s in self.scored)

    @property
    def possible(self) -> float:
        return sum(s.possible for s in self.scored)

    @property
    def to_mark(self) -> int:
        return sum(s.status == "to be marked" for s in self.scored)

    @property
    def faults(self) -> list[str]:
        return [f"{s.task_id}: {s.reason}" for s in self.scored if s.status == "not graded"]

    @property
    def complete(self) -> bool:
        """Every question graded: no fault of ours left one "not graded" (the store grades it again next run)."""
        return not self.faults

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LearnerGuideResult":
        return cls(data["learner"], [Scored(**s) for s in data.get("scored", [])], data.get("answers_file", ""),
                   data.get("note", ""), data.get("content_hash", ""))


def run_test(task: Task, run: Any) -> Scored:
    """A code test run again in the box (`run`, from `grader.commands.boxed_workspace`), as the grader judges it
    (`Task.for_grader`: its feedback never says what was expected)."""
    try:
        verdict = task.for_grader().check([], runner=run)
    except GraderFault as exc:
        return Scored(task.task_id, task.name, task.kind, 0.0, task.points, "not graded",
                      f"not graded because of a fault in the grader, not in the work ({exc}); run it again")
    status = verdict.graded_status
    feedback = "\n".join(part for part in (verdict.feedback, verdict.note) if part)
    return Scored(task.task_id, task.name, task.kind, verdict.points, task.points, status,
                  f"{status}: the test was run on the work handed in", list(verdict.chosen), feedback, ran=True,
                  readable=task.answer_readable)


def checks_by_command(task: Task) -> bool:
    """An assessment answered in words whose own check is a command (free-text-auto): run only in the box, since the
    command reads the learner's answer."""
    return not task.answered_by_running and bool(getattr(task, "command", ""))


def score_task(task: Task, values: list[str] | None, used: int, *, runner: Any = None) -> Scored:
    """One assessment's score from the answer saved for it (None: not answered); not for code tests. A check that
    runs a command runs it through `runner` (the box's, from `grader.commands.boxed_workspace`)."""
    kind = task.kind
    title = task.name
    readable = task.answer_readable
    if values is None:
        return Scored(task.task_id, title, kind, 0.0, task.points, "not answered", "not answered", readable=readable)
    answer = values
    if task.over_limit(used):
        return Scored(task.task_id, title, kind, 0.0, task.points, "incorrect",
                      f"answered {used} times, more than the {task.max_attempts} attempts allowed", answer,
                      readable=readable)
    known = task.known_answer(task.answer_from_file(answer))
    if known is None:
        return Scored(task.task_id, title, kind, 0.0, task.points, "incorrect",
                      "none of the answers given is one of this question's", answer, readable=readable)
    answer = known
    verdict = task.check(answer, attempt=max(used, 1), runner=runner)
    if verdict.by_person:
        return Scored(task.task_id, title, kind, 0.0, task.points, "to be marked",
                      "recorded for marking by a person", answer, verdict.feedback, readable=readable)
    status = verdict.graded_status
    return Scored(task.task_id, title, kind, verdict.points, task.points, status,
                  f"{status} (attempt {max(used, 1)}" + (f" of {task.max_attempts})" if task.max_attempts else ")"),
                  answer, verdict.feedback, readable=readable)


def grade_learner(sub: Submission, tasks: dict[str, Task], *, guide_root: Path, box: Any = None) -> LearnerGuideResult:
    """One learner: answers scored, code tests run in the box (`box`: (slot, api), when the guide has any)."""
    result = LearnerGuideResult(sub.learner)
    with tempfile.TemporaryDirectory(prefix="guide-handin-") as scratch:
        handin = find_work(sub.path, [], Path(scratch))
        saved = HandedIn(Path())
        problem = ""
        source: Path | None = None
        for path in handin.answers:
            handed_in = read_handed_in(path)
            if handed_in.problem and not problem:
                problem = f"{path.name} could not be read: {handed_in.problem}"
            if handed_in.entries and source is None:
                saved, source = handed_in, path
        attempts = handed_in_attempts(source)
        if source is not None:
            result.answers_file = str(source.relative_to(sub.path)) if source.is_relative_to(sub.path) else source.name
        else:
            result.note = problem or "no answers.json was handed in"
        handed_in = any(p.is_file() for p in sub.path.rglob("*")) if sub.path.is_dir() else False
        where: list[Path] = []  # the learner's workspace, found once, the first time a command needs it

        def workspace() -> Path:
            if not where:
                where.append(learner_workspace(sub.path, guide_root, source))
            return where[0]

        for task_id, task in tasks.items():
            values = saved.values(task_id)
            if task.answered_by_running:
                if not handed_in:
                    result.scored.append(Scored(task_id, task.name, task.kind, 0.0, task.points, "not answered",
                                                "nothing was handed in to test"))
                    continue
                if box is None:  # no box here (a submission too big to send to a cluster's worker): nothing runs
                    result.scored.append(Scored(task_id, task.name, task.kind, 0.0, task.points, "not graded",
                                                "not graded because the grader's box was not there; run it again"))
                    continue
                slot, api = box
                try:
                    with boxed_workspace(slot, api, guide_root, workspace()) as run:
                        result.scored.append(run_test(task, run))
                except TooBig as exc:
                    result.scored.append(Scored(task_id, task.name, task.kind, 0.0, task.points, "incorrect", str(exc)))
                except OSError as exc:
                    result.scored.append(Scored(task_id, task.name, task.kind, 0.0, task.points, "not graded",
                                                f"not graded because of a fault in the grader ({exc}); run it again"))
                continue
            if values is not None and checks_by_command(task):
                scored = _score_in_box(task, values, attempts.get(task_id.casefold(), 1), box, guide_root,
                                       workspace())
            else:
                scored = score_task(task, values, attempts.get(task_id.casefold(), 1))
            if values is None and problem and scored.status == "not answered":
                scored.reason = problem
            result.scored.append(scored)
    return result


def _score_in_box(task: Task, values: list[str], used: int, box: Any, guide_root: Path, work: Path) -> Scored:
    """An answer whose check runs a command with it: in a boxed copy of the learner's workspace, never here."""
    fault = "not graded because of a fault in the grader, not in the work ({}); run it again"
    if box is None:
        return Scored(task.task_id, task.name, task.kind, 0.0, task.points, "not graded",
                      fault.format("the grader's box was not there"))
    slot, api = box
    try:
        with boxed_workspace(slot, api, guide_root, work) as run:
            return score_task(task, values, used, runner=run)
    except TooBig as exc:
        return score_task(task, values, used, runner=_not_run(str(exc)))
    except (GraderFault, OSError) as exc:
        return Scored(task.task_id, task.name, task.kind, 0.0, task.points, "not graded", fault.format(exc))


def _not_run(why: str) -> Any:
    """A runner for a workspace too big to copy into the box: nothing runs, the check says why."""
    def run(command: str, stdin: str, timeout: float, **_: Any) -> Ran:
        return Ran(command, 1, why, 0.0)
    return run


@dataclass
class GuideRun:
    guide: str
    results: list[LearnerGuideResult]
    not_here: list[Any]
    out: Path
    notes: list[str] = field(default_factory=list)  # about the run itself (the weaker box, say)


WORKSPACE_FILES = 20_000  # a guide's workspace hashed for the fingerprint: at most this many files


@dataclass
class GuidePlan:
    """A guide's assessments as `coordinator.grade_class` grades a class on them (see `coordinator.ClassPlan`)."""

    guide: Path  # as given: its folder, its .guides, a folder of question files or an assessments.json
    tasks: dict[str, Task]  # what runs here, by task id, in the guide's order
    listed: list[Listed]  # every assessment, those that do not run here with why
    root: Path  # the guide's workspace, where its code tests run
    warm: bool = True  # a code test's box is forked by a zygote (see `box.zygote`), then execs its shell
    commands_only: bool = True  # ... a zygote that imports no SDK: a code test is a shell command

    @property
    def needs_box(self) -> bool:
        return any(task.answered_by_running or checks_by_command(task) for task in self.tasks.values())

    @property
    def private(self) -> tuple[Path, ...]:
        """The guide's .guides (its expected outputs and tests), which no learner's program may read."""
        return (self.root / ".guides",)

    def fingerprint(self) -> str:
        """Changes whenever what grading means changes: the guide's assessments (and which of them run here), its
        workspace when a code test runs on it, and the code that grades (the grader and the course)."""
        digest = hashlib.sha256(b"guide\0")
        for name, data in self._parts():
            digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + data + b"\0")
        return digest.hexdigest()[:16]

    def fingerprint_parts(self) -> dict[str, str]:
        """Each part of the fingerprint with a digest of its own: a cluster's worker whose guide, workspace or code
        differs from this machine's is refused with the parts named."""
        return {name: hashlib.sha256(data).hexdigest()[:16] for name, data in self._parts()}

    def _parts(self) -> Iterator[tuple[str, bytes]]:
        yield "what runs here", json.dumps(list(self.tasks)).encode()
        for index, (raw, _) in enumerate(assessment_sources(self.guide), 1):
            yield f"assessment {index} ({raw.get('taskId', '')})", json.dumps(raw, sort_keys=True, default=str).encode()
        for entry in self._workspace_files() if self.needs_box else []:
            try:
                data = entry.path.read_bytes()
            except OSError:  # left out of the box's copy as well
                continue
            yield f"workspace {entry.relative}", data
        for path in graded_files(REPO):
            yield path.relative_to(REPO).as_posix(), path.read_bytes()

    def _workspace_files(self, skipped: tuple[str, ...] = SKIPPED) -> list[Any]:
        """The guide's workspace (its `.guides` included), within the bounds, without the folders in `skipped`."""
        try:
            return walk(self.root, max_files=WORKSPACE_FILES, skipped=skipped)
        except TooBig as exc:
            raise CourseError(f"the guide's workspace {self.root} is too big to grade in: {exc}.") from None

    def recipe(self) -> "GuideRecipe":
        """The guide packed once for a cluster's workers: its workspace (test scripts included) when it has one,
        else the assessments as given."""
        from .cluster import pack_files

        guide = self.guide.resolve()
        if (self.root / ".guides").is_dir() and guide.is_relative_to(self.root):
            # as a code test's copy takes it: with the guide's own dependency folders (node_modules)
            files, relative = self._workspace_files(GUIDE_WORKSPACE_SKIPPED), guide.relative_to(self.root).as_posix()
        elif guide.is_file():
            files, relative = [Entry(guide, guide.name, guide.stat().st_size, 0)], guide.name
        else:
            files, relative = walk(guide, max_files=WORKSPACE_FILES, skipped=SKIPPED), ""
        try:
            packed = pack_files(files)
        except TooBig as exc:
            raise CourseError(f"the guide {self.guide} is too big to send to the cluster's workers: {exc}.") from None
        return GuideRecipe(packed, "" if relative == "." else relative)

    def grade_on_cluster(self, cluster: Any, todo: list[Submission], *, timeout: float, warm: bool,
                         allow_weak_box: bool, save: Callable[[Submission, Any], None],
                         on_note: Callable[[str], None]) -> None:
        from .cluster import grade_on_cluster

        grade_on_cluster(cluster, todo, self, recipe=self.recipe(), timeout=timeout, warm=warm,
                         allow_weak_box=allow_weak_box, save=save, on_note=on_note)

    def grade(self, sub: Submission, *, engine: Any, api: Any, timeout: float) -> LearnerGuideResult:
        """One learner; a code test's own timeout holds, not `timeout` (a lesson step's)."""
        with engine.slot() if engine is not None else nullcontext() as slot:
            result = grade_learner(sub, self.tasks, guide_root=self.root, box=(slot, api) if slot is not None else None)
        result.content_hash = sub.content_hash()
        return result

    def not_graded(self, sub: Submission, why: str) -> LearnerGuideResult:
        """A learner whose grading failed on our side as a whole: every question not graded, nothing lost."""
        reason = f"not graded because of a fault in the grader, not in the work ({why}); run it again"
        return LearnerGuideResult(sub.learner, [Scored(task_id, task.name, task.kind, 0.0, task.points, "not graded",
                                                       reason) for task_id, task in self.tasks.items()],
                                  content_hash=sub.content_hash())

    def read(self, data: dict[str, Any]) -> LearnerGuideResult:
        return LearnerGuideResult.from_dict(data)

    def prepare(self) -> None:
        """Nothing to load ahead: the guide's reports draw no chart."""

    def report(self, results: list[Any], submissions: list[Submission], notes: list[str], out: Path) -> GuideRun:
        run = GuideRun(str(self.guide), results, [item for item in self.listed if not item.runs], out, notes)
        write_reports(run, self.tasks)
        return run


@dataclass
class GuideRecipe:
    """What a cluster's worker makes a guide's plan from (see `cluster.PlanRecipe`): the guide packed once, and where
    the guide as given is inside it."""

    packed: bytes
    relative: str  # "" when the packed folder is the guide itself
    what = "guide, course or grader"
    remedy = ("give every worker the same checkout, and the language runtimes the guide's code tests need "
              "('what runs here' differs when one lacks them)")

    def make(self, folder: Path) -> GuidePlan:
        from .cluster import unpack

        folder.mkdir(parents=True)
        unpack(self.packed, folder)
        return guide_plan(folder / self.relative if self.relative else folder)


def guide_plan(guide: Path) -> GuidePlan:
    """The plan of a class graded on `guide`'s assessments; a CourseError when it holds none."""
    listed = list_assessments(guide)
    if not listed:
        raise CourseError(f"{guide} holds no assessments.",
                          hint="give a guide's folder, its .guides folder, a folder of question files or an "
                               "assessments.json.")
    return GuidePlan(guide, load_guide_assessments(guide), listed, workspace_of(guide))


def grade_guide(submissions: Path, guide: Path, out: Path, *, jobs: int | None = None,
                on_result: Callable[[LearnerGuideResult, bool], None] | None = None,
                on_note: Callable[[str], None] | None = None, cluster: Any = None,
                allow_weak_box: bool = False) -> GuideRun:
    """Grade the class `submissions` (a folder or a zip) on `guide`'s assessments into `out`, as `grader grade`
    grades a class: the store, `jobs` learners at once or on `cluster`'s Dask workers (`allow_weak_box`: accept
    workers without the full box), `on_result(result, reused)` as each is known."""
    run: GuideRun = grade_class(submissions, out, plan=guide_plan(guide), jobs=jobs, on_result=on_result,
                                on_note=on_note, cluster=cluster, allow_weak_box=allow_weak_box)
    return run


def write_reports(run: GuideRun, tasks: dict[str, Any]) -> None:
    (run.out / "feedback").mkdir(parents=True, exist_ok=True)
    _write_csv(run.out / "gradebook.csv", _gradebook_rows(run, list(tasks)))
    _write_csv(run.out / "to_mark.csv", _to_mark_rows(run, tasks))
    for result in run.results:
        # grader grade's folder name for the learner: `a:b` and `a_b` get two files, not one overwritten
        path = run.out / "feedback" / f"{learner_folder(result.learner)}.md"
        path.write_text(_feedback_markdown(result, run.not_here), encoding="utf-8")


def _write_csv(path: Path, rows: list[list[Any]]) -> None:
    """Every cell as text a spreadsheet shows, never runs (an answer or a learner id like `=HYPERLINK(…)`)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([spreadsheet_safe(str(cell)) for cell in row] for row in rows)


def _csv_number(value: float) -> str:
    """A number for a program (the CSV): four decimals at most, as gradebook.csv keeps them."""
    return f"{round(float(value), 4):g}"


def _gradebook_rows(run: GuideRun, ids: list[str]) -> list[list[Any]]:
    rows: list[list[Any]] = [["learner", *ids, "total", "possible", "to_mark"]]
    for result in run.results:
        points = {s.task_id: ("" if s.status == "not graded" else _csv_number(s.points)) for s in result.scored}
        rows.append([result.learner, *(points[i] for i in ids), _csv_number(result.total), _csv_number(result.possible),
                     result.to_mark])
    return rows


def _to_mark_rows(run: GuideRun, tasks: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["learner", "question", "title", "type", "out_of", "answer", "guidance"]]
    for result in run.results:
        for s in result.scored:
            if s.status == "to be marked":
                rows.append([result.learner, s.task_id, s.title, s.kind, _csv_number(s.possible), "\n".join(s.answer),
                             tasks[s.task_id].guidance])
    return rows


def _feedback_markdown(result: LearnerGuideResult, not_here: list[Any]) -> str:
    """One learner's feedback/<learner>.md: what the learner wrote is escaped or quoted in code blocks,
    so their answers, output and folder name put no link, image, HTML or heading into it."""
    lines = [f"# {for_markdown(result.learner)}: {for_people(result.total)} of {for_people(result.possible)} points", ""]
    if result.to_mark:
        lines += [f"{result.to_mark} answer(s) are marked by a person; their points are not in the total yet.", ""]
    lines += [f"Note: {for_markdown(result.note)}" if result.note
              else f"Answers read from {for_markdown(result.answers_file)}.", ""]
    for s in result.scored:
        lines += _scored_markdown(s)
    for item in not_here:
        lines += [f"## {_question_heading(item.title, item.task_id, item.kind)}", "",
                  f"Not graded here: {for_markdown(item.why)}.", ""]
    return "\n".join(lines)


def _question_heading(title: str, task_id: str, kind: str) -> str:
    return f"{for_markdown(title)} ({for_markdown(task_id)}, {for_markdown(kind)})"


def _scored_markdown(s: Scored) -> list[str]:
    lines = [f"## {_question_heading(s.title, s.task_id, s.kind)}", ""]
    lines.append(f"To be marked by a person (out of {for_people(s.possible)} points)." if s.status == "to be marked"
                 else f"Not graded: {for_markdown(s.reason)}." if s.status == "not graded"
                 else f"{for_people(s.points)}/{for_people(s.possible)}: {for_markdown(s.reason)}")
    if s.answer and s.ran:
        lines += ["", "The test's run on your work:"]
    elif s.answer and s.readable:
        lines += ["", "Your answer:", "", markdown_code_block("\n".join(s.answer))]
    if s.feedback:
        lines += ["", markdown_code_block(s.feedback)]
    return lines + [""]
