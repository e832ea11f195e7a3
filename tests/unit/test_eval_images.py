"""The pieces of a text-to-image evaluation that need no pipeline: CLIP score's definition (torchmetrics'
CLIPScore: 100 · max(cos, 0), averaged), what a CLIP folder must hold, and which prompts are drawn."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fmtune.evaluation.images import evaluation_prompts
from fmtune.models.clip import check_clip_folder, clip_score


@pytest.mark.parametrize(("angle", "expected"), [(0.0, 100.0), (60.0, 50.0), (90.0, 0.0), (120.0, 0.0)])
def test_clip_score_is_100_times_the_cosine_floored_at_zero(angle, expected):
    radians = math.radians(angle)
    image = torch.tensor([[3.0, 0.0]])  # lengths do not matter: the embeddings are compared by direction
    text = torch.tensor([[0.5 * math.cos(radians), 0.5 * math.sin(radians)]])
    assert clip_score(image, text) == pytest.approx(expected, abs=1e-4)


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=4, max_size=4),
       st.lists(st.floats(-10, 10, allow_nan=False), min_size=4, max_size=4))
def test_clip_score_is_between_0_and_100(a, b):
    image, text = torch.tensor([a]), torch.tensor([b])
    if image.norm() < 1e-3 or text.norm() < 1e-3:
        return
    assert 0.0 <= clip_score(image, text) <= 100.0 + 1e-4


def test_a_clip_folder_needs_a_clip_config_and_safetensors(tmp_path):
    assert "has no config.json" in check_clip_folder(str(tmp_path / "none"))
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert "is not a CLIP model" in check_clip_folder(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "clip"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    assert "no *.safetensors" in check_clip_folder(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert check_clip_folder(str(tmp_path)) is None


def test_the_prompts_are_the_subject_its_new_settings_and_its_class():
    assert evaluation_prompts("a photo of sks dog", None, "a photo of a dog") == [
        "a photo of sks dog", "a photo of sks dog on a beach", "a photo of sks dog as an oil painting",
        "a photo of a dog"]
    # a validation prompt of its own is drawn too; one equal to the instance prompt is not drawn twice
    assert evaluation_prompts("sks dog", "sks dog in a bucket", None)[:2] == ["sks dog", "sks dog in a bucket"]
    assert evaluation_prompts("sks dog", "sks dog", None).count("sks dog") == 1
