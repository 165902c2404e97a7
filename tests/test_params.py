"""Are the rules the reference leaves to us applied consistently, in a fixed order? (in-process, no server)"""

from __future__ import annotations

import pytest

from course.offline.errors import APIError
from course.offline.params import parse


def error(route: str, fields: dict, form: bool = False) -> dict:
    with pytest.raises(APIError) as info:
        parse(route, fields, form=form)
    return info.value.body()["error"]


@pytest.mark.parametrize("size,reason", [
    ("1000x1008", "Width and height must both be divisible by 16."),
    ("3840x1024", "The aspect ratio must be between 1:3 and 3:1."),
    ("4096x2304", "The longest edge must be less than or equal to 3840."),
    ("128x128", "Requested resolution is below the current minimum pixel budget."),
    ("3072x3072", "Requested resolution exceeds the current pixel budget."),
])
def test_gpt_image_2_free_size_rules(size: str, reason: str) -> None:
    """Does each rule of the gpt-image-2 family's free sizes give its own message (the 2026 words and type)?"""
    assert error("generations", {"model": "gpt-image-2", "prompt": "x", "size": size}) == {
        "message": f"Invalid size '{size}'. {reason}", "type": "image_generation_user_error", "param": "size",
        "code": "invalid_value",
    }


def test_free_sizes_only_on_the_gpt_image_2_family() -> None:
    """Does gpt-image-1.5 list its sizes when given a free one?"""
    assert error("generations", {"model": "gpt-image-1.5", "prompt": "x", "size": "1536x864"})["message"] == (
        "Invalid value: '1536x864'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'."
    )
    assert parse("generations", {"model": "gpt-image-2", "prompt": "x", "size": "1536x864"}).width == 1536


def test_dalle_era_style_for_types_and_unknown_fields() -> None:
    """Do DALL·E-era type errors and unknown fields read like the era's jsonschema messages?"""
    assert error("generations", {"prompt": "x", "n": "two"})["message"] == "'two' is not of type 'integer' - 'n'"
    assert error("generations", {"prompt": "x", "colour": "red"})["message"] == (
        "Additional properties are not allowed ('colour' was unexpected)"
    )
    assert error("edits", {"prompt": "x", "image": {}, "n": "two"}, form=True)["message"] == (
        "'two' is not of type 'integer' - 'n'"
    )


def test_gpt_style_for_types_and_missing_fields() -> None:
    """Do GPT-image type and missing-field errors carry param and code?"""
    assert error("generations", {"model": "gpt-image-1.5", "prompt": "x", "n": "two"}) == {
        "message": "Invalid type for 'n': expected an integer, but got a string instead.",
        "type": "invalid_request_error", "param": "n", "code": "invalid_type",
    }
    assert error("generations", {"model": "gpt-image-1.5"})["code"] == "missing_required_parameter"
    assert error("generations", {"model": "gpt-image-1.5", "prompt": "x", "quality": "hd"})["message"] == (
        "Invalid value: 'hd'. Supported values are: 'low', 'medium', 'high', and 'auto'."
    )


def test_first_fault_wins() -> None:
    """With several faults, is the error always the first in the fixed order?"""
    # unknown field before type error before size
    assert "Additional properties" in error("generations", {"prompt": 5, "size": "1x1", "zzz": 1})["message"]
    assert error("generations", {"prompt": 5, "size": "1x1"})["message"] == "5 is not of type 'string' - 'prompt'"
    assert error("generations", {"prompt": "", "size": "1x1"})["message"].startswith("'1x1' is not one of")
    assert error("generations", {"model": "dall-e-3", "prompt": "x", "n": 2, "size": "256x256"})["code"] == (
        "invalid_size"
    )


def test_null_means_not_given() -> None:
    """Is an explicit JSON null (the SDK's None) treated as an absent field?"""
    p = parse("generations", {"prompt": "x", "n": None, "size": None, "model": None})
    assert (p.model.id, p.n, p.size) == ("dall-e-2", 1, "1024x1024")


def test_edits_and_variations_refuse_other_models() -> None:
    """Are dall-e-3 edits and GPT-image variations refused as invalid models?"""
    assert error("edits", {"model": "dall-e-3", "prompt": "x", "image": {}})["message"] == (
        "Invalid model dall-e-3. The model argument should be left blank."
    )
    assert error("variations", {"model": "gpt-image-1.5", "image": {}})["message"] == (
        "Invalid model gpt-image-1.5. The model argument should be left blank."
    )
