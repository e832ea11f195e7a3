"""The text tasks: text generation (decoder LMs: domain adaptation, instruction tuning, chat) and text2text
(encoder-decoders such as Flan-T5: prompt -> completion)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.channels import Mode, Splits, data_mode, load_splits
from fmtune.data.encode import encode_split, learned_segments
from fmtune.data.templates import DEFAULT_TEMPLATE, TEXT2TEXT_TEMPLATE, Template
from fmtune.errors import Problem
from fmtune.tasks.registry import JobView, Task, get_task, register

PREVIEW_LENGTHS = 2000  # examples tokenized for the preview's length histogram


@dataclass(frozen=True)
class TextTask(Task):
    default_template: Template = DEFAULT_TEMPLATE  # for instruction rows of a folder without template.json
    seq2seq: bool = False  # an encoder-decoder: encoder input -> target pairs


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


def preview_text_data(job: JobView, rows: int) -> dict[str, Any]:
    """The job's data as training will see it: the mode, the counts, the first `rows` training examples after the
    template and the tokenizer (context and learned parts apart), and the token lengths of up to PREVIEW_LENGTHS
    examples against max_input_length. Loads the tokenizer only, never the weights."""
    from fmtune.catalog.formats import chat_template_for
    from fmtune.models.loading import effective_max_length, load_tokenizer
    from fmtune.models.source import RemoteCode, materialize

    hp, task = job.hp, get_task(job.task)
    assert isinstance(task, TextTask)
    mode = "instruction" if task.seq2seq else data_mode(hp.instruction_tuned, hp.chat_dataset)
    splits = read_splits(job, mode)
    source = job.model_source()
    tokenizer = load_tokenizer(materialize(source), **RemoteCode(job.trust_remote_code, job.revision).kwargs())
    max_length = effective_max_length(hp.max_input_length, tokenizer, source.card.context_length if source.card
                                      else None)
    chat_template = chat_template_for(source.card, tokenizer)
    sample = splits.train[:PREVIEW_LENGTHS]
    examples, stats = encode_split(sample, mode, tokenizer, max_length, chat_template=chat_template,
                                   seq2seq=task.seq2seq)
    lengths = [len(e.input_ids) + (len(e.labels) if task.seq2seq else 0) for e in examples]
    return {
        "mode": mode,
        "counts": {"training": len(splits.train), "validation": len(splits.validation)},
        "validation_source": splits.validation_source,
        "template": {"prompt": splits.template.prompt, "completion": splits.template.completion}
        if splits.template else None,
        "max_input_length": max_length,
        "rows": [{"origin": getattr(record, "origin", ""), "segments": learned_segments(tokenizer, example,
                                                                                       seq2seq=task.seq2seq)}
                 for record, example in zip(sample[:rows], examples[:rows], strict=False)],
        "lengths": {"examples": len(lengths), "of": len(splits.train), "truncated": stats.truncated,
                    "histogram": histogram(lengths, max_length)},
        "notices": splits.notices,
    }


def histogram(values: list[int], top: int, bins: int = 10) -> list[dict[str, int]]:
    """Counts in `bins` equal ranges of 1..top (the last holds what reached the limit)."""
    width = max(1, -(-top // bins))
    counts = [0] * bins
    for value in values:
        counts[min((value - 1) // width, bins - 1)] += 1
    return [{"from": i * width + 1, "to": min((i + 1) * width, top), "count": c} for i, c in enumerate(counts)]


def text2text_rules(hp: Hyperparameters, model: str) -> list[Problem]:
    """Encoder-decoders train on prompt -> completion rows only, with transformers' own attention."""
    problems = []
    if not (hp.instruction_tuned and not hp.chat_dataset):
        problems.append(Problem(
            f"{model} is an encoder-decoder (text2text) model: it trains on prompt → completion rows, not on raw "
            "text or conversations. Set instruction_tuned=True (and chat_dataset=False) and give prompt/completion "
            "rows.", key="instruction_tuned", value="True" if hp.instruction_tuned else "False",
        ))
    if hp.attention != "auto":
        problems.append(Problem(
            f"attention={hp.attention} chooses the attention kernel of decoder-only models; {model} is an "
            "encoder-decoder and keeps transformers' own. Leave attention=auto.", key="attention", value=hp.attention,
        ))
    return problems


def is_seq2seq_lm(config: Mapping[str, Any]) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    return config.get("model_type") in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES


def is_causal_lm(config: Mapping[str, Any]) -> bool:
    """A decoder LM; an encoder-decoder whose decoder also loads alone (BART) trains as text2text."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    in_mapping = config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    return (in_mapping or "AutoModelForCausalLM" in config.get("auto_map", {})) and not is_seq2seq_lm(config)


# What both text tasks share: JumpStart's LLM hyperparameters, the same data readers, adapter + merged model.
_SHARED: dict[str, Any] = {"schema": Hyperparameters, "check_data": check_text_data, "outputs": ("adapter", "model"),
                           "preview": preview_text_data}

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
    seq2seq=True,
    **_SHARED,
))
