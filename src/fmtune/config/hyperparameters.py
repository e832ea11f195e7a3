"""The hyperparameter schema: JumpStart names, string values, ranges; parsed once into `Hyperparameters`.

JumpStart passes every hyperparameter as a string ("True", "-1", "None"). We accept those strings
(and plain Python values from the SDK), check every key against its range, and report all problems
in one `ConfigError` before anything expensive starts.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from fmtune.errors import ConfigError


def _spec(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    minus_one: str | None = None,
    none: str | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A schema field: default value, one-line meaning, accepted range and special values."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "lt": lt, "le": le, "minus_one": minus_one, "none": none,
            "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Hyperparameters:
    """Typed, validated hyperparameters. Field names are JumpStart's; see `describe()` for meanings."""

    epoch: int = _spec(5, "Passes over the training data.", ge=1)
    learning_rate: float = _spec(1e-4, "Step size of the optimizer (AdamW).", gt=0, le=1)
    instruction_tuned: bool = _spec(
        False, "True: instruction tuning on prompt/completion rows; False: domain adaptation on raw text."
    )
    chat_dataset: bool = _spec(False, "True: rows hold `messages` rendered with the model's chat format.")
    add_input_output_demarcation_key: bool = _spec(
        True, "Append '\\n\\n### Response:\\n' to each instruction prompt (and at inference)."
    )
    per_device_train_batch_size: int = _spec(4, "Training examples per device per step.", ge=1)
    per_device_eval_batch_size: int = _spec(1, "Evaluation examples per device per step.", ge=1)
    gradient_accumulation_steps: int = _spec(1, "Micro-batches summed before each optimizer step.", ge=1)
    max_train_samples: int = _spec(-1, "Keep at most this many training examples.", ge=1, minus_one="all")
    max_val_samples: int = _spec(-1, "Keep at most this many validation examples.", ge=1, minus_one="all")
    max_input_length: int = _spec(
        -1,
        "Longest tokenized sequence; longer ones are truncated. -1: min(1024, tokenizer's model_max_length).",
        ge=8,
        minus_one="min(1024, model_max_length)",
    )
    validation_split_ratio: float = _spec(
        0.2, "Share of the training data held out for validation when no validation channel is given.", gt=0, lt=1
    )
    train_data_split_seed: int = _spec(0, "Seed of the random train/validation split.", ge=0)
    seed: int = _spec(10, "Seed for model initialisation of LoRA weights, dropout and data order.", ge=0)
    preprocessing_num_workers: int | None = _spec(
        None, "Processes for tokenization. None: the main process.", ge=1, none="main process"
    )
    lora_r: int = _spec(8, "LoRA rank.", ge=1)
    lora_alpha: int = _spec(32, "LoRA scaling numerator (scale = lora_alpha / lora_r).", ge=1)
    lora_dropout: float = _spec(0.05, "Dropout on the LoRA input.", ge=0, lt=1)
    int8_quantization: bool = _spec(False, "Load the base weights in 8-bit (bitsandbytes) for training.")
    int4_quantization: bool = _spec(
        False, "QLoRA: load the base weights in 4-bit NF4 with double quantization (bitsandbytes)."
    )
    peft_type: str = _spec(
        "lora", "lora: train LoRA adapters on a frozen base; none: full fine-tuning of every weight.",
        choices=("lora", "none"),
    )
    enable_fsdp: bool = _spec(False, "Shard the model over devices with Fully Sharded Data Parallel.")
    checkpoint_steps: int = _spec(
        -1, "Also write a checkpoint every N optimizer steps (one is always written after each epoch).",
        ge=1, minus_one="end of each epoch only",
    )
    precision: str = _spec(
        "auto",
        "Compute precision. auto: bf16 autocast on GPUs that support it and on CPUs with AMX (amx_bf16), else fp32.",
        choices=("auto", "bf16", "fp32"),
    )
    packing: bool = _spec(
        True,
        "True: the examples of each batch share rows (position ids restart, attention and loss stay inside each "
        "example), so no compute goes to padding; used where the model is checked to keep packed examples "
        "apart. False: padded batches of similar lengths. Domain adaptation always uses full blocks.",
    )
    text_column: str | None = _spec(
        None, "Domain adaptation: the CSV/JSON column that holds the documents.",
        none="the `text` column, else the first column",
    )
    gradient_checkpointing: str = _spec(
        "auto",
        "Recompute each layer's activations during the backward pass: much less memory, ~1/3 more compute. "
        "auto: on only when the memory preflight estimates the run would not fit without it.",
        choices=("auto", "True", "False"),
    )

    @property
    def quantization(self) -> str | None:
        """How the base weights are stored while training: "int8", "nf4" or None (full precision)."""
        return "int8" if self.int8_quantization else "nf4" if self.int4_quantization else None

    def to_strings(self) -> dict[str, str]:
        """JumpStart's representation: every value a string."""
        return {f.name: format_value(getattr(self, f.name)) for f in fields(self)}


