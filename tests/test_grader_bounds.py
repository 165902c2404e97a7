"""Does the grader's own process read a learner's files within bounds?

The checks run in the grader's process, outside any box: a saved picture is decoded there to compare it
with the images the API sent, and a script or a notebook is parsed there to find its step functions. A
PNG of a few hundred KB can claim 13,300x13,300 pixels (2.7 GB and 10 s to decode); 4 MB of code costs
1.7 GB and 8 s to parse. Each must be judged from what it claims, with the reason, never decoded or parsed.
"""

from __future__ import annotations

import ast
import io
import json
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from course.lesson import checks, fingerprints
from course.lesson.checks import StepRun, evaluate
from course.lesson.lessons import all_lessons, find_lesson
from course.offline.models import all_models
from course.offline.params import _gpt_size
from course.offline.requestlog import Record
from grader import handin
from grader.handin import FOUND, find_work

REPO = Path(__file__).resolve().parent.parent
SOLUTION = (REPO / "solutions" / "imageGen.py").read_text(encoding="utf-8")
NOTEBOOK = REPO / "solutions" / "imageGen.ipynb"
LESSONS = all_lessons()


def flat_png(width: int, height: int) -> bytes:
    """A black RGB PNG written row by row, never held as pixels: a few KB that claim width x height."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def sent_record(*payloads: bytes) -> Record:
    """A log row of a generation whose response carried these pictures."""
    return Record(time=0.0, method="POST", route="/v1/images/generations", status=200, model="dall-e-2",
                  params={"model": "dall-e-2", "response_format": "b64_json", "size": "256x256"},
                  images=[fingerprints.of_payload(p) for p in payloads], id=1)


def saved_picture_check(workdir: Path, record: Record):  # type: ignore[no-untyped-def]
    """Lesson 2 step 2's file_saved check, on what the run left in `workdir`."""
    result = evaluate(find_lesson(2).step(2), StepRun(2, "", "", 0, [record], workdir, 0.0))
    return next(c for c in result.checks if c.kind == "file_saved")


def padding(size: int) -> str:
    line = "    x = 1\n"
    return "def _padding():\n" + line * (size // len(line)) + "\n"


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """ast.parse counted by the size of what it was given, and refused past 1 MB (as a stand-in for 1.7 GB)."""
    sizes: list[int] = []
    real = ast.parse

    def parse(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(source))
        if len(source) > 1024 * 1024:
            raise AssertionError(f"ast.parse was given {len(source)} characters of a learner's code")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", parse)
    return sizes


# --------------------------------------------------------------------------------------- pictures


def test_a_picture_claiming_more_pixels_than_any_the_api_makes_is_refused_from_its_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(self):  # type: ignore[no-untyped-def]
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    sent = flat_png(256, 256)
    (tmp_path / "paper_boat.png").write_bytes(flat_png(5000, 5000))  # 25 million pixels in a few KB
    check = saved_picture_check(tmp_path, sent_record(sent))
    assert not check.passed
    assert check.detail == ("paper_boat.png is 5000x5000, more pixels than any picture the API makes "
                            "(3840x2160 at most), so it is not the picture the API sent this run")
    assert (5000, 5000) not in decoded  # judged from its header: never decoded

    largest = flat_png(3840, 2160)  # the largest picture the API sends is still found
    (tmp_path / "paper_boat.png").write_bytes(largest)
    assert saved_picture_check(tmp_path, sent_record(largest)).passed


def test_the_pixel_bound_is_the_largest_picture_the_course_s_models_make() -> None:
    sizes = [tuple(map(int, s.split("x"))) for m in all_models().values() for s in m.sizes if s != "auto"]
    assert all(w * h <= fingerprints.MAX_PIXELS for w, h in sizes)
    free = next(m for m in all_models().values() if m.free_sizes)
    assert _gpt_size(free, "3840x2160", "a fox") == (3840, 2160)
    assert fingerprints.MAX_PIXELS == 3840 * 2160
    with pytest.raises(Exception, match="longest edge must be less than or equal to 3840"):
        _gpt_size(free, "3856x2160", "a fox")


def test_a_saved_file_too_large_to_be_a_picture_the_api_sent_is_never_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = flat_png(256, 256)
    monkeypatch.setattr(fingerprints, "MAX_FILE_BYTES", 4096)
    (tmp_path / "paper_boat.png").write_bytes(sent + b"\0" * 8192)  # a picture, and 8 KB more
    read: list[int] = []
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(1) or real_read_bytes(self))
    check = saved_picture_check(tmp_path, sent_record(sent))
    assert not check.passed and not read
    assert check.detail == ("paper_boat.png is 0.1 MB, larger than any picture the API sends, so it is not the "
                            "picture the API sent this run")


