"""Do the checks follow the lesson's words, and say what happened in people's terms?

Runs are built in code (log rows as the offline API writes them), so these need no server.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from course.lesson import fingerprints
from course.lesson.checks import StepRun, describe_request, evaluate, shown_as_link
from course.lesson.explain import crash_of, error_words, learner_traceback
from course.lesson.lessons import find_lesson
from course.offline.requestlog import Record

URL = "http://127.0.0.1:8765/private/org-a/user-b/img-XYZ.png?st=1&sig=abc%3D"
URL2 = "http://127.0.0.1:8765/private/org-a/user-b/img-UVW.png?st=1&sig=def%3D"
GEN = "/v1/images/generations"
INVALID = "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'"


def row(id: int, status: int = 200, route: str = GEN, urls: list[str] | None = None, error: str | None = None,
        code: str | None = None, images: list[dict] | None = None, **params: object) -> Record:
    params.setdefault("model", "dall-e-2")
    return Record(time=0.0, method="POST", route=route, status=status, model=str(params["model"]), params=dict(params),
                  error_message=error, error_code=code, urls=urls or [], images=images or [], id=id)


def run(step: int, stdout: str = "", stderr: str = "", code: int = 0, records: list[Record] | None = None,
        source: str | None = None, workdir: Path | None = None) -> StepRun:
    return StepRun(step, stdout, stderr, code, records or [], workdir, 0.0, source=source)


def judge(lesson: int, step: int, r: StepRun):  # type: ignore[no-untyped-def]
    return evaluate(find_lesson(lesson).step(step), r)


STEP1 = "def step1():\n    response = client.images.generate(prompt=PROMPT)\n    return response\n"


def test_step1_takes_any_size_dall_e_2_makes_and_wants_the_response_handed_back() -> None:
    for size in ("256x256", "512x512", "1024x1024"):
        assert judge(1, 1, run(1, records=[row(1, size=size, n=1)], source=STEP1)).passed
    no_return = STEP1.replace("    return response\n", "")
    result = judge(1, 1, run(1, records=[row(1, size="256x256")], source=no_return))
    assert not result.passed and any("has no return line" in c.detail for c in result.checks)
    defaults = judge(1, 1, run(1, records=[row(1)], source=STEP1))  # model, n and size left to the API's defaults
    assert defaults.passed


def test_no_free_points_for_a_step_that_does_nothing() -> None:
    result = judge(1, 1, run(1, records=[], source=STEP1))  # `return response` written, no request made
    assert result.points == 0
    assert {c.kind: c.passed for c in result.checks} == {"request": False, "returns": False, "exit": False}
    printed = judge(1, 2, run(2, stdout="ImagesResponse(created=1, data=[...])\n", records=[]))
    assert printed.points == 0


def test_print_only_the_url_wants_the_url_itself() -> None:
    record = row(1, size="256x256", urls=[URL])
    assert judge(1, 3, run(3, stdout=URL + "\n", records=[record])).passed
    assert judge(1, 3, run(3, stdout=f"Here is your image: {URL}\n", records=[record])).passed
    assert judge(1, 3, run(3, stdout=f"creating...\nURL:{URL}\n", records=[record])).passed
    wrapped = judge(1, 3, run(3, stdout=f"Image(b64_json=None, revised_prompt=None, url='{URL}')\n", records=[record]))
    assert not wrapped.passed and "inside the Image object" in wrapped.checks[0].detail
    both = judge(1, 3, run(3, stdout=f"ImagesResponse(created=1, data=[Image(url='{URL}')])\n{URL}\n", records=[record]))
    assert not both.passed and "not only the URL" in both.checks[0].detail
    assert not shown_as_link(URL, "{'url': '" + URL + "'}") and shown_as_link(URL, f"['{URL}']")


def test_print_both_links_wants_both() -> None:
    record = row(1, route="/v1/images/variations", urls=[URL, URL2], n="2")
    assert judge(2, 5, run(5, stdout=f"{URL}\n{URL2}\n", records=[record])).passed
    one = judge(2, 5, run(5, stdout=f"{URL}\n", records=[record]))
    assert not one.passed and "only some of the links" in one.checks[1].detail


def test_go_back_to_any_size_the_model_makes() -> None:
    source = "def step5():\n    step4()\n    r = client.images.generate(size='1024x1024')\n    print(r.data[0].url)\n"
    records = [row(1, 400, size="255x255", error=INVALID), row(2, size="1024x1024", urls=[URL])]
    assert judge(1, 5, run(5, stdout=f"refused\n{URL}\n", records=records, source=source)).passed


def test_step5_is_not_failed_for_step4s_own_mistake_but_is_without_step4() -> None:
    calls = "def step5():\n    step4()\n    r = client.images.generate(size='512x512')\n    print(r.data[0].url)\n"
    records = [row(1, size="256x256", urls=[URL2]), row(2, size="512x512", urls=[URL])]
    assert judge(1, 5, run(5, stdout=URL + "\n", records=records, source=calls)).passed
    alone = calls.replace("    step4()\n", "")
    result = judge(1, 5, run(5, stdout=URL + "\n", records=records[1:], source=alone))
    assert not result.passed and result.points == 15


def test_step4_wants_the_refusal_caught() -> None:
    refused = [row(1, 400, size="255x255", error=INVALID)]
    caught = judge(1, 4, run(4, stdout=f"The API refused the request: Error code: 400 - {INVALID}\n", records=refused))
    assert caught.passed
    wrapped = "The API refused:\n" + INVALID.replace(" - 'size'", "\n- 'size'")  # textwrap over two lines
    assert judge(1, 4, run(4, stdout=wrapped, records=refused)).passed
    traceback = f"Traceback (most recent call last):\nopenai.BadRequestError: Error code: 400 - {INVALID}\n"
    uncaught = judge(1, 4, run(4, stderr=traceback, code=1, records=refused))
    assert not uncaught.passed and uncaught.points == 10
    assert [c.passed for c in uncaught.checks] == [True, False]


def test_a_content_policy_step_wants_a_content_policy_refusal() -> None:
    policy = [row(1, 400, error="Your request was rejected as a result of our safety system.", code="content_policy_violation")]
    assert judge(2, 6, run(6, stdout="refused: content_policy_violation\n", records=policy)).passed
    other = [row(1, 400, model="dall-e-3", error="You must provide n=1 for this model.", n=2)]
    result = judge(2, 6, run(6, stdout="You must provide n=1 for this model.\n", records=other))
    assert not result.passed and "for another reason" in result.checks[0].detail


def test_an_edit_with_a_mask_wants_a_mask() -> None:
    upload = {"filename": "lounge.png", "size": 1000, "sha256": "ab"}
    with_mask = row(1, route="/v1/images/edits", urls=[URL], image=upload, mask=upload)
    without = row(1, route="/v1/images/edits", urls=[URL], image=upload)
    assert judge(2, 4, run(4, stdout=URL + "\n", records=[with_mask])).passed
    result = judge(2, 4, run(4, stdout=URL + "\n", records=[without]))
    assert not result.passed and "without a mask" in result.checks[0].detail


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_saved_image_must_be_the_one_the_api_sent(tmp_path: Path) -> None:
    sent = _png((10, 20, 30))
    record = row(1, response_format="b64_json", size="256x256", images=[fingerprints.of_payload(sent)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "paper_boat.png").write_bytes(sent)  # in a folder of its own: found
    assert judge(2, 2, run(2, records=[record], workdir=tmp_path)).passed
    resaved = io.BytesIO()
    Image.open(io.BytesIO(sent)).save(resaved, "PNG", compress_level=9)  # re-saved with Pillow: same pixels
    (tmp_path / "out" / "paper_boat.png").write_bytes(resaved.getvalue())
    assert judge(2, 2, run(2, records=[record], workdir=tmp_path)).passed
    (tmp_path / "out" / "paper_boat.png").write_bytes(_png((10, 20, 31)))  # drawn locally
    result = judge(2, 2, run(2, records=[record], workdir=tmp_path))
    assert not result.passed and "not the picture the API sent this run" in result.checks[1].detail


def test_dall_e_3_wants_its_revised_prompt_printed() -> None:
    images = [{"sha256": "x", "pixels": "y", "revised_prompt": "A cat. A finely detailed picture."}]
    record = row(1, model="dall-e-3", quality="hd", style="natural", n=1, urls=[URL], images=images)
    assert judge(2, 1, run(1, stdout=f"revised prompt: A cat. A finely detailed picture.\n{URL}\n", records=[record])).passed
    result = judge(2, 1, run(1, stdout=URL + "\n", records=[record]))
    assert [c.kind for c in result.checks if not c.passed] == ["printed_field"]


def test_any_gpt_image_model_makes_step_7() -> None:
    for model in ("gpt-image-2", "gpt-image-1", "gpt-image-1.5"):
        assert judge(2, 7, run(7, records=[row(1, model=model, output_format="webp")])).checks[0].passed
    assert not judge(2, 7, run(7, records=[row(1, model="dall-e-3", output_format="webp")])).checks[0].passed


def test_requests_in_words() -> None:
    assert describe_request({"model": "dall-e-2", "n": 1, "size": "256x256"}) == "one dall-e-2 image at 256x256"
    assert describe_request({"n": 2}, "variations") == "two variations"
    assert describe_request({}, "edits", has=["mask"]) == "an edit with a mask"
    result = judge(1, 1, run(1, records=[row(1, model="dall-e-3", size="1024x1024", n=1)], source=STEP1))
    assert result.checks[0].detail == "it asked for one dall-e-3 image at 1024x1024"
    assert "{" not in result.checks[0].text


# ------------------------------------------------------------------------------------- explain

TRACEBACK = '''Traceback (most recent call last):
  File "imageGen.py", line 43, in step5
    step4()
  File "imageGen.py", line 38, in step4
    client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="255x255")
  File "/srv/venv/lib/python3.11/site-packages/openai/_base_client.py", line 1248, in request
    raise self._make_status_error_from_response(err.response) from None
openai.BadRequestError: Error code: 400 - {'error': {'code': None, 'message': "'255x255' is not one of ['256x256'] - 'size'", 'param': 'size', 'type': 'invalid_request_error'}}
hint [invalid-size]: '255x255' is not a size dall-e-2 can make.
'''


def test_tracebacks_keep_the_learners_frames_only() -> None:
    shown = learner_traceback(TRACEBACK, "/tmp/grade-x/copy")
    assert 'File "imageGen.py", line 43, in step5' in shown and "site-packages" not in shown
    assert "hint [" not in shown and shown.rstrip().endswith("'type': 'invalid_request_error'}}")
    runpy = 'Traceback (most recent call last):\n  File "<frozen runpy>", line 291, in run_path\n' \
            '  File "/tmp/grade-x/copy/helpers.py", line 3, in make\n    boom()\nNameError: name \'boom\' is not defined\n'
    shown = learner_traceback(runpy, "/tmp/grade-x/copy")
    assert "<frozen runpy>" not in shown and 'File "helpers.py", line 3, in make' in shown


def test_a_crash_inside_an_earlier_step_is_named() -> None:
    crash = crash_of(TRACEBACK)
    assert crash is not None and crash.steps == [5, 4] and crash.earlier_step(5) == 4 and crash.earlier_step(4) is None
    assert crash.exception == "BadRequestError (400): '255x255' is not one of ['256x256'] - 'size'"


def test_errors_in_words() -> None:
    assert error_words("openai.BadRequestError: Error code: 400 - {'error': {'message': 'No.', 'code': 'x'}}") == \
        "BadRequestError (400): No."
    assert error_words("TypeError: 'ImagesResponse' object is not subscriptable") == \
        "TypeError: 'ImagesResponse' object is not subscriptable"


def test_two_variations_asked_for_one_at_a_time_count() -> None:
    one = row(1, route="/v1/images/variations", urls=[URL], n="1")
    two = row(2, route="/v1/images/variations", urls=[URL2], n="1")
    assert judge(2, 5, run(5, stdout=f"{URL}\n{URL2}\n", records=[one, two])).passed
    assert not judge(2, 5, run(5, stdout=f"{URL}\n", records=[one])).passed


def test_an_edit_with_image_and_mask_swapped_is_not_the_edit(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "mask.png").write_bytes(b"the mask's bytes")
    import hashlib

    mask = {"filename": "mask.png", "size": 16, "sha256": hashlib.sha256(b"the mask's bytes").hexdigest()}
    lounge = {"filename": "lounge.png", "size": 9, "sha256": "cd"}
    swapped = row(1, route="/v1/images/edits", urls=[URL], image=mask, mask=lounge)
    result = judge(2, 4, run(4, stdout=URL + "\n", records=[swapped], workdir=tmp_path))
    assert not result.passed and "swapped" in result.checks[0].detail
    right = row(1, route="/v1/images/edits", urls=[URL], image=lounge, mask=mask)
    assert judge(2, 4, run(4, stdout=URL + "\n", records=[right], workdir=tmp_path)).passed


def test_step7_wants_its_tokens_printed_and_step6_the_refusals_code() -> None:
    record = row(1, model="gpt-image-2", output_format="webp", images=[{"sha256": "a", "pixels": "b", "total_tokens": "1634"}])
    failed = {c.kind: c.passed for c in judge(2, 7, run(7, stdout="saved lighthouse.webp\n", records=[record])).checks}
    assert failed["printed_field"] is False
    shown = judge(2, 7, run(7, stdout="saved lighthouse.webp: 1536x1024, 1634 tokens\n", records=[record]))
    assert {c.kind: c.passed for c in shown.checks}["printed_field"]
    gpt = [row(1, 400, model="gpt-image-2", error="Your request was rejected by the safety system.", code="moderation_blocked")]
    assert judge(2, 6, run(6, stdout="moderation_blocked\n", records=gpt)).passed
    message_only = [row(1, 400, error="Your request was rejected as a result of our safety system.", code="content_policy_violation")]
    assert not judge(2, 6, run(6, stdout="Your request was rejected as a result of our safety system.\n", records=message_only)).passed