def format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)  # shortest exact form ('0.0001', '2e-06'): parses back to the same float
    return str(value)


HYPERPARAMETER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Hyperparameters))
SCHEMA_DEFAULTS: dict[str, str] = Hyperparameters().to_strings()
SCHEMA_DEFAULTS_TYPED: dict[str, Any] = {f.name: getattr(Hyperparameters(), f.name) for f in fields(Hyperparameters)}


def describe() -> list[dict[str, Any]]:
    """One row per hyperparameter: name, type, default, range, meaning (for --help, docs and the UI)."""
    rows = []
    for f in fields(Hyperparameters):
        rows.append(
            {
                "name": f.name,
                "type": _type_name(f.type),
                "default": SCHEMA_DEFAULTS[f.name],
                "accepted": _accepted(f),
                "description": f.metadata["doc"],
            }
        )
    return rows


def parse_hyperparameters(values: Mapping[str, Any]) -> Hyperparameters:
    """Parse JumpStart-style values over the schema defaults; raise one ConfigError naming every problem."""
    return resolve_hyperparameters(values)[0]


def resolve_hyperparameters(
    given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> tuple[Hyperparameters, list[str]]:
    """The user's values over a model's defaults (over the schema's), and a notice per default that gave way.

    Only two values the user gave can conflict: where a rule (EXCLUSIVE) is broken by a given value and a
    default, the default takes its neutral value (e.g. chat_dataset=True, a chat model's default, gives way to
    instruction_tuned=True). Front ends that cannot tell typed values from echoed defaults (the SDK, whose
    notebooks pass `retrieve_default(...)` back whole) first keep only `changed_values`."""
    problems: list[str] = []
    default_values = _parse_all(defaults or {}, problems)
    chosen = _parse_all(given, problems)
    values = {**default_values, **chosen}
    notices: list[str] = []
    for rule in EXCLUSIVE:
        hp = replace(Hyperparameters(), **values)  # valid values only: never repeats a per-key problem
        if not rule.broken_by(hp):
            continue
        keys = (rule.first[0], rule.second[0])
        yielding = [k for k in keys if k not in chosen]
        if len(yielding) != 1:  # both given by the user (or, a catalog defect, neither): the user must choose
            problems.append(rule.message)
            continue
        key = yielding[0]
        winner = next(k for k in keys if k != key)
        neutral = SCHEMA_DEFAULTS_TYPED[key]
        notices.append(
            f"{key}={format_value(getattr(hp, key))} (the model's default) gives way to {winner}="
            f"{format_value(getattr(hp, winner))}, which was given: using {key}={format_value(neutral)}."
        )
        values[key] = neutral
    if problems:
        raise ConfigError(problems)
    return Hyperparameters(**values), notices


def changed_values(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without those equal (once parsed) to their default: what was changed, not echoed back.
    Values that do not parse are kept, so that their problem is still reported."""
    by_name = {f.name: f for f in fields(Hyperparameters)}
    changed = {}
    for key, raw in values.items():
        spec = by_name.get(key)
        if spec is not None and key in defaults and _parse_one(spec, raw) == _parse_one(spec, defaults[key]):
            continue
        changed[key] = raw
    return changed


def _parse_all(values: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    by_name = {f.name: f for f in fields(Hyperparameters)}
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        spec = by_name.get(key)
        if spec is None:
            problems.append(_unknown_key(key))
            continue
        value, problem = _parse_one(spec, raw)
        if problem:
            problems.append(problem)
        else:
            parsed[key] = value
    return parsed


@dataclass(frozen=True)
class Exclusive:
    """Two settings that cannot both hold: `first` = (key, value) and `second` = (key, value)."""

    first: tuple[str, Any]
    second: tuple[str, Any]
    message: str

    def broken_by(self, hp: Hyperparameters) -> bool:
        return all(getattr(hp, key) == value for key, value in (self.first, self.second))


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


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, HYPERPARAMETER_NAMES, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{key}: unknown hyperparameter.{hint} Run `fmtune hyperparameters MODEL_ID` for the accepted names."


def _parse_one(spec: Any, raw: Any) -> tuple[Any, str | None]:
    try:
        text = format_value(raw) if not isinstance(raw, str) else raw.strip()
    except ValueError:  # an int too long to print (Python caps int -> str at 4300 digits)
        return None, f"{spec.name}: the value is too long to be a setting; {_accepted(spec)}."
    kind = _type_name(spec.type)
    meta = spec.metadata
    shown = f"{spec.name}={text!r:.80}"
    if meta["none"] and text.lower() in ("none", "null", ""):
        return None, None
    if kind == "str" and not meta["choices"]:  # free text, e.g. a column name
        return text, None
    if kind == "str":
        choice = {c.lower(): c for c in meta["choices"]}.get(text.lower())
        if choice is not None:
            return choice, None
        return None, f"{shown}: {_accepted(spec)}."
    if kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true", None
        return None, f"{shown}: must be 'True' or 'False'."
    try:
        number: float = int(text) if kind == "int" else float(text)
    except ValueError:
        return None, f"{shown}: must be {'an integer' if kind == 'int' else 'a number'}; {_accepted(spec)}."
    if kind == "float" and not math.isfinite(number):
        return None, f"{shown}: must be a finite number; {_accepted(spec)}."
    if meta["minus_one"] and number == -1:
        return int(number), None
    if not _in_range(number, meta):
        return None, f"{shown}: out of range; {_accepted(spec)}."
    return number, None


def _in_range(x: float, meta: Mapping[str, Any]) -> bool:
    return not (
        (meta["ge"] is not None and x < meta["ge"])
        or (meta["gt"] is not None and x <= meta["gt"])
        or (meta["le"] is not None and x > meta["le"])
        or (meta["lt"] is not None and x >= meta["lt"])
    )


def _accepted(spec: Any) -> str:
    kind = _type_name(spec.type)
    meta = spec.metadata
    if kind == "bool":
        return "accepted: 'True' or 'False'"
    if kind == "str" and not meta["choices"]:
        return f"accepted: any text, or None ({meta['none']})" if meta["none"] else "accepted: any text"
    if kind == "str":
        return "accepted: " + ", ".join(repr(c) for c in meta["choices"])
    bounds = []
    for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta[key] is not None:
            bound = meta[key]
            bounds.append(f"{op} {int(bound) if kind == 'int' else bound:g}")
    text = f"accepted: {'an integer' if kind == 'int' else 'a number'} {' and '.join(bounds)}".rstrip()
    if meta["minus_one"]:
        text += f", or -1 ({meta['minus_one']})"
    if meta["none"]:
        text += f", or None ({meta['none']})"
    return text


def _type_name(annotation: Any) -> str:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return name.split("|")[0].strip()