def test_fingerprints_of_a_file_claiming_too_many_pixels_are_none_without_decoding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the picture was decoded"))
    assert fingerprints.of_file(flat_png(4000, 4000)) is None


# ------------------------------------------------------------------------------------------ code


def test_a_script_past_a_megabyte_is_not_parsed_and_the_learner_is_told_why(tmp_path: Path,
                                                                            no_parsing: list[int]) -> None:
    runner = SOLUTION.index('if __name__ == "__main__":')
    (tmp_path / "imageGen.py").write_text(SOLUTION[:runner] + padding(3 * 1024 * 1024 // 2) + SOLUTION[runner:],
                                          encoding="utf-8")
    found = find_work(tmp_path, LESSONS).lessons[1]
    assert found.status == FOUND and found.script is None
    assert found.problem == "imageGen.py is 1.6 MB, more than the 1 MB a lesson script may be"
    assert not any(size > 1024 * 1024 for size in no_parsing)


def test_a_notebook_with_more_than_a_megabyte_of_code_is_not_parsed(tmp_path: Path, no_parsing: list[int]) -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    notebook["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                 "source": padding(3 * 1024 * 1024 // 2)})
    (tmp_path / "lesson1").mkdir()
    (tmp_path / "lesson1" / "imageGen.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    found = find_work(tmp_path, LESSONS).lessons[1]
    assert found.status == FOUND and found.script is None
    assert found.problem == ("lesson1/imageGen.ipynb holds 1.6 MB of code, more than the 1 MB a lesson script "
                             "may be.")
    assert not any(size > 1024 * 1024 for size in no_parsing)


def test_the_checks_that_read_code_parse_a_learner_s_script_once(tmp_path: Path, no_parsing: list[int]) -> None:
    source = SOLUTION + f"\n# {uuid.uuid4().hex}\n"  # never parsed before in this process
    (tmp_path / "imageGen.py").write_text(source, encoding="utf-8")
    found = find_work(tmp_path, LESSONS).lessons[1]  # the search asks whether it is an untouched exercise
    assert found.source == source
    lesson = find_lesson(1)
    for number in (1, 5):  # step 1 must return its response; step 5 may call step4() first
        evaluate(lesson.step(number), StepRun(number, "", "", 0, [], tmp_path, 0.0, source=found.source))
    assert checks.calls(found.source, "step5", "step4")
    assert no_parsing.count(len(source)) == 1


def test_a_notebook_s_cells_are_parsed_once_for_the_script_and_the_checks(tmp_path: Path,
                                                                          no_parsing: list[int]) -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    (tmp_path / "imageGen.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    no_parsing.clear()
    found = find_work(tmp_path, LESSONS).lessons[1]
    assert found.script is not None and found.problem == ""
    # each code cell once, and the cells joined once (is it an untouched exercise?): not each cell twice
    assert len(no_parsing) <= len(code_cells) + 1


# ---------------------------------------------------------------------------------- the whole folder


def test_a_folder_past_the_bounds_of_a_submission_is_not_searched(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handin, "MAX_SUBMISSION_FILES", 5)
    (tmp_path / "imageGen.py").write_text(SOLUTION, encoding="utf-8")
    (tmp_path / "answers.json").write_text("{}", encoding="utf-8")
    for index in range(5):
        (tmp_path / f"photo{index}.jpg").write_bytes(b"\xff\xd8")
    found = find_work(tmp_path, LESSONS)
    assert found.answers == [] and found.holds == []
    for number, lesson in found.lessons.items():
        assert lesson.status == FOUND and lesson.script is None
        assert lesson.problem == ("the submission holds more than 5 files, too many to grade: hand in the "
                                  "lesson's files without the rest")
        assert lesson.note() == f"lesson {number}: {lesson.problem}"  # the feedback's note says it as well
    monkeypatch.setattr(handin, "MAX_SUBMISSION_FILES", 7)  # exactly the files it holds
    assert find_work(tmp_path, LESSONS).lessons[1].chosen is not None
