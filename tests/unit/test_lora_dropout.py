"""CheapDropout: the same dropout as nn.Dropout (rate, scaling, gradient, eval identity, seeded) from fewer
random draws; and every LoRA layer of a PEFT model gets it."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fmtune.models.dropout import CheapDropout, drop_rate, keep_mask, use_cheap_dropout

N = 1 << 20


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5, 0.9])
def test_the_drop_rate_is_p_within_sampling_error(p):
    torch.manual_seed(0)
    kept = keep_mask(torch.Size([N]), p, torch.device("cpu")).float().mean().item()
    sd = (p * (1 - p) / N) ** 0.5
    assert abs((1 - kept) - p) < 5 * sd + 1e-5


def test_the_four_elements_one_draw_serves_are_independent():
    torch.manual_seed(1)
    p = 0.3
    mask = keep_mask(torch.Size([N]), p, torch.device("cpu")).view(-1, 4).float()
    for a, b in ((0, 1), (1, 2), (2, 3), (0, 3)):  # both dropped: p², as for independent draws
        both = ((1 - mask[:, a]) * (1 - mask[:, b])).mean().item()
        assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / (N // 4)) ** 0.5


def test_kept_elements_are_scaled_so_the_expectation_is_unchanged():
    torch.manual_seed(2)
    dropout = CheapDropout(0.05).train()
    x = torch.full((N,), 3.0)
    out = dropout(x)
    scale = 1 / (1 - drop_rate(0.05))
    zero, kept = torch.unique(out).tolist()
    assert zero == 0.0 and kept == pytest.approx(3.0 * scale)
    assert out.mean().item() == pytest.approx(3.0, rel=2e-3)


def test_the_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(3)
    x = torch.randn(64, 32, requires_grad=True)
    out = CheapDropout(0.25).train()(x)
    out.sum().backward()
    scale = 1 / (1 - drop_rate(0.25))
    assert torch.equal(x.grad, (out != 0).float() * scale)


def test_eval_mode_and_p_zero_are_the_identity_and_a_seed_repeats_the_mask():
    x = torch.randn(8, 16)
    assert CheapDropout(0.5).eval()(x) is x
    assert CheapDropout(0.0).train()(x) is x
    dropout = CheapDropout(0.5).train()
    torch.manual_seed(4)
    first = dropout(x)
    torch.manual_seed(4)
    assert torch.equal(first, dropout(x))


def test_p_is_applied_to_a_sixteen_bit_resolution():
    assert drop_rate(0.05) == 3277 / 65536
    assert abs(drop_rate(0.123456) - 0.123456) <= 0.5 / 65536


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), p=st.floats(0.0, 0.99),
       dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_any_shape_keeps_its_shape_and_dtype_and_each_value_is_dropped_or_scaled(shape, p, dtype):
    x = torch.randn(*shape).to(dtype)
    out = CheapDropout(p).train()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    scaled = (x.float() / (1 - drop_rate(p))).to(dtype)
    assert torch.all((out == 0) | (out == scaled) | (out == x * (1 / (1 - drop_rate(p)))))


def test_every_lora_layer_of_a_peft_model_gets_it_and_eval_outputs_do_not_change():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(5)
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
