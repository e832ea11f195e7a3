"""Data channels (`training`/`train`, `validation`): find the files, parse rows, check them early.

Everything here is plain Python (no torch, no tokenizer) so that bad data is reported before a
model is loaded. Three layouts, chosen by the hyperparameters:

- domain adaptation: one CSV/JSON/JSONL/TXT file per channel; text from column `text`, else the first;
- instruction tuning: `.jsonl` files + optional `template.json` (JumpStart's default template otherwise);
- chat (`chat_dataset=True`): `.jsonl` rows with `messages` [{role, content}, ...].
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fmtune.data.readers import TEXT_SUFFIXES, Row, read_jsonl, read_records
from fmtune.data.templates import Template, default_template, instruction_prompt, load_template
from fmtune.errors import DataError

if TYPE_CHECKING:
    from fmtune.config.hyperparameters import Hyperparameters

Mode = Literal["domain", "instruction", "chat"]
CHANNEL_NAMES = {"training": "training", "train": "training", "validation": "validation"}
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PromptCompletion:
    prompt: str  # already includes the demarcation key when enabled
    completion: str
    origin: str


@dataclass(frozen=True)
class Conversation:
    messages: list[dict[str, str]]
    origin: str


Record = Row | PromptCompletion | Conversation


@dataclass(frozen=True)
class Splits:
    train: list[Record]
    validation: list[Record]
    validation_source: str  # "validation channel" or "20% split of training (seed 0)"
    template: Template | None


def data_mode(instruction_tuned: bool, chat_dataset: bool) -> Mode:
    return "chat" if chat_dataset else "instruction" if instruction_tuned else "domain"


def normalize_channels(channels: Mapping[str, str | Path]) -> dict[str, Path]:
    """Map channel names (accepting JumpStart's `train` alias and file:// URIs) to existing paths."""
    problems, resolved = [], {}
    for name, location in channels.items():
        canonical = CHANNEL_NAMES.get(name)
        if canonical is None:
            problems.append(f"unknown channel '{name}'; use 'training' (or 'train') and optionally 'validation'")
            continue
        text = str(location)
        if text.startswith("s3://"):
            problems.append(
                f"channel '{name}': {text} is an S3 URI; fmtune reads local data. Copy it first "
                f"(`aws s3 sync {text} ./data`) and pass the local path"
            )
            continue
        path = Path(text.removeprefix("file://")).expanduser()
        if not path.exists():
            problems.append(f"channel '{name}': {path} does not exist")
        elif canonical in resolved:
            problems.append(f"channel '{name}' given twice ('train' and 'training' are the same channel)")
        else:
            resolved[canonical] = path.resolve()
    if "training" not in resolved and not any(CHANNEL_NAMES.get(name) == "training" for name in channels):
        problems.append("no training channel; pass --training PATH (SDK: fit({'training': PATH}))")
    if problems:
        raise DataError("Data channels: " + "; ".join(problems) + ".")
    return resolved


def load_splits(
    channels: Mapping[str, Path],
    mode: Mode,
    *,
    task: str,
    demarcation: bool,
    validation_split_ratio: float,
    train_data_split_seed: int,
    max_train_samples: int = -1,
    max_val_samples: int = -1,
) -> Splits:
    """Parse every channel, split off validation when none is given, and apply the sample caps.

    For domain adaptation the caps count text blocks, so they are applied after tokenization
    (see `fmtune.data.encode`); here they only cap instruction and chat rows.
    """
    template = None
    if mode == "instruction":
        template = _channel_template(channels["training"], task)
    train = _load_channel(channels["training"], mode, template, demarcation)
    if "validation" in channels:
        validation = _load_channel(channels["validation"], mode, template, demarcation)
        source = f"validation channel {channels['validation']}"
    else:
        if len(train) < 2:
            raise DataError(
                f"{channels['training']}: {len(train)} example(s) cannot be split into training and "
                "validation; add examples or pass a validation channel."
            )
        train, validation = split_records(train, validation_split_ratio, train_data_split_seed)
        source = f"{validation_split_ratio:g} of training (train_data_split_seed={train_data_split_seed})"
    if mode != "domain":
        train = cap(train, max_train_samples)
        validation = cap(validation, max_val_samples)
    return Splits(train, validation, source, template)


def load_job_splits(channels: Mapping[str, str | Path], mode: Mode, task: str, hp: Hyperparameters) -> Splits:
    """The job's data exactly as its recipe reads it: the one call both the early check and the recipe make."""
    return load_splits(
        {name: Path(location) for name, location in channels.items()},
        mode,
        task=task,
        demarcation=hp.add_input_output_demarcation_key,
        validation_split_ratio=hp.validation_split_ratio,
        train_data_split_seed=hp.train_data_split_seed,
        max_train_samples=hp.max_train_samples,
        max_val_samples=hp.max_val_samples,
    )


def split_records(records: list, ratio: float, seed: int) -> tuple[list, list]:
    """Deterministic random split; both sides keep at least one record and the original order."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(len(records) * ratio)), len(records) - 1)
    held_out = set(order[:n_val])
    train = [r for i, r in enumerate(records) if i not in held_out]
    validation = [r for i, r in enumerate(records) if i in held_out]
    return train, validation


def cap(records: list, limit: int) -> list:
    return records if limit == -1 else records[:limit]


def channel_files(path: Path, mode: Mode) -> list[Path]:
    """The data files of a channel (a file, or the data files in a folder)."""
    allowed = TEXT_SUFFIXES if mode == "domain" else (".jsonl", ".json")
    if path.is_file():
        if path.suffix.lower() not in allowed:
            raise DataError(f"{path}: unsupported file type '{path.suffix}'; expected one of {list(allowed)}.")
        return [path]
    files = sorted(
        p for p in path.iterdir()
        if p.is_file() and p.suffix.lower() in allowed and not p.name.startswith(".") and p.name != "template.json"
    )
    if not files:
        raise DataError(f"{path}: the folder holds no data file ({', '.join(allowed)}); the channel is empty.")
    if mode == "domain" and len(files) > 1:
        raise DataError(
            f"{path}: domain adaptation reads exactly one data file per channel, found {len(files)}: "
            f"{[f.name for f in files]}. Merge them into one file or point the channel at one file."
        )
    return files


def _channel_template(path: Path, task: str) -> Template:
    candidate = (path if path.is_dir() else path.parent) / "template.json"
    return load_template(candidate) if path.is_dir() and candidate.exists() else default_template(task)


def _load_channel(path: Path, mode: Mode, template: Template | None, demarcation: bool) -> list[Record]:
    records: list[Record] = []
    for file in channel_files(path, mode):
        rows = read_records(file) if mode == "domain" else read_jsonl(file) if file.suffix == ".jsonl" \
            else read_records(file)
        if mode == "domain":
            records.extend(_domain_rows(file, rows))
        elif mode == "instruction":
            assert template is not None
            for row in rows:
                prompt, completion = template.render(row)
                records.append(PromptCompletion(instruction_prompt(prompt, demarcation), completion, row.origin))
        else:
            records.extend(_conversation(row) for row in rows)
    if not records:
        raise DataError(f"{path}: no examples found (the files hold no rows with text).")
    return records


def _domain_rows(file: Path, rows: list[Row]) -> list[Row]:
    texts = []
    for row in rows:
        text = _row_text(row)
        if text.strip():
            texts.append(Row(text, row.origin))
    if not texts:
        raise DataError(f"{file}: no rows with text (a `text` column, or text in the first column, is needed).")
    return texts


def _row_text(row: Row) -> str:
    value = row.value
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        text = value.get("text", next(iter(value.values())))
        if text is None:
            return ""
        if isinstance(text, str):
            return text
    raise DataError(
        f"{row.origin}: expected text (a `text` field or a string in the first column), found {value!r:.80}."
    )


def _conversation(row: Row) -> Conversation:
    value = row.value
    messages = value.get("messages") if isinstance(value, dict) else None
    if not isinstance(messages, list) or not messages:
        raise DataError(
            f"{row.origin}: chat rows need a non-empty 'messages' list "
            '([{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]).'
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in CHAT_ROLES \
                or not isinstance(message.get("content"), str):
            raise DataError(
                f"{row.origin}: message {i + 1} must be an object with 'role' in {list(CHAT_ROLES)} and "
                f"a string 'content', found {message!r:.80}."
            )
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{row.origin}: the conversation has no 'assistant' message, so there is nothing to learn.")
    return Conversation([{"role": m["role"], "content": m["content"]} for m in messages], row.origin)
