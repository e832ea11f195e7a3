"""The text tasks: text generation (decoder LMs: domain adaptation, instruction tuning, chat) and text2text
(encoder-decoders such as Flan-T5: prompt -> completion)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.channels import Mode, Splits, data_mode, load_splits
from fmtune.data.templates import DEFAULT_TEMPLATE, TEXT2TEXT_TEMPLATE, Template
from fmtune.errors import Problem
from fmtune.tasks.registry import JobView, Task, get_task, register


@dataclass(frozen=True)
class TextTask(Task):
    default_template: Template = DEFAULT_TEMPLATE  # for instruction rows of a folder without template.json


def read_splits(job: JobView, mode: Mode | None = None) -> Splits:
    """The job's data exactly as its recipe reads it: the one call the early check and the recipe make."""
    hp, task = job.hp, get_task(job.task)
    assert isinstance(hp, Hyperparameters) and isinstance(task, TextTask)
    return load_splits(
        {name: Path(location) for name, location in job.channels.items()},
        mode or data_mode(hp.instruction_tuned, hp.chat_dataset),
        demarcation=hp.add_input_output_demarcation_key,
        validation_split_ratio=hp.validation_split_ratio,
        train_data_split_seed=hp.train_data_split_seed,
        max_train_samples=hp.max_train_samples,
        max_val_samples=hp.max_val_samples,
        text_column=hp.text_column,
        default_template=task.default_template,
    )


def check_text_data(job: JobView) -> list[str]:
    return read_splits(job).notices


def text2text_rules(hp: Hyperparameters, model: str) -> list[Problem]:
    """Encoder-decoders train on prompt -> completion rows only."""
    if hp.instruction_tuned and not hp.chat_dataset:
        return []
    return [Problem(
        f"{model} is an encoder-decoder (text2text) model: it trains on prompt → completion rows, not on raw text "
        "or conversations. Set instruction_tuned=True (and chat_dataset=False) and give prompt/completion rows.",
        key="instruction_tuned", value="True" if hp.instruction_tuned else "False",
    )]


def is_seq2seq_lm(config: Mapping[str, Any]) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    return config.get("model_type") in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES


def is_causal_lm(config: Mapping[str, Any]) -> bool:
    """A decoder LM; an encoder-decoder whose decoder also loads alone (BART) trains as text2text."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    in_mapping = config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    return (in_mapping or "AutoModelForCausalLM" in config.get("auto_map", {})) and not is_seq2seq_lm(config)


# What both text tasks share: JumpStart's LLM hyperparameters, the same data readers, adapter + merged model.
_SHARED: dict[str, Any] = {"schema": Hyperparameters, "check_data": check_text_data, "outputs": ("adapter", "model")}

TEXT_GENERATION = register(TextTask(
    name="text-generation",
    description="causal LMs (Llama, Mistral, GPT-2, ...): domain adaptation on raw text, instruction tuning, chat",
    recipe="fmtune.recipes.causal_lm",
    trains_config=is_causal_lm,
    **_SHARED,
))
TEXT2TEXT = register(TextTask(
    name="text2text",
    description="encoder-decoders (T5, Flan-T5, ...): prompt -> completion",
    recipe="fmtune.recipes.seq2seq",
    rules=text2text_rules,
    trains_config=is_seq2seq_lm,
    default_template=TEXT2TEXT_TEMPLATE,
    **_SHARED,
))
