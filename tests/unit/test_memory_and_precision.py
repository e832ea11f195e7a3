"""The memory preflight's arithmetic (what each setting saves, the advice it gives) and the attention kernel."""

from __future__ import annotations

from fmtune.models.memory import AUTO_CHECKPOINTING_SHARE, GiB, Shape, advice, estimate, wants_checkpointing

# SmolLM2-135M's numbers (config.json): 30 layers, hidden 576, intermediate 1536, vocab 49152, 9 heads.
SMOLLM2 = Shape(parameters=134_515_008, layers=30, hidden=576, intermediate=1536, vocab=49152, heads=9)


def _estimate(**changes):
    settings = {"trainable": 2_441_216, "batch_size": 4, "sequence_length": 256, **changes}
    return estimate(SMOLLM2, **settings)


def test_the_fitted_points_are_reproduced():
    # bench/memory.py measured 4.68 / 8.26 GiB (batch 4 / 8 x 256) and 3.05 / 3.92 GiB with checkpointing.
    assert abs(_estimate().per_device / GiB - 4.68) < 0.15
    assert abs(_estimate(batch_size=8).per_device / GiB - 8.26) < 0.3
    assert abs(_estimate(gradient_checkpointing=True).per_device / GiB - 3.05) < 0.4


def test_gradient_checkpointing_cuts_activations_more_as_batches_grow():
    plain, checkpointed = _estimate(batch_size=16), _estimate(batch_size=16, gradient_checkpointing=True)
    assert checkpointed.activations < 0.5 * plain.activations
    assert checkpointed.weights == plain.weights and checkpointed.trainable_states == plain.trainable_states


def test_quantized_weights_keep_embeddings_in_fp32_and_fsdp_splits_weights():
    fp32, int8, nf4 = (_estimate(weight_format=f).weights for f in ("fp32", "int8", "nf4"))
    embeddings = 49152 * 576
    assert int8 == (SMOLLM2.parameters - embeddings) * 1 + embeddings * 4
    assert nf4 < int8 < fp32
    sharded = _estimate(devices=2)
    assert sharded.weights == fp32 / 2 and sharded.activations == _estimate().activations


def test_advice_suggests_checkpointing_only_when_it_is_off():
    tight = _estimate()
    assert "gradient_checkpointing=True" in advice(tight, 1 * GiB, "fp32", gradient_checkpointing=False)
    text = advice(tight, 1 * GiB, "fp32", gradient_checkpointing=True)
    assert "gradient_checkpointing" not in text and "int8_quantization=True" in text


def test_checkpointing_auto_turns_on_only_when_the_plain_run_may_not_fit():
    plain, checkpointed = _estimate(), _estimate(gradient_checkpointing=True)
    roomy, tight = 2 * plain.per_device, plain.per_device / AUTO_CHECKPOINTING_SHARE * 0.99
    assert not wants_checkpointing("auto", plain, checkpointed, roomy)
    assert wants_checkpointing("auto", plain, checkpointed, tight)
    assert wants_checkpointing("True", plain, checkpointed, roomy)
    assert not wants_checkpointing("False", plain, checkpointed, tight)


def test_checkpointing_auto_stays_off_where_it_would_not_lower_the_peak():
    """A tiny model: checkpointing's fixed cost is more than the activations it saves."""
    tiny = Shape(parameters=6_400_000, layers=2, hidden=64, intermediate=172, vocab=49_152, heads=4)
    plain = estimate(tiny, trainable=10_000, batch_size=2, sequence_length=96, weight_format="fp32",
                     bf16_activations=False, device_type="cpu")
    checkpointed = estimate(tiny, trainable=10_000, batch_size=2, sequence_length=96, weight_format="fp32",
                            bf16_activations=False, device_type="cpu", gradient_checkpointing=True)
    assert checkpointed.per_device >= plain.per_device
    assert not wants_checkpointing("auto", plain, checkpointed, plain.per_device)


def test_flash_attention_only_on_cuda_bf16_for_supporting_architectures(tmp_path, monkeypatch):
    import json

    import torch
    import transformers.utils
    from transformers import AutoModelForCausalLM

    from fmtune.models.loading import attention_implementation

    for name, model_type in (("llama", "llama"), ("bloom", "bloom")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"model_type": model_type}))
    cuda, cpu = torch.device("cuda"), torch.device("cpu")

    def choice(name, device, dtype=torch.bfloat16):
        return attention_implementation(AutoModelForCausalLM, tmp_path / name, device, dtype)

    monkeypatch.setattr(transformers.utils, "is_flash_attn_2_available", lambda: True)
    assert choice("llama", cuda) == {"attn_implementation": "flash_attention_2"}
    assert choice("bloom", cuda) == {}  # ALiBi: no FlashAttention support in transformers
    assert choice("llama", cuda, torch.float32) == {} and choice("llama", cpu) == {}
    monkeypatch.setattr(transformers.utils, "is_flash_attn_2_available", lambda: False)
    assert choice("llama", cuda) == {}
