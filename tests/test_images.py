"""Do successful calls parse in the real SDK, and are the pictures what the issue promises?"""

from __future__ import annotations

import base64
import urllib.request

import pytest
from PIL import Image

from tests.pngs import decode, mask, png

pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


def colours(image: Image.Image) -> int:
    return len(image.convert("RGB").getcolors(1 << 24) or [])


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024"])
def test_dalle2_url_has_exact_size(server, size: str) -> None:
    """Does a dall-e-2 URL serve a PNG of exactly the requested size?"""
    response = server.client().images.generate(prompt="a dog smoking a cigar in a poker room", n=1, size=size)
    assert len(response.data) == 1 and response.data[0].b64_json is None
    image = decode(fetch(response.data[0].url))
    assert image.format == "PNG"
    assert f"{image.width}x{image.height}" == size


def test_default_model_and_size(server) -> None:
    """With no model and no size, is it dall-e-2 at 1024x1024, as in 2024?"""
    from course.offline.requestlog import read_log

    response = server.client().images.generate(prompt="a lighthouse")
    assert decode(fetch(response.data[0].url)).size == (1024, 1024)
    assert read_log(server.data_dir)[0].model == "dall-e-2"


def test_n_images_are_distinct(server) -> None:
    """Does n=3 give three different images?"""
    response = server.client().images.generate(prompt="three red apples", n=3, size="256x256")
    assert len(response.data) == 3
    blobs = {fetch(item.url) for item in response.data}
    assert len(blobs) == 3


def test_same_request_same_bytes_and_b64_matches_url(server) -> None:
    """Is the picture deterministic, and does b64_json decode to the very bytes the URL serves?"""
    client = server.client()
    by_url = client.images.generate(prompt="a green owl", size="256x256")
    by_b64 = client.images.generate(prompt="a green owl", size="256x256", response_format="b64_json")
    assert by_b64.data[0].url is None
    assert base64.b64decode(by_b64.data[0].b64_json) == fetch(by_url.data[0].url)
    other = client.images.generate(prompt="a purple owl", size="256x256", response_format="b64_json")
    assert other.data[0].b64_json != by_b64.data[0].b64_json


def test_server_seed_changes_pictures(start_server) -> None:
    """Does the server's --seed change every picture, and the same seed repeat them?"""
    a = start_server(seed=1).client().images.generate(prompt="a cat", size="256x256", response_format="b64_json")
    b = start_server(seed=2).client().images.generate(prompt="a cat", size="256x256", response_format="b64_json")
    c = start_server(seed=1).client().images.generate(prompt="a cat", size="256x256", response_format="b64_json")
    assert a.data[0].b64_json == c.data[0].b64_json != b.data[0].b64_json


def test_picture_is_visibly_the_prompts(server) -> None:
    """Is the image far from blank, and coloured by the colour words of its prompt?"""
    client = server.client()
    red = decode(base64.b64decode(client.images.generate(
        prompt="a red barn under a red sky", size="256x256", response_format="b64_json").data[0].b64_json))
    blue = decode(base64.b64decode(client.images.generate(
        prompt="a blue whale in a blue sea", size="256x256", response_format="b64_json").data[0].b64_json))
    assert colours(red) > 50 and colours(blue) > 50
    r, g, b = red.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert r > b + 40
    r, g, b = blue.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert b > r + 40


def test_dalle3_options_and_revised_prompt(server) -> None:
    """Does dall-e-3 honour quality, style and its sizes, and revise the prompt?"""
    response = server.client().images.generate(
        model="dall-e-3", prompt="a white siamese cat", size="1792x1024", quality="hd", style="natural"
    )
    item = response.data[0]
    assert item.revised_prompt and item.revised_prompt.startswith("a white siamese cat")
    assert decode(fetch(item.url)).size == (1792, 1024)
    plain = server.client().images.generate(
        model="dall-e-3", prompt="I NEED to test how the tool works with extremely simple prompts. DO NOT add any "
        "detail, just use it AS-IS: a cat", response_format="b64_json")
    assert plain.data[0].revised_prompt == "a cat"


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")])
def test_gpt_image_formats_and_usage(server, fmt: str, magic: bytes) -> None:
    """Does a GPT image model answer in base64, in the requested format and size, with usage?"""
    response = server.client().images.generate(
        model="gpt-image-2", prompt="a tall lighthouse", size="1024x1536", output_format=fmt, quality="low"
    )
    data = base64.b64decode(response.data[0].b64_json)
    assert data.startswith(magic)
    assert decode(data).size == (1024, 1536)
    assert response.output_format == fmt and response.size == "1024x1536" and response.quality == "low"
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0
    assert response.data[0].url is None


def test_gpt_image_free_size_and_transparency(server) -> None:
    """Does the gpt-image-2 family take a free WxH, and does background=transparent give alpha?"""
    response = server.client().images.generate(
        model="gpt-image-2", prompt="a sticker of a fox", size="1536x864", background="transparent"
    )
    image = decode(base64.b64decode(response.data[0].b64_json))
    assert image.size == (1536, 864) and image.mode == "RGBA"
    assert image.getchannel("A").getextrema()[0] == 0
    assert response.background == "transparent"


