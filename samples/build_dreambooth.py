"""Build samples/dreambooth/ from scikit-image's `chelsea.png` (CC0; see samples/README.md).

    pip download scikit-image==0.26.0 --no-deps -d /tmp/skimage && unzip -o /tmp/skimage/*.whl 'skimage/data/chelsea.png' -d /tmp/skimage
    python samples/build_dreambooth.py /tmp/skimage/skimage/data/chelsea.png

Four views of one cat (the whole photo, two crops, one mirrored close-up) as small JPEGs, and the
dataset_info.json JumpStart's Stable Diffusion fine-tuning reads. Needs Pillow only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent / "dreambooth"
# (left, top, right, bottom) boxes in the 451 x 300 photo, the size each view is saved at, mirrored or not
VIEWS = {
    "chelsea-1.jpg": ((0, 0, 451, 300), (384, 256), False),
    "chelsea-2.jpg": ((40, 0, 340, 300), (256, 256), False),
    "chelsea-3.jpg": ((110, 10, 350, 250), (256, 256), False),
    "chelsea-4.jpg": ((150, 0, 450, 300), (256, 256), True),
}
INFO = {"instance_prompt": "a photo of a Chelsea cat", "class_prompt": "a photo of a cat"}


def main(source: Path) -> None:
    photo = Image.open(source).convert("RGB")
    assert photo.size == (451, 300), f"{source}: expected scikit-image's 451 x 300 chelsea.png"
    OUT.mkdir(exist_ok=True)
    for name, (box, size, mirrored) in VIEWS.items():
        view = photo.crop(box).resize(size, Image.Resampling.LANCZOS)
        if mirrored:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        view.save(OUT / name, quality=90)
    (OUT / "dataset_info.json").write_text(json.dumps(INFO, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
