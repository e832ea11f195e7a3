"""Stable Diffusion (DreamBooth) data: the folder JumpStart takes, checked before any weights load, and each image
made into a training example (EXIF orientation, RGB, resize, crop)."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fmtune.data.images import MAX_IMAGE_PIXELS, load_training_image, read_image_folder
from fmtune.errors import UserError

INFO = {"instance_prompt": "a photo of sks dog", "class_prompt": "a photo of a dog"}


def image(path: Path, size=(64, 64), color=(200, 30, 30), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else None).save(path)
    return path


def folder(root: Path, info: dict | bytes | None = INFO, images=("a.png", "b.jpg", "c.jpeg")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in images:
        image(root / name)
    if info is not None:
        (root / "dataset_info.json").write_bytes(info if isinstance(info, bytes) else json.dumps(info).encode())
    return root


def read(root: Path, resolution: int = 64, prior: bool = False):
    return read_image_folder(root, resolution=resolution, with_prior_preservation=prior)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height, with no pixel data: huge to decode, tiny on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_a_jumpstart_folder_reads_with_its_prompts_and_class_images(tmp_path):
    root = folder(tmp_path / "dog")
    image(root / "class_data_dir" / "c1.png")
    checked = read(root, prior=True)
    assert [p.name for p in checked.instance_images] == ["a.png", "b.jpg", "c.jpeg"]
    assert [p.name for p in checked.class_images] == ["c1.png"]
    assert (checked.instance_prompt, checked.class_prompt) == ("a photo of sks dog", "a photo of a dog")
    assert checked.notices == ()


def test_class_prompt_is_optional_without_prior_preservation(tmp_path):
    checked = read(folder(tmp_path / "dog", info={"instance_prompt": "a photo of a Doppler dog"}))
    assert checked.class_prompt is None and len(checked.instance_images) == 3


@pytest.mark.parametrize(("info", "message"), [
    (None, "dataset_info.json is missing"),
    (b"\xff\xfe{}", "not UTF-8 (byte 0 is 0xff)"),
    (b'{"instance_prompt": "a dog",}', "line 1 column 29"),
    (b'["a photo of sks dog"]', "a JSON list where an object is expected"),
    ({"class_prompt": "a dog"}, '"instance_prompt" is missing'),
    ({"instance_prompt": "  "}, '"instance_prompt" must be a non-empty string'),
    ({"instance_prompt": 3}, '"instance_prompt" must be a non-empty string, not 3'),
])
def test_dataset_info_problems_name_the_file_and_the_fix(tmp_path, info, message):
    with pytest.raises(UserError, match="dataset_info.json") as err:
        read(folder(tmp_path / "dog", info=info))
    assert message in str(err.value)


def test_prior_preservation_needs_a_class_prompt(tmp_path):
    with pytest.raises(UserError, match="with_prior_preservation=True needs \"class_prompt\""):
        read(folder(tmp_path / "dog", info={"instance_prompt": "a photo of sks dog"}), prior=True)


def test_no_images_names_what_is_there(tmp_path):
    root = folder(tmp_path / "dog", images=())
    (root / "notes.txt").write_text("x")
    with pytest.raises(UserError, match=r"no \.png/\.jpg/\.jpeg images in the folder \(found: \['notes.txt'\]\)"):
        read(root)


def test_a_file_channel_is_refused(tmp_path):
    with pytest.raises(UserError, match="is a folder of .png/.jpg/.jpeg images"):
        read(image(tmp_path / "one.png"))


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    root = folder(tmp_path / "dog")
    (root / "d.png").write_bytes(b"this is not a png")
    with pytest.raises(UserError, match=r"d\.png: not an image that can be read \(the name says \.png\)"):
        read(root)


def test_a_truncated_image_is_named(tmp_path):
    root = folder(tmp_path / "dog")
    whole = tmp_path / "whole.jpg"
    Image.effect_noise((256, 256), 64).convert("RGB").save(whole, quality=95)
    (root / "cut.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UserError, match=r"cut\.jpg: the image is damaged"):
        read(root)


def test_an_absurdly_large_image_is_refused_without_decoding_it(tmp_path):
    root = folder(tmp_path / "dog")
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    png_header_only(root / "huge.png", side, side)
    with pytest.raises(UserError, match=rf"huge\.png: {side}x{side} pixels; images above 67 megapixels"):
        read(root)


def test_small_images_and_unused_files_are_notices(tmp_path):
    root = folder(tmp_path / "dog")
    image(root / "class_data_dir" / "c1.png")
    (root / "readme.md").write_text("x")
    notices = read(root, resolution=512).notices
    assert any("3 image(s) smaller than resolution=512 will be upscaled" in n for n in notices), notices
    assert any("class images are not used, since with_prior_preservation=False" in n for n in notices)
    assert any("not images, not read: readme.md" in n for n in notices)


def test_exif_orientation_is_applied_before_the_crop(tmp_path):
    # Stored wide: left half red, right half blue; EXIF 6 = displayed turned 90 degrees clockwise, so the
    # red half is on top once the orientation is applied.
    stored = Image.new("RGB", (64, 32), (255, 0, 0))
    stored.paste((0, 0, 255), (32, 0, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    stored.save(path, exif=exif, quality=100)
    out = load_training_image(path, 32, center_crop=True, rng=random.Random(0))
    assert out.size == (32, 32) and out.mode == "RGB"
    top, bottom = out.getpixel((28, 4)), out.getpixel((28, 28))
    assert top[0] > 200 and top[2] < 60, top  # red above (without the orientation: blue at x=28)
    assert bottom[2] > 200 and bottom[0] < 60, bottom


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_every_image_mode_becomes_rgb_at_the_resolution(tmp_path, mode):
    path = tmp_path / "img.png"
    Image.new("RGB", (80, 120), (10, 200, 10)).convert(mode).save(path)
    out = load_training_image(path, 64, center_crop=False, rng=random.Random(1))
    assert (out.size, out.mode) == ((64, 64), "RGB")


def test_random_crops_follow_the_seed(tmp_path):
    path = tmp_path / "noise.png"
    Image.effect_noise((256, 64), 80).convert("RGB").save(path)  # 128x32 after the resize: 97 places to crop
    crops = [load_training_image(path, 32, center_crop=False, rng=random.Random(seed)).tobytes()
             for seed in (3, 3, 4, 5, 6)]
    assert crops[0] == crops[1] and len(set(crops)) >= 3


FILE_KINDS = st.sampled_from(["png", "jpg", "garbage", "truncated", "empty", "text"])
NAMES = st.sampled_from(["a.png", "b.jpg", "c.jpeg", "D.PNG", "e.txt", "f", "dataset_info.json"])
INFOS = st.one_of(
    st.none(), st.binary(max_size=40),
    st.dictionaries(st.sampled_from(["instance_prompt", "class_prompt", "x"]),
                    st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=3).map(
                        lambda d: json.dumps(d).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(NAMES, FILE_KINDS), max_size=5), info=INFOS, prior=st.booleans(),
       resolution=st.sampled_from([8, 64, 512]))
def test_any_folder_reads_or_gets_a_user_error(tmp_path_factory, files, info, prior, resolution):
    root = tmp_path_factory.mktemp("any")
    sample = tmp_path_factory.mktemp("sample") / "s.jpg"
    Image.effect_noise((48, 40), 50).convert("RGB").save(sample)
    for name, kind in files:
        path = root / name
        if kind in ("png", "jpg"):
            Image.new("RGB", (40, 48)).save(path, format="PNG" if kind == "png" else "JPEG")
        else:
            path.write_bytes({"garbage": b"\x00\xff" * 20, "truncated": sample.read_bytes()[:200], "empty": b"",
                              "text": b"hello"}[kind])
    if info is not None:
        (root / "dataset_info.json").write_bytes(info)
    try:
        checked = read_image_folder(root, resolution=resolution, with_prior_preservation=prior)
    except UserError as err:
        assert str(root) in str(err)
        return
    assert checked.instance_images and checked.instance_prompt
    assert all(p.suffix.lower() in (".png", ".jpg", ".jpeg") for p in checked.instance_images)
    assert not prior or checked.class_prompt