def test_gpt_image_auto_size_is_standard(server) -> None:
    """Does size=auto choose one of the standard sizes?"""
    response = server.client().images.generate(model="gpt-image-1.5", prompt="a wide landscape at dusk")
    assert response.size in ("1024x1024", "1536x1024", "1024x1536")
    assert decode(base64.b64decode(response.data[0].b64_json)).size == tuple(map(int, response.size.split("x")))


def _outside(image: Image.Image, box: tuple[int, int, int, int]) -> list:
    w, h = image.size
    x0, y0, x1, y1 = box
    return [image.getpixel((x, y)) for y in range(h) for x in range(w) if not (x0 <= x < x1 and y0 <= y < y1)]


def test_edit_with_mask_keeps_every_pixel_outside_it(server) -> None:
    """Does an edit change only where the mask is transparent, leaving every other pixel as it was?"""
    source = png((256, 256), "RGBA")
    response = server.client().images.edit(
        image=("room.png", source, "image/png"), mask=("mask.png", mask((256, 256)), "image/png"),
        prompt="a pink flamingo", size="256x256",
    )
    out = decode(fetch(response.data[0].url)).convert("RGBA")
    before = decode(source).convert("RGBA")
    hole = (64, 64, 192, 192)
    assert _outside(out, hole) == _outside(before, hole)
    assert out.crop(hole).tobytes() != before.crop(hole).tobytes()


def test_edit_uses_the_images_own_transparency(server) -> None:
    """Without a mask, do the image's transparent pixels mark where to edit?"""
    source = png((256, 256), "RGBA", hole=True)
    response = server.client().images.edit(
        image=("room.png", source, "image/png"), prompt="a golden cat", size="256x256", response_format="b64_json"
    )
    out = decode(base64.b64decode(response.data[0].b64_json)).convert("RGBA")
    before = decode(source).convert("RGBA")
    hole = (64, 64, 192, 192)
    assert _outside(out, hole) == _outside(before, hole)
    assert out.getchannel("A").getextrema() == (255, 255)  # the hole has been painted in


def test_variation_is_derived_from_its_input(server) -> None:
    """Is a variation of the requested size, different from its input yet close to it in colour?"""
    source = png((256, 256), "RGB", colour=(20, 160, 60))
    response = server.client().images.create_variation(image=("leaf.png", source, "image/png"), n=2, size="256x256")
    outs = [decode(fetch(item.url)).convert("RGB") for item in response.data]
    assert outs[0].tobytes() != outs[1].tobytes()
    for out in outs:
        assert out.size == (256, 256)
        assert out.tobytes() != decode(source).convert("RGB").tobytes()
        r, g, b = out.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        assert g > r and g > b  # still the green picture it came from


def test_gpt_edit_with_several_images(server) -> None:
    """Does a GPT image edit take several images and answer in base64 with usage?"""
    response = server.client().images.edit(
        model="gpt-image-1.5",
        image=[("a.png", png((512, 512)), "image/png"), ("b.png", png((512, 512), colour=(200, 0, 0)), "image/png")],
        prompt="put them in a basket", size="1024x1024",
    )
    assert decode(base64.b64decode(response.data[0].b64_json)).size == (1024, 1024)
    assert response.usage.input_tokens_details.image_tokens > 0


def test_models_list_matches_installed_sdk(server) -> None:
    """Does GET /v1/models list every image model the installed SDK knows?"""
    import typing

    from openai.types.image_model import ImageModel

    ids = {m.id for m in server.client().models.list()}
    assert set(typing.get_args(ImageModel)) <= ids
    assert server.client().models.retrieve("dall-e-3").id == "dall-e-3"


def test_an_edited_pictures_caption_is_drawn_whole_inside_the_edited_region() -> None:
    """The caption of an edit is readable: drawn whole (pure white text on its band) across the widest row of
    the region, never cut by a round mask nor blended at half strength; every pixel outside stays."""
    from PIL import ImageDraw

    from course.offline import render

    source = Image.new("RGB", (256, 256), (30, 120, 200))
    mask = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(mask).ellipse((64, 64, 192, 192), fill=255)
    out = render.apply_edit(source, mask, "a sunlit lounge with a pool", 7).convert("RGB")
    bright = lambda pixel: min(pixel) >= 175  # noqa: E731 - the caption's white text (anti-aliased)
    white = [(x, y) for y in range(256) for x in range(256) if bright(out.getpixel((x, y)))]
    assert len(white) > 30 and all(mask.getpixel(p) for p in white)
    assert all(out.getpixel((x, y)) == (30, 120, 200) for y in range(0, 256, 7) for x in range(0, 256, 7)
               if not mask.getpixel((x, y)))
    blended = render.apply_edit(source, Image.new("L", (256, 256), 140), "a sunlit lounge with a pool", 7).convert("RGB")
    assert sum(bright(blended.getpixel((x, y))) for y in range(256) for x in range(256)) > 30
