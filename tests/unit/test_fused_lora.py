"""FusedLoraLinear computes what peft's lora.Linear computes, forward and backward, and steps aside otherwise."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model

from fmtune.models import fused_lora
from fmtune.models.dropout import DROPOUT_RANGE, use_cheap_dropout
from fmtune.models.fused_lora import use_fused_lora


class Block(torch.nn.Module):
    def __init__(self, width: int, out: int, bias: bool):
        super().__init__()
        self.up = torch.nn.Linear(width, out, bias=bias)
        self.down = torch.nn.Linear(out, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.nn.functional.silu(self.up(x)))


def pair(width: int = 24, out: int = 40, rank: int = 4, dropout: float = 0.0, bias: bool = False, **extra):
    """The same LoRA model twice: peft's forward, and routed through the fused one."""
    torch.manual_seed(0)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=["up", "down"], **extra)
    peft_model = get_peft_model(Block(width, out, bias), config)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; a non-zero B makes every gradient count
            torch.nn.init.normal_(parameter, std=0.1)
    use_cheap_dropout(peft_model)
    fused = copy.deepcopy(peft_model)
    assert use_fused_lora(fused) == 2
    return peft_model, fused


def run(model, x: torch.Tensor, bf16: bool = False, seed: int = 1, grad_input: bool = True):
    """Output and the gradients of the input and the LoRA weights."""
    model.train()
    x = x.clone().requires_grad_(grad_input)
    torch.manual_seed(seed)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(x)
    (out.float() * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
    grads = {name.removeprefix("inner."): p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    return out.detach().float(), (x.grad if grad_input else None), grads


def assert_close_in_norm(expected, actual, relative: float):
    """bf16 rounding: every tensor within `relative` of peft's, in norm (single elements may round apart)."""
    pairs = [(expected[0], actual[0]), (expected[1], actual[1]),
             *((expected[2][name], actual[2][name]) for name in expected[2])]
    for want, got in pairs:
        assert (got.float() - want.float()).norm() <= relative * want.float().norm()


def assert_same(expected, actual, **tolerance):
    torch.testing.assert_close(actual[0], expected[0], **tolerance)
    if expected[1] is not None:
        torch.testing.assert_close(actual[1].float(), expected[1].float(), **tolerance)
    assert actual[2].keys() == expected[2].keys()
    for name in expected[2]:
        assert actual[2][name].dtype == expected[2][name].dtype == torch.float32
        torch.testing.assert_close(actual[2][name], expected[2][name], **tolerance, msg=name)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("bias", [False, True])
def test_fp32_training_pass_matches_peft_with_the_same_dropped_elements(dropout, bias):
    peft_model, fused = pair(dropout=dropout, bias=bias)
    x = torch.randn(3, 7, 24)
    assert_same(run(peft_model, x), run(fused, x), rtol=1e-5, atol=1e-6)


def test_the_fused_function_really_runs_in_training_and_not_in_eval(monkeypatch):
    peft_model, fused = pair()
    calls, forward = [], fused_lora.FusedLoraLinear.forward

    def counted(*args):
        calls.append(1)
        return forward(*args)

    monkeypatch.setattr(fused_lora.FusedLoraLinear, "forward", staticmethod(counted))
    x = torch.randn(2, 5, 24)
    run(fused, x)
    assert len(calls) == 2
    fused.eval()
    with torch.no_grad():
        assert torch.equal(fused(x), peft_model.eval()(x))  # peft's own forward, bit for bit
    assert len(calls) == 2


def test_bf16_autocast_matches_peft_to_bf16_rounding_with_inputs_in_either_precision():
    peft_model, fused = pair(dropout=0.05)
    for x in (torch.randn(4, 9, 24), torch.randn(4, 9, 24).bfloat16()):  # norm outputs fp32, attention's bf16
        assert_close_in_norm(run(peft_model, x, bf16=True), run(fused, x, bf16=True), relative=1e-2)


def test_no_input_gradient_is_computed_where_the_input_needs_none():
    peft_model, fused = pair(dropout=0.1)
    x = torch.randn(2, 6, 24)
    assert_same(run(peft_model, x, grad_input=False), run(fused, x, grad_input=False), rtol=1e-5, atol=1e-6)


def test_the_profiler_sees_the_fused_dropout_as_lora_dropout_forward_and_backward():
    """bench/profile_run.py groups LoRA dropout by this range; the fused layers must keep it."""
    _, fused = pair(dropout=0.1)
    with torch.profiler.profile() as profiler:
        run(fused, torch.randn(2, 6, 24))
    events = profiler.events()
    ranges = [e for e in events if e.name == DROPOUT_RANGE]
    assert len(ranges) == 4  # two layers, forward and backward
    inside = {e.name for e in events if e.cpu_parent is not None and e.cpu_parent.name == DROPOUT_RANGE}
    assert "aten::index_fill_" in inside


def test_a_checkpointed_recomputation_drops_the_same_elements():
    _, fused = pair(dropout=0.3)
    x = torch.randn(2, 8, 24)
    plain = run(fused, x, seed=5)
    fused.zero_grad()

    class Checkpointed(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.utils.checkpoint.checkpoint(self.inner, x, use_reentrant=False)

    assert_same(plain, run(Checkpointed(fused), x, seed=5), rtol=1e-6, atol=1e-7)


def test_what_the_fused_function_does_not_cover_goes_to_peft():
    peft_model, fused = pair(use_dora=True)  # a LoRA variant: peft's own forward
    x = torch.randn(2, 4, 24)
    assert_same(run(peft_model, x), run(fused, x), rtol=0, atol=0)
    peft_model, fused = pair()
    with peft_model.disable_adapter(), fused.disable_adapter():
        assert torch.equal(run(fused, x)[0], run(peft_model, x)[0])


@settings(max_examples=20, deadline=None)
@given(tokens=st.integers(1, 33), width=st.integers(1, 40), out=st.integers(1, 40), rank=st.integers(1, 8),
       dropout=st.sampled_from([0.0, 0.05, 0.5]), transposed=st.booleans())
def test_any_shape_and_layout_matches_peft(tokens, width, out, rank, dropout, transposed):
    peft_model, fused = pair(width, out, rank, dropout)
    x = torch.randn(width, tokens).t() if transposed else torch.randn(tokens, width)  # non-contiguous or not
    assert_same(run(peft_model, x), run(fused, x), rtol=1e-4, atol=1e-5)
