"""The chunked, checkpointed next-token loss equals the plain one, in value and in gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fmtune.data.encode import IGNORE_INDEX
from fmtune.training.losses import head_loss_matches, head_loss_sum, shifted_targets, token_loss_sum


def _reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX,
                           reduction="sum")


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 11, 50, generator=generator)
    labels = torch.randint(50, (3, 11), generator=generator)
    labels[0, :4] = IGNORE_INDEX  # a prompt
    labels[2, 7:] = IGNORE_INDEX  # padding
    return logits, labels


def test_shifted_targets_score_each_position_on_the_next_token():
    labels = torch.tensor([[5, 6, 7], [8, IGNORE_INDEX, 9]])
    assert shifted_targets(labels).tolist() == [[6, 7, IGNORE_INDEX], [IGNORE_INDEX, 9, IGNORE_INDEX]]


@pytest.mark.parametrize("chunk_tokens", [1, 4, 7, 33, 1024])
def test_chunked_loss_and_gradient_equal_the_plain_cross_entropy(chunk_tokens):
    logits, labels = _batch()
    plain = logits.clone().requires_grad_(True)
    expected = _reference(plain, labels)
    expected.backward()
    chunked = logits.clone().requires_grad_(True)
    total = token_loss_sum(chunked, labels, chunk_tokens=chunk_tokens)
    total.backward()
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(chunked.grad, plain.grad)


def test_loss_without_gradients_and_with_bf16_logits():
    logits, labels = _batch(1)
    with torch.no_grad():
        torch.testing.assert_close(token_loss_sum(logits, labels, chunk_tokens=5), _reference(logits, labels))
    half = logits.bfloat16()
    total = token_loss_sum(half, labels, chunk_tokens=5)
    assert total.dtype == torch.float32  # the softmax runs in fp32 even when the model computes in bf16
    torch.testing.assert_close(total, _reference(half.float(), labels))


def test_a_batch_with_no_targets_sums_to_zero():
    logits, labels = _batch(2)
    assert token_loss_sum(logits, torch.full_like(labels, IGNORE_INDEX)).item() == 0.0


# Architectures whose output layers differ: untied (Llama), tied (GPT-2), Gemma's scaled embeddings, Falcon, BLOOM.
ARCHITECTURES = ["meta-textgeneration-llama-2-7b", "huggingface-textgeneration1-gpt-2-xl", "huggingface-llm-gemma-2b",
                 "huggingface-llm-falcon-7b-bf16", "huggingface-textgeneration1-bloom-3b"]


def _tiny(model_id: str):
    from fmtune.models.loading import load_pretrained
    from fmtune.models.source import materialize, resolve_source

    return load_pretrained(materialize(resolve_source(model_id, tiny_random=True)), torch.device("cpu"))


@pytest.mark.parametrize("model_id", ARCHITECTURES)
def test_loss_from_hidden_states_equals_the_loss_over_logits_in_value_and_gradient(fmtune_home, model_id):
    model = _tiny(model_id).train()
    assert head_loss_matches(model, torch.device("cpu"))
    ids = torch.randint(0, 1000, (2, 13), generator=torch.Generator().manual_seed(1))
    labels = ids.clone()
    labels[0, :5] = IGNORE_INDEX
    inputs = {"input_ids": ids, "use_cache": False}
    torch.manual_seed(0)  # the same dropout masks in both passes
    expected = token_loss_sum(model(**inputs).logits, labels)
    expected.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    torch.manual_seed(0)
    actual, _ = head_loss_sum(model, inputs, labels, chunk_tokens=4)
    actual.backward()
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-4)
    for name, parameter in model.named_parameters():
        if name in reference:  # fp32 sums in another order (by chunk): ~1e-6 apart on some CPUs' kernels
            torch.testing.assert_close(parameter.grad, reference[name], rtol=1e-4, atol=2e-5)


def test_a_model_that_changes_its_logits_after_the_output_layer_is_refused(fmtune_home):
    model = _tiny("meta-textgeneration-llama-2-7b")
    model.register_forward_hook(lambda module, args, output: output.__setitem__("logits", output.logits / 30.0))
    assert not head_loss_matches(model, torch.device("cpu"))


@pytest.mark.parametrize("trainable_weight", [False, True])
def test_linear_cross_entropy_gradients_match_autograd(trainable_weight):
    from fmtune.training.losses import LinearCrossEntropy

    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(37, 16, generator=generator, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator).requires_grad_(trainable_weight)
    targets = torch.randint(50, (37,), generator=generator)
    targets[:5] = IGNORE_INDEX
    expected = F.cross_entropy(hidden @ weight.T, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    (2 * expected).backward()
    reference = hidden.grad.clone(), None if weight.grad is None else weight.grad.clone()
    hidden.grad, weight.grad = None, None
    actual = LinearCrossEntropy.apply(hidden, weight, targets, 8)
    (2 * actual).backward()  # an upstream factor reaches both gradients
    torch.testing.assert_close(actual, expected)
    torch.testing.assert_close(hidden.grad, reference[0])
    if trainable_weight:
        torch.testing.assert_close(weight.grad, reference[1], rtol=1e-4, atol=1e-4)
    else:
        assert weight.grad is None


def test_an_output_layer_that_is_not_a_plain_linear_takes_the_checkpointed_path(fmtune_home):
    model = _tiny("meta-textgeneration-llama-2-7b").train()
    model.lm_head = torch.nn.Sequential(model.lm_head)  # same logits, but not the fused fast path
    assert head_loss_matches(model, torch.device("cpu"))
    ids = torch.randint(0, 1000, (2, 11), generator=torch.Generator().manual_seed(2))
    inputs = {"input_ids": ids, "use_cache": False}
    torch.manual_seed(0)
    expected = token_loss_sum(model(**inputs).logits, ids)
    torch.manual_seed(0)
    actual, _ = head_loss_sum(model, inputs, ids, chunk_tokens=4)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(1, 9), st.integers(0, 2**16))
def test_only_tokens_with_a_target_reach_the_output_layer_and_the_rest_get_no_gradient(scored, chunk_tokens, seed):
    from fmtune.training.losses import LinearCrossEntropy

    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(len(scored), 8, generator=generator, requires_grad=True)
    weight = torch.randn(20, 8, generator=generator)
    targets = torch.randint(20, (len(scored),), generator=generator)
    targets[~torch.tensor(scored)] = IGNORE_INDEX  # prompt and padding tokens, anywhere in the row
    expected = F.cross_entropy(hidden @ weight.T, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    expected.backward()
    reference, hidden.grad = hidden.grad.clone(), None
    actual = LinearCrossEntropy.apply(hidden, weight, targets, chunk_tokens)
    actual.backward()
    torch.testing.assert_close(actual, expected)
    torch.testing.assert_close(hidden.grad, reference)
    assert not hidden.grad[~torch.tensor(scored)].any()


def test_lora_models_are_scored_from_their_decoder_body_without_running_the_output_layer(fmtune_home):
    from fmtune.config.hyperparameters import parse_hyperparameters
    from fmtune.models.loading import make_trainable
    from fmtune.training.losses import last_hidden_states

    model = make_trainable(_tiny("meta-textgeneration-llama-2-7b"), parse_hyperparameters({}), ["q_proj", "v_proj"])
    head_calls = []
    model.get_output_embeddings().register_forward_hook(lambda *args: head_calls.append(1))
    ids = torch.randint(0, 1000, (2, 7), generator=torch.Generator().manual_seed(2))
    inputs = {"input_ids": ids, "use_cache": False}
    output, hidden = last_hidden_states(model, inputs)
    assert head_calls == [] and getattr(output, "logits", None) is None
    torch.testing.assert_close(hidden, model(**inputs, output_hidden_states=True).hidden_states[-1])


def test_a_mixture_of_experts_goes_through_its_wrapper_which_adds_the_router_loss(fmtune_home):
    from fmtune.training.losses import last_hidden_states

    model = _tiny("huggingface-llm-mixtral-8x7b").train()
    assert model.config.output_router_logits
    output, hidden = last_hidden_states(model, {"input_ids": torch.arange(9).reshape(1, 9), "use_cache": False})
    assert output.aux_loss is not None and hidden.shape[:2] == (1, 9)
