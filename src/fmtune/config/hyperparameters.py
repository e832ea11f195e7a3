"""The text tasks' hyperparameters (text generation and text2text): JumpStart's names, string values and
ranges (shared/reference/jumpstart.md), plus fmtune's own, documented as such."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from fmtune.config.schema import Exclusive, Schema, format_value, spec

EXCLUSIVE: tuple[Exclusive, ...] = (
    Exclusive(("int8_quantization", True), ("enable_fsdp", True),
              "int8_quantization=True cannot be combined with enable_fsdp=True (FSDP cannot shard 8-bit "
              "weights); set one of them to False."),
    Exclusive(("int8_quantization", True), ("int4_quantization", True),
              "int8_quantization=True and int4_quantization=True were both given; choose one of them."),
    Exclusive(("int4_quantization", True), ("enable_fsdp", True),
              "int4_quantization=True cannot be combined with enable_fsdp=True (FSDP cannot shard 4-bit "
              "weights); set one of them to False."),
    Exclusive(("peft_type", "none"), ("int8_quantization", True),
              "peft_type=none (full fine-tuning) cannot train quantized weights; set int8_quantization=False, "
              "or use peft_type=lora (QLoRA)."),
    Exclusive(("peft_type", "none"), ("int4_quantization", True),
              "peft_type=none (full fine-tuning) cannot train quantized weights; set int4_quantization=False, "
              "or use peft_type=lora (QLoRA)."),
    Exclusive(("instruction_tuned", True), ("chat_dataset", True),
              "instruction_tuned=True and chat_dataset=True were both given; they select different data "
              "formats (prompt/completion rows vs `messages` conversations): set one of them to False."),
)


@dataclass(frozen=True)
class Hyperparameters(Schema):
    """Typed, validated hyperparameters. Field names are JumpStart's; see `describe()` for meanings."""

    rules: ClassVar[tuple[Exclusive, ...]] = EXCLUSIVE

    epoch: int = spec(5, "Passes over the training data.", ge=1)
    learning_rate: float = spec(1e-4, "Step size of the optimizer (AdamW).", gt=0, le=1)
    instruction_tuned: bool = spec(
        False, "True: instruction tuning on prompt/completion rows; False: domain adaptation on raw text."
    )
    chat_dataset: bool = spec(False, "True: rows hold `messages` rendered with the model's chat format.")
    add_input_output_demarcation_key: bool = spec(
        True, "Append '\\n\\n### Response:\\n' to each instruction prompt (and at inference)."
    )
    per_device_train_batch_size: int = spec(4, "Training examples per device per step.", ge=1)
    per_device_eval_batch_size: int = spec(1, "Evaluation examples per device per step.", ge=1)
    gradient_accumulation_steps: int = spec(1, "Micro-batches summed before each optimizer step.", ge=1)
    max_train_samples: int = spec(-1, "Keep at most this many training examples.", ge=1, minus_one="all")
    max_val_samples: int = spec(-1, "Keep at most this many validation examples.", ge=1, minus_one="all")
    max_input_length: int = spec(
        -1,
        "Longest tokenized sequence; longer ones are truncated. -1: min(1024, tokenizer's model_max_length).",
        ge=8,
        minus_one="min(1024, model_max_length)",
    )
    validation_split_ratio: float = spec(
        0.2, "Share of the training data held out for validation when no validation channel is given.", gt=0, lt=1
    )
    train_data_split_seed: int = spec(0, "Seed of the random train/validation split.", ge=0)
    seed: int = spec(10, "Seed for model initialisation of LoRA weights, dropout and data order.", ge=0)
    preprocessing_num_workers: int | None = spec(
        None, "Processes for tokenization. None: the main process.", ge=1, none="main process"
    )
    lora_r: int = spec(8, "LoRA rank.", ge=1)
    lora_alpha: int = spec(32, "LoRA scaling numerator (scale = lora_alpha / lora_r).", ge=1)
    lora_dropout: float = spec(0.05, "Dropout on the LoRA input.", ge=0, lt=1)
    int8_quantization: bool = spec(False, "Load the base weights in 8-bit (bitsandbytes) for training.")
    int4_quantization: bool = spec(
        False, "QLoRA: load the base weights in 4-bit NF4 with double quantization (bitsandbytes)."
    )
    peft_type: str = spec(
        "lora", "lora: train LoRA adapters on a frozen base; none: full fine-tuning of every weight.",
        choices=("lora", "none"),
    )
    enable_fsdp: bool = spec(False, "Shard the model over devices with Fully Sharded Data Parallel.")
    checkpoint_steps: int = spec(
        -1, "Also write a checkpoint every N optimizer steps (one is always written after each epoch).",
        ge=1, minus_one="end of each epoch only",
    )
    precision: str = spec(
        "auto",
        "Compute precision. auto: bf16 autocast on GPUs that support it, and on CPUs where a short timing of the "
        "model's own layer shapes finds it faster than fp32 (cached per CPU; logged and recorded in config.json).",
        choices=("auto", "bf16", "fp32"),
    )
    attention: str = spec(
        "auto",
        "Attention kernel of decoder-only models while training. auto: on CPUs, eager attention where a short timing "
        "of the job's own attention shape finds it faster than PyTorch's SDPA and its probabilities fit the memory "
        "plan (cached per CPU; logged and recorded in config.json), else transformers' default (SDPA; FlashAttention "
        "2 on GPUs where installed). sdpa, eager: that kernel.",
        choices=("auto", "sdpa", "eager"),
    )
    packing: bool = spec(
        True,
        "True: the examples of each batch share rows (position ids restart, attention and loss stay inside each "
        "example), so no compute goes to padding; used where the model is checked to keep packed examples "
        "apart. False: padded batches of similar lengths. Domain adaptation always uses full blocks.",
    )
    text_column: str | None = spec(
        None, "Domain adaptation: the CSV/JSON column that holds the documents.",
        none="the `text` column, else the first column",
    )
    gradient_checkpointing: str = spec(
        "auto",
        "Recompute each layer's activations during the backward pass: much less memory, ~1/3 more compute. "
        "auto: on only when the memory preflight estimates the run would not fit without it.",
        choices=("auto", "True", "False"),
    )
    evaluation_samples: int = spec(
        16, "After training: held-out rows answered by the base and the tuned model, scored (ROUGE, BLEU, chrF, "
        "exact match, F1) into eval/metrics.json and eval/report.html. 0: no evaluation.", ge=0,
    )
    evaluation_max_new_tokens: int = spec(128, "After training: the most tokens each evaluation answer may have.", ge=1)

    @property
    def quantization(self) -> str | None:
        """How the base weights are stored while training: "int8", "nf4" or None (full precision)."""
        return "int8" if self.int8_quantization else "nf4" if self.int4_quantization else None


HYPERPARAMETER_NAMES: tuple[str, ...] = Hyperparameters.names()
SCHEMA_DEFAULTS: dict[str, str] = Hyperparameters.defaults()


def describe() -> list[dict[str, Any]]:
    return Hyperparameters.describe()


def parse_hyperparameters(values: Mapping[str, Any]) -> Hyperparameters:
    return Hyperparameters.parse(values)


def resolve_hyperparameters(
    given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> tuple[Hyperparameters, list[str]]:
    return Hyperparameters.resolve(given, defaults)


def changed_values(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return Hyperparameters.changed_values(values, defaults)


__all__ = ["EXCLUSIVE", "HYPERPARAMETER_NAMES", "SCHEMA_DEFAULTS", "Hyperparameters", "format_value"]
