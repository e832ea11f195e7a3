"""DreamBooth data, as JumpStart's Stable Diffusion fine-tuning takes it (shared/reference/stable-diffusion.md):
one folder of instance images (.png/.jpg/.jpeg) with `dataset_info.json` {"instance_prompt": ..., "class_prompt":
...}, and optionally `class_data_dir/` with class images for prior preservation.

`read_image_folder` checks everything before any weights load: every image is decoded once (a truncated or
mislabelled file is named here, not mid-training), sizes are read from the headers first (an absurdly large
image is refused without decoding it), and the prompts are checked against the settings that need them.
`load_training_image` is the one way an image becomes a training example: EXIF orientation, RGB, resize of the
short side to the resolution (`resized_training_image`, which a recipe may keep), centre or random crop
(`crop_training_image`).
"""

from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fmtune.errors import UserError

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DATASET_INFO = "dataset_info.json"
CLASS_DIR = "class_data_dir"
MAX_IMAGE_PIXELS = 8192 * 8192  # larger images are refused: decoding one takes GBs of memory
MAX_INFO_BYTES = 1 << 20


@dataclass(frozen=True)
class ImageFolder:
    """A checked DreamBooth folder: what training reads."""

    instance_images: tuple[Path, ...]
    class_images: tuple[Path, ...]
    instance_prompt: str
    class_prompt: str | None
    notices: tuple[str, ...]


def read_image_folder(folder: Path, *, resolution: int, with_prior_preservation: bool) -> ImageFolder:
    """The channel's images and prompts, checked; a UserError naming the file and the fix otherwise."""
    if not folder.is_dir():
        raise UserError(
            f"{folder}: a Stable Diffusion training channel is a folder of .png/.jpg/.jpeg images with "
            f"{DATASET_INFO} ({{\"instance_prompt\": \"a photo of sks dog\"}}) beside them, not a single file.")
    info = _read_dataset_info(folder / DATASET_INFO)
    instance_prompt = _prompt(info, "instance_prompt", folder / DATASET_INFO)
    if instance_prompt is None:
        raise UserError(f"{folder / DATASET_INFO}: \"instance_prompt\" is missing; it is the prompt your images "
                        "show, with a rare token for the subject, e.g. {\"instance_prompt\": \"a photo of sks dog\"}.")
    class_prompt = _prompt(info, "class_prompt", folder / DATASET_INFO)
    if with_prior_preservation and class_prompt is None:
        raise UserError(f"{folder / DATASET_INFO}: with_prior_preservation=True needs \"class_prompt\" (the same "
                        "prompt without the subject's token, e.g. \"a photo of a dog\"): add it, or set "
                        "with_prior_preservation=False.")
    notices: list[str] = []
    instance_images = _checked_images(folder, resolution, notices)
    if not instance_images:
        others = sorted(p.name for p in folder.iterdir() if p.name != DATASET_INFO)[:5]
        raise UserError(f"{folder}: no .png/.jpg/.jpeg images in the folder (found: {others or 'nothing else'}); "
                        "put the subject's images directly in it.")
    class_dir = folder / CLASS_DIR
    class_images = _checked_images(class_dir, resolution, notices) if class_dir.is_dir() else ()
    if class_images and not with_prior_preservation:
        notices.append(f"{class_dir}: {len(class_images)} class images are not used, since "
                       "with_prior_preservation=False.")
    ignored = sorted(p.name for p in folder.iterdir()
                     if p.name not in (DATASET_INFO, CLASS_DIR) and p.suffix.lower() not in IMAGE_SUFFIXES)
    if ignored:
        notices.append(f"{folder}: not images, not read: {', '.join(ignored[:5])}"
                       f"{f' and {len(ignored) - 5} more' if len(ignored) > 5 else ''}.")
    return ImageFolder(instance_images, class_images, instance_prompt, class_prompt, tuple(notices))


def load_training_image(path: Path, resolution: int, *, center_crop: bool, rng: random.Random) -> Image:
    """The image as training sees it: EXIF orientation applied, RGB, short side resized to `resolution`
    (Lanczos), then a centre crop or a random one (from `rng`, so that a resumed run crops the same)."""
    return crop_training_image(resized_training_image(path, resolution), resolution, center_crop=center_crop,
                               rng=rng)


def resized_training_image(path: Path, resolution: int) -> Image:
    """The decoded image, EXIF orientation applied, RGB, its short side resized to `resolution` (Lanczos): what
    every crop of it starts from, so a recipe can decode each file once."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = image.size
    scale = resolution / min(width, height)
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def crop_training_image(image: Image, resolution: int, *, center_crop: bool, rng: random.Random) -> Image:
    """A `resolution` square of a resized image: its centre, or a place drawn from `rng`."""
    spare_x, spare_y = image.width - resolution, image.height - resolution
    left, top = (spare_x // 2, spare_y // 2) if center_crop else (rng.randint(0, spare_x), rng.randint(0, spare_y))
    return image.crop((left, top, left + resolution, top + resolution))


def _read_dataset_info(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path.parent}: {DATASET_INFO} is missing; write {{\"instance_prompt\": \"a photo of sks "
                        "dog\"}} (and \"class_prompt\" for prior preservation) beside the images.")
    raw = path.read_bytes()
    if len(raw) > MAX_INFO_BYTES:
        raise UserError(f"{path}: {len(raw)} bytes; {DATASET_INFO} holds two prompts (at most {MAX_INFO_BYTES} "
                        "bytes).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 (byte {err.start} is {raw[err.start]:#04x}); save it as UTF-8.") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: line {err.lineno} column {err.colno}: {err.msg}; it must be a JSON object "
                        "such as {\"instance_prompt\": \"a photo of sks dog\"}.") from None
    if not isinstance(info, dict):
        raise UserError(f"{path}: a JSON {type(info).__name__} where an object is expected, such as "
                        "{\"instance_prompt\": \"a photo of sks dog\"}.")
    return info


def _prompt(info: dict, key: str, path: Path) -> str | None:
    value = info.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{path}: \"{key}\" must be a non-empty string, not {json.dumps(value)[:80]}.")
    return value.strip()


def _checked_images(folder: Path, resolution: int, notices: list[str]) -> tuple[Path, ...]:
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    small = [p.name for p in paths if min(_checked_size(p)) < resolution]
    if small:
        notices.append(f"{folder}: {len(small)} image(s) smaller than resolution={resolution} will be upscaled "
                       f"(blurry results are likely): {', '.join(small[:5])}.")
    return tuple(paths)


def _checked_size(path: Path) -> tuple[int, int]:
    """(width, height) of a decodable image; a UserError for anything else. Sizes come from the header, so a
    huge image is refused before it is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise UserError(f"{path}: {width}x{height} pixels; images above {MAX_IMAGE_PIXELS // 10**6} "
                                    "megapixels are refused. Downscale it (the training resolution is 512 or 768).")
                image.load()  # decodes everything: a truncated file fails here
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{path}: too large to decode safely; downscale it below {MAX_IMAGE_PIXELS // 10**6} "
                        "megapixels.") from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image that can be read (the name says {path.suffix}); replace or remove "
                        "it.") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt data
        raise UserError(f"{path}: the image is damaged ({err}); replace or remove it.") from None
    return width, height
