"""FID's Fréchet distance against its closed form, where the covariances commute: |μ₁ − μ₂|² + Σᵢ (σ₁ᵢ − σ₂ᵢ)²."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fmtune.models.fid import frechet_distance


def axis_points(mean: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """Points ±spread_i on each axis around `mean`: their sample mean is `mean` and their sample covariance is
    diagonal, exactly, with variances 2 spread_i² / (2D - 1)."""
    dims = len(mean)
    rows = torch.cat([torch.diag(spread), -torch.diag(spread)]) + mean
    assert rows.shape == (2 * dims, dims)
    return rows.double()


def closed_form(mean_a, spread_a, mean_b, spread_b) -> float:
    scale = 2 / (2 * len(mean_a) - 1)
    sd_a, sd_b = (scale * spread_a.double() ** 2).sqrt(), (scale * spread_b.double() ** 2).sqrt()
    return float((mean_a - mean_b).double().square().sum() + (sd_a - sd_b).square().sum())


@settings(max_examples=50, deadline=None)
@given(dims=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_the_distance_matches_its_closed_form(dims, seed):
    g = torch.Generator().manual_seed(seed)
    mean_a, mean_b = (torch.randn(dims, generator=g, dtype=torch.float64) for _ in range(2))
    spread_a, spread_b = (torch.rand(dims, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))
    got = frechet_distance(axis_points(mean_a, spread_a), axis_points(mean_b, spread_b))
    assert got == pytest.approx(closed_form(mean_a, spread_a, mean_b, spread_b), rel=1e-9, abs=1e-9)


def test_identical_sets_are_zero_apart_and_order_does_not_matter():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(40, 16, generator=g)
    assert frechet_distance(features, features[torch.randperm(40, generator=g)]) == pytest.approx(0, abs=1e-9)
    shifted = features + 3.0
    assert frechet_distance(features, shifted) == pytest.approx(16 * 9.0, rel=1e-9)  # the means move 3 on each axis


def test_a_rank_deficient_covariance_still_gives_a_finite_distance():
    g = torch.Generator().manual_seed(1)
    few, other = torch.randn(4, 64, generator=g), torch.randn(4, 64, generator=g)  # DreamBooth-sized sets
    value = frechet_distance(few, other)
    assert value > 0 and torch.isfinite(torch.tensor(value))
