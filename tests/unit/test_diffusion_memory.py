"""The DreamBooth memory estimate against what autograd really keeps for the tiny SD 2.x UNet, and the real
SD 2.1 UNet's shape read from its config."""

from __future__ import annotations

import pytest
import torch

from fmtune.models import memory

TINY = {"block_out_channels": [32, 64], "layers_per_block": 1, "sample_size": 64, "in_channels": 4,
        "out_channels": 4, "cross_attention_dim": 32, "attention_head_dim": [2, 4], "use_linear_projection": True}
# stabilityai/stable-diffusion-2-1-base unet/config.json (the fields the estimate reads)
SD21_UNET = {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                  "DownBlock2D"]}


def saved_bytes(config: dict, resolution: int) -> int:
    """Bytes of the distinct tensors autograd saves in one forward pass of the UNet (what backward needs)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**config)
    seen: set[int] = set()
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
        return tensor

    side = resolution // memory.VAE_DOWNSAMPLING
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        unet(torch.randn(1, 4, side, side), torch.tensor([10]), torch.randn(1, 77, 32))
    return total


@pytest.mark.parametrize("kinds", [
    (("CrossAttnDownBlock2D", "DownBlock2D"), ("UpBlock2D", "CrossAttnUpBlock2D")),  # SD 2.x-like: attention above
    (("DownBlock2D", "DownBlock2D"), ("UpBlock2D", "UpBlock2D")),
])
@pytest.mark.parametrize("layers", [1, 2])
def test_the_estimate_is_within_35_percent_of_what_autograd_keeps(kinds, layers):
    config = {**TINY, "layers_per_block": layers, "down_block_types": kinds[0], "up_block_types": kinds[1]}
    measured = saved_bytes(config, 512)
    estimated = memory.UNetShape.from_config(config).activation_bytes(512)
    assert 0.65 * measured <= estimated <= 1.35 * measured, (estimated, measured)


def test_the_real_unet_reads_its_levels_and_scales_with_the_image_area():
    shape = memory.UNetShape.from_config(SD21_UNET)
    assert shape.attention == (True, True, True, False) and shape.layers_per_block == 2
    assert shape.activation_bytes(1024) == pytest.approx(4 * shape.activation_bytes(512))
    one = memory.estimate_diffusion(shape, frozen_parameters=10, trainable=100, images=1, resolution=512)
    two = memory.estimate_diffusion(shape, frozen_parameters=10, trainable=100, images=2, resolution=512)
    half = memory.estimate_diffusion(shape, frozen_parameters=10, trainable=100, images=2, resolution=512,
                                     half_precision=True)
    assert two.activations == pytest.approx(2 * one.activations) and half.activations == pytest.approx(one.activations)
    assert one.trainable_states == 1600 and one.weights == 40
