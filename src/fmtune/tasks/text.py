"""The text tasks: text generation (decoder LMs: domain adaptation, instruction tuning, chat) and text2text
(encoder-decoders such as Flan-T5: prompt -> completion)."""

from __future__ import annotations

from pathlib import Path

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.channels import Mode, Splits, data_mode, load_splits
from fmtune.errors import Problem
from fmtune.tasks.registry import JobView, Task, register


def read_splits(job: JobView, mode: Mode | None = None) -> Splits:
    """The job's data exactly as its recipe reads it: the one call the early check and the recipe make."""
    hp = job.hp
    assert isinstance(hp, Hyperparameters)
    return load_splits(
        {name: Path(location) for name, location in job.channels.items()},
        mode or data_mode(hp.instruction_tuned, hp.chat_dataset),
        task=job.task,
        demarcation=hp.add_input_output_demarcation_key,
        validation_split_ratio=hp.validation_split_ratio,
        train_data_split_seed=hp.train_data_split_seed,
        max_train_samples=hp.max_train_samples,
        max_val_samples=hp.max_val_samples,
        text_column=hp.text_column,
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


TEXT_GENERATION = register(Task(
    name="text-generation",
    description="decoder LMs: domain adaptation on raw text, instruction tuning, chat",
    schema=Hyperparameters,
    recipe="fmtune.recipes.causal_lm",
    check_data=check_text_data,
    outputs=("adapter", "model"),
))
TEXT2TEXT = register(Task(
    name="text2text",
    description="encoder-decoders (Flan-T5): prompt -> completion",
    schema=Hyperparameters,
    recipe="fmtune.recipes.seq2seq",
    check_data=check_text_data,
    rules=text2text_rules,
    outputs=("adapter", "model"),
))
