"""Load tokenizers and models from a local folder (full precision, int8 or 4-bit), apply LoRA, pick the device."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.models.dropout import use_cheap_dropout
from fmtune.models.fused_lora import use_fused_lora

# The SDK's -1 for max_input_length means min(1024, model_max_length), as JumpStart does.
DEFAULT_MAX_LENGTH = 1024
_HUGE = 1_000_000  # tokenizers without a real limit report ~1e30


def load_tokenizer(model_dir: Path, **remote_code: Any) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, **remote_code)
    if tokenizer.pad_token_id is None:  # batching needs a pad id; it never carries loss
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def effective_max_length(requested: int, tokenizer: Any, context_length: int | None) -> int:
    """JumpStart's rule: -1 → min(1024, model_max_length); positive → min(value, model_max_length)."""
    limit = tokenizer.model_max_length if tokenizer.model_max_length < _HUGE else (context_length or _HUGE)
    if context_length:
        limit = min(limit, context_length)
    return min(DEFAULT_MAX_LENGTH if requested == -1 else requested, limit)


def quiet_libraries() -> None:
    """Keep job logs readable: no per-file progress bars or optional-kernel notices from libraries."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    # bitsandbytes on CPU says this on every 8-bit matmul; once in the docs is enough.
    warnings.filterwarnings("ignore", message=r"MatMul8bitLt: inputs will be cast")


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast for matmuls; master weights and the loss stay in fp32."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def training_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


CPU_4BIT_BLOCK = 32  # bitsandbytes' CPU 4-bit kernel packs output features in blocks of 32


def cpu_4bit_unpackable(model_dir: Path, **remote_code: Any) -> list[str] | None:
    """Linear layers bitsandbytes cannot run in 4 bits on CPU (output features not a multiple of 32, e.g. a
    small model's multi-query K/V projection): they stay in full precision, as the output layer always does.
    None where every layer packs (bitsandbytes' own default skips then apply)."""
    from transformers import AutoConfig

    from fmtune.models.memory import _meta_model

    model = _meta_model(AutoConfig.from_pretrained(model_dir, **remote_code))
    odd = [name for name, module in model.named_modules()
           if isinstance(module, torch.nn.Linear) and module.out_features % CPU_4BIT_BLOCK]
    if not odd:
        return None
    output = next((name for name, module in model.named_modules() if module is model.get_output_embeddings()), None)
    return [*odd, *([output] if output else [])]


def for_inference(model: Any) -> Any:
    """A model loaded for training, set up to generate: KV cache on, eval mode, and no MoE router logits (their
    load-balancing loss is for training and breaks padded batches)."""
    model.config.use_cache = True
    if getattr(model.config, "output_router_logits", False):
        model.config.output_router_logits = False
    return model.eval()


def free_memory() -> None:
    """Give back what a model just dropped held (before the next one loads)."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_pretrained(
    model_dir: Path,
    device: torch.device,
    seq2seq: bool = False,
    bf16: bool = False,
    quantization: str | None = None,
    **remote_code: Any,
) -> Any:
    """Weights from safetensors only: bf16 on GPUs running bf16 (a frozen base needs no fp32 copy),
    fp32 otherwise; int8 or 4-bit NF4 (double quantization) through bitsandbytes when asked.
    Trainable LoRA weights stay fp32 either way (PEFT's adapter dtype)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, BitsAndBytesConfig

    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    dtype = torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32
    extra: dict[str, Any] = {}
    if quantization == "int8":
        extra = {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": {"": device}}
    elif quantization == "nf4":
        skip = cpu_4bit_unpackable(model_dir, **remote_code) if device.type == "cpu" else None
        extra = {
            "quantization_config": BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype, llm_int8_skip_modules=skip,
            ),
            "device_map": {"": device},
        }
    attention = attention_implementation(auto, model_dir, device, dtype, **remote_code)
    model = auto.from_pretrained(model_dir, dtype=dtype, use_safetensors=True, **attention, **extra, **remote_code)
    # Training needs no KV cache; with one, transformers also ignores position_ids-based masks.
    model.config.use_cache = False
    if hasattr(model.config, "router_aux_loss_coef"):  # MoE: keep the load-balancing loss on while tuning
        model.config.output_router_logits = True
    if quantization == "nf4" and device.type == "cpu":
        keep_4bit_trainable(model)
    return model if quantization else model.to(device)


def keep_4bit_trainable(model: Any) -> None:
    """On CPUs with avx512_bf16, bitsandbytes repacks a 4-bit layer's weights for its inference kernel on the
    first forward pass in eval mode without gradients (as fmtune's packing and loss checks make), and that
    kernel has no backward: training after it silently stops reaching the LoRA weights. Keep every 4-bit layer
    in its trainable layout."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def attention_implementation(auto: Any, model_dir: Path, device: torch.device, dtype: torch.dtype,
                             **remote_code: Any) -> dict[str, str]:
    """FlashAttention 2 on CUDA in bf16 where flash_attn is installed and the architecture supports it: over
    packed rows (position ids restarting per example) transformers then runs its variable-length kernel, one
    attention per example, instead of a block-diagonal mask. Elsewhere transformers' default (sdpa).
    Packing still runs only after its run-time check on the loaded model (fmtune.data.packing)."""
    if device.type != "cuda" or dtype != torch.bfloat16:
        return {}
    from transformers import AutoConfig
    from transformers.utils import is_flash_attn_2_available

    try:
        model_class = auto._model_mapping[type(AutoConfig.from_pretrained(model_dir, **remote_code))]
    except KeyError:  # remote-code architectures: keep their own default
        return {}
    if getattr(model_class, "_supports_flash_attn", False) and is_flash_attn_2_available():
        return {"attn_implementation": "flash_attention_2"}
    return {}


def make_trainable(
    model: Any, hp: Hyperparameters, target_modules: list[str], task_type: str = "CAUSAL_LM",
    gradient_checkpointing: bool = False,
) -> Any:
    """peft_type=lora: LoRA adapters on a frozen (possibly quantized) base; peft_type=none: every weight."""
    if gradient_checkpointing:
        # Non-reentrant: needs no input that requires grad (the base is frozen under LoRA) and works under FSDP2.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hp.peft_type == "none":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    if hp.quantization:
        from peft import prepare_model_for_kbit_training

        # Norms to fp32 and input gradients on, so LoRA trains stably over 8/4-bit weights.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return apply_lora(model, hp, target_modules, task_type)


def apply_lora(
    model: Any, hp: Hyperparameters, target_modules: list[str] | tuple[str, ...], task_type: str = "CAUSAL_LM"
) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(target_modules),
        bias="none",
        task_type=task_type,
    )
    model = get_peft_model(model, config)
    use_cheap_dropout(model)
    use_fused_lora(model)
    return model


def lora_targets_for(model: Any, card_targets: tuple[str, ...] | None) -> list[str]:
    """The card's target modules, else peft's default for the architecture, else every linear layer."""
    if card_targets:
        return list(card_targets)
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = getattr(model.config, "model_type", "")
    if model_type in DEFAULTS:
        return list(DEFAULTS[model_type])
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and "lm_head" not in name
    }
    return sorted(names)


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
