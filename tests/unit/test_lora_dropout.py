"""CheapDropout: the same dropout as nn.Dropout (rate, independence, scaling, gradient, eval identity, seeded,
the same elements when a checkpoint recomputes it) from the dropped positions alone; and every LoRA layer of a
PEFT model gets it."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.checkpoint import checkpoint

from fmtune.models import dropout as dropout_module
from fmtune.models.dropout import CheapDropout, drop_positions, use_cheap_dropout

N = 1 << 20
CPU = torch.device("cpu")


def dropped(n: int, p: float) -> torch.Tensor:
    mask = torch.zeros(n)
    mask[drop_positions(n, p, CPU)] = 1
    return mask


@pytest.mark.parametrize("p", [0.001, 0.05, 0.1, 0.5, 0.9])
def test_the_drop_rate_is_p_within_sampling_error(p):
    torch.manual_seed(0)
    rate = dropped(N, p).mean().item()
    assert abs(rate - p) < 5 * (p * (1 - p) / N) ** 0.5


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_neighbours_and_blocks_are_dropped_as_independent_draws_would_be(p):
    torch.manual_seed(1)
    mask = dropped(N, p)
    for distance in (1, 2, 7):  # both dropped: p², as for independent draws
        both = (mask[:-distance] * mask[distance:]).mean().item()
        assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / N) ** 0.5
    counts = mask.view(-1, 64).sum(1)  # drops per block of 64: binomial, variance 64 p (1 - p)
    assert counts.var().item() == pytest.approx(64 * p * (1 - p), rel=0.05)


@given(n=st.integers(0, 3000), p=st.floats(0.0, 0.99, exclude_min=True), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_positions_are_sorted_distinct_and_inside_the_tensor(n, p, seed):
    torch.manual_seed(seed)
    positions = drop_positions(n, p, CPU)
    assert positions.dtype == torch.int64
    assert torch.all(positions[1:] > positions[:-1]) and torch.all((positions >= 0) & (positions < n))


def test_a_draw_that_falls_short_continues_where_it_stopped(monkeypatch):
    monkeypatch.setattr(dropout_module, "draw_count", lambda expected: 3)  # every draw covers only 3 drops
    torch.manual_seed(2)
    positions = drop_positions(20_000, 0.2, CPU)
    assert torch.all(positions[1:] > positions[:-1]) and int(positions[-1]) < 20_000
    assert abs(len(positions) / 20_000 - 0.2) < 5 * (0.2 * 0.8 / 20_000) ** 0.5


def test_kept_elements_are_scaled_so_the_expectation_is_unchanged():
    torch.manual_seed(3)
    out = CheapDropout(0.05).train()(torch.full((N,), 3.0))
    zero, kept = torch.unique(out).tolist()
    assert zero == 0.0 and kept == pytest.approx(3.0 / 0.95)
    assert out.mean().item() == pytest.approx(3.0, rel=2e-3)


def test_the_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(4)
    x = torch.randn(64, 32, requires_grad=True)
    out = CheapDropout(0.25).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() / 0.75)


def test_a_checkpointed_layer_recomputes_the_same_drops():
    torch.manual_seed(5)
    x = torch.randn(128, 48, requires_grad=True)
    dropout = CheapDropout(0.3).train()
    out = checkpoint(lambda t: dropout(t) * 2, x, use_reentrant=False)
    out.sum().backward()  # recomputes the dropout: a different draw would zero other elements' gradients
    assert torch.equal(x.grad, (out != 0).float() * 2 / 0.7)


def test_eval_mode_and_p_zero_are_the_identity_and_a_seed_repeats_the_drops():
    x = torch.randn(8, 16)
    assert CheapDropout(0.5).eval()(x) is x
    assert CheapDropout(0.0).train()(x) is x
    dropout = CheapDropout(0.5).train()
    torch.manual_seed(6)
    first = dropout(x)
    torch.manual_seed(6)
    assert torch.equal(first, dropout(x))


def test_p_of_one_or_more_is_refused():
    with pytest.raises(ValueError, match="0 <= p < 1"):
        CheapDropout(1.0)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=2, max_size=4), p=st.floats(0.0, 0.99),
       dtype=st.sampled_from([torch.float32, torch.bfloat16]), transpose=st.booleans())
def test_any_tensor_keeps_its_shape_and_dtype_each_value_is_dropped_or_scaled_and_its_gradient_agrees(
        shape, p, dtype, transpose):
    x = (torch.rand(*shape) + 0.5).to(dtype)  # no zeros: a dropped value shows as 0
    x = (x.transpose(0, -1) if transpose else x).requires_grad_()  # a non-contiguous input too
    out = CheapDropout(p).train()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    kept = out != 0
    assert torch.equal(out[kept], x.detach().mul(1 / (1 - p))[kept])
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad, torch.where(kept, torch.ones_like(out).mul(1 / (1 - p)), 0))


def test_every_lora_layer_of_a_peft_model_gets_it_and_eval_outputs_do_not_change():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(7)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_dropout=0.1, target_modules=[
        "q_proj", "v_proj", "up_proj"]))
    ids = torch.randint(64, (2, 7))
    before = model.eval()(input_ids=ids).logits
    assert use_cheap_dropout(model) == 6  # 3 targets x 2 layers
    dropouts = [d for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), torch.nn.ModuleDict)
                for d in m.lora_dropout.values()]
    assert len(dropouts) == 6 and all(type(d) is CheapDropout and d.p == 0.1 for d in dropouts)
    assert torch.equal(before, model.eval()(input_ids=ids).logits)
