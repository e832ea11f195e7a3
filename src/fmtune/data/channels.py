"""Data channels (`training`/`train`, `validation`): find the files, parse rows, check them early.

Everything here is plain Python (no torch, no tokenizer) so that bad data is reported before a
model is loaded. Three layouts, chosen by the hyperparameters:

- domain adaptation: one CSV/JSON/JSONL/TXT file per channel; text from column `text`, else the first;
- instruction tuning: `.jsonl` files + optional `template.json` (JumpStart's default template otherwise);
- chat (`chat_dataset=True`): `.jsonl` rows with `messages` (or `dialog`, `conversations`) [{role, content}, ...]
  or ShareGPT turns [{from: human|gpt|system, value}, ...].
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fmtune.data.readers import TEXT_SUFFIXES, Row, preview, read_records
from fmtune.data.templates import DEFAULT_TEMPLATE, Template, instruction_prompt, load_template
from fmtune.errors import DataError

Mode = Literal["domain", "instruction", "chat"]
CHANNEL_NAMES = {"training": "training", "train": "training", "validation": "validation"}
CHAT_ROLES = ("system", "user", "assistant")
CHAT_KEYS = ("messages", "dialog", "conversations")  # where a chat row holds its turns
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
TEMPLATE_FILE = "template.json"
MODE_SETTING = {"instruction": "instruction tuning (instruction_tuned=True)", "chat": "chat_dataset=True"}


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
    # One line each, for the caller to log: where fmtune read the data differently than it may look
    # (the column used as text, files not read, values converted to text).
    notices: list[str] = field(default_factory=list)


def data_mode(instruction_tuned: bool, chat_dataset: bool) -> Mode:
    return "chat" if chat_dataset else "instruction" if instruction_tuned else "domain"


def normalize_channels(channels: Mapping[str, str | Path], required: tuple[str, ...] = ("training",)
                       ) -> dict[str, Path]:
    """Map channel names (accepting JumpStart's `train` alias and file:// URIs) to existing paths; the `required`
    ones must be there."""
    problems, resolved = [], {}
    for name, location in channels.items():
        canonical = CHANNEL_NAMES.get(name)
        if canonical is None:
            problems.append(f"unknown channel '{name}'; use 'training' (or 'train') and optionally 'validation'")
            continue
        path = Path(str(location).removeprefix("file://")).expanduser()
        if not path.exists():
            problems.append(f"channel '{name}': {path} does not exist")
        elif canonical in resolved:
            problems.append(f"channel '{name}' given twice ('train' and 'training' are the same channel)")
        else:
            resolved[canonical] = path.resolve()
    if "training" in required and "training" not in resolved and not any(
            CHANNEL_NAMES.get(name) == "training" for name in channels):
        problems.append("no training channel; pass --training PATH (SDK: fit({'training': PATH}))")
    if problems:
        raise DataError("Data channels: " + "; ".join(problems) + ".")
    return resolved


def load_splits(
    channels: Mapping[str, Path],
    mode: Mode,
    *,
    demarcation: bool,
    validation_split_ratio: float,
    train_data_split_seed: int,
    max_train_samples: int = -1,
    max_val_samples: int = -1,
    text_column: str | None = None,
    default_template: Template = DEFAULT_TEMPLATE,
) -> Splits:
    """Parse every channel, split off validation when none is given, and apply the sample caps.

    For domain adaptation the caps count text blocks, so they are applied after tokenization
    (see `fmtune.data.encode`); here they only cap instruction and chat rows. `text_column` names
    the domain-adaptation column to train on (None: `text`, else each row's first column);
    `default_template` shapes instruction rows when the training folder has no template.json.
    """
    notices = _stray_template_notices(channels, mode)
    template = None
    if mode == "instruction":
        template = _channel_template(channels["training"], default_template)
        notices += _validation_template_notices(channels, template)
    train = _load_channel(channels["training"], mode, template, demarcation, text_column, notices)
    if "validation" in channels:
        validation = _load_channel(channels["validation"], mode, template, demarcation, text_column, notices)
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
    return Splits(train, validation, source, template, list(dict.fromkeys(notices)))  # a folder can be both channels


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
    allowed = _suffixes(mode)
    if path.is_file():
        if path.suffix.lower() not in allowed:
            raise DataError(f"{path}: unsupported file type '{path.suffix}'; expected one of {list(allowed)}.")
        return [path]
    files = [p for p in _folder_data_files(path) if p.suffix.lower() in allowed]
    if not files:
        ignored = _ignored_files(path, mode)
        unread = f" It holds {ignored}, which {MODE_SETTING[mode]} does not read." if ignored else ""
        raise DataError(
            f"{path}: the folder holds no data file ({', '.join(allowed)}); the channel is empty.{unread}"
        )
    if mode == "domain" and len(files) > 1:
        raise DataError(
            f"{path}: domain adaptation reads exactly one data file per channel, found {len(files)}: "
            f"{[f.name for f in files]}. Merge them into one file or point the channel at one file."
        )
    return files


def _suffixes(mode: Mode) -> tuple[str, ...]:
    return TEXT_SUFFIXES if mode == "domain" else (".jsonl", ".json")


def _folder_data_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES and not p.name.startswith(".") and p.name != TEMPLATE_FILE
    )


def _ignored_files(folder: Path, mode: Mode) -> list[str]:
    """Data files of a folder that this mode does not read (a .csv beside the .jsonl rows)."""
    return [p.name for p in _folder_data_files(folder) if p.suffix.lower() not in _suffixes(mode)]


def _check_folder(path: Path, mode: Mode, notices: list[str]) -> None:
    """A folder laid out for another mode is an error or a notice, never silently read another way."""
    if not path.is_dir():
        return
    if mode == "domain" and (path / TEMPLATE_FILE).exists():
        raise DataError(
            f"{path}: this channel holds {TEMPLATE_FILE} and instruction rows, but instruction_tuned=False "
            "(domain adaptation) trains on raw text and reads no template; set instruction_tuned=True (or remove "
            f"{TEMPLATE_FILE} to train on raw text)."
        )
    ignored = _ignored_files(path, mode)
    if ignored:
        notices.append(
            f"{path}: not read: {ignored}; {MODE_SETTING[mode]} reads only the .jsonl/.json files of a channel "
            "folder. Convert them to JSON Lines (one object per line) to train on them, or move them out."
        )


def _channel_template(path: Path, default: Template) -> Template:
    """The training folder's template.json, else the task's default (a file channel has no template)."""
    return load_template(path / TEMPLATE_FILE) if (path / TEMPLATE_FILE).is_file() else default


def _stray_template_notices(channels: Mapping[str, Path], mode: Mode) -> list[str]:
    """template.json beside a file channel is not read: only a channel folder's is."""
    if mode == "chat":
        return []
    beside = {path.parent / TEMPLATE_FILE for path in channels.values() if path.is_file()}
    strays = sorted(stray for stray in beside if stray.is_file())
    return [
        f"{stray} is not read: {TEMPLATE_FILE} is read only from a channel folder; pass the folder {stray.parent} "
        "as the channel (with instruction_tuned=True) to use it, or remove it."
        for stray in strays
    ]


def _validation_template_notices(channels: Mapping[str, Path], template: Template) -> list[str]:
    """The training channel's template fills the validation rows too; a different one there is not read."""
    own = channels.get("validation", Path()) / TEMPLATE_FILE
    if "validation" not in channels or not own.is_file():
        return []
    other = load_template(own)
    if (other.prompt, other.completion) == (template.prompt, template.completion):
        return []
    return [
        f"{own} is not read: the training channel's template ({template.origin}) fills the validation rows too, "
        "so both are rendered the same way. Make the two templates equal, or remove this one."
    ]


def _load_channel(
    path: Path, mode: Mode, template: Template | None, demarcation: bool, text_column: str | None,
    notices: list[str],
) -> list[Record]:
    files = channel_files(path, mode)
    _check_folder(path, mode, notices)
    records: list[Record] = []
    converted: Counter[str] = Counter()
    for file in files:
        rows = read_records(file)
        if mode == "domain":
            records.extend(_domain_rows(file, rows, text_column, notices))
        elif mode == "instruction":
            assert template is not None
            for row in rows:
                prompt, completion, keys = template.render(row)
                converted.update(dict.fromkeys(keys).keys())  # each row once per key, in template order
                records.append(PromptCompletion(instruction_prompt(prompt, demarcation), completion, row.origin))
        else:
            records.extend(_conversation(row) for row in rows)
    if converted:
        counts = ", ".join(f"'{key}' ({n})" for key, n in converted.most_common())
        notices.append(
            f"{path}: {sum(converted.values())} number/boolean value(s) in template fields were written as text "
            f'the way the JSON spells them (42 -> "42", true -> "true"): {counts}. Store them as strings to '
            "silence this notice."
        )
    if not records:
        raise DataError(f"{path}: no examples found (the files hold no rows with text).")
    return records


def _domain_rows(file: Path, rows: list[Row], text_column: str | None, notices: list[str]) -> list[Row]:
    if text_column is None:
        notices.extend(_first_column_notices(file, rows))
    texts = []
    for row in rows:
        text = _row_text(row, text_column)
        if text.strip():
            texts.append(Row(text, row.origin))
    if not texts:
        raise DataError(f"{file}: no rows with text (a `text` column, or text in the first column, is needed).")
    return texts


def _first_column_notices(file: Path, rows: list[Row]) -> list[str]:
    """Rows without a `text` column are read from their first column: say which, and refuse one without text."""
    fallback = [r.value for r in rows if isinstance(r.value, dict) and r.value and "text" not in r.value]
    if not fallback:
        return []
    named = ", ".join(f"`{c}`" for c in dict.fromkeys(next(iter(v)) for v in fallback))
    hint = _other_mode_hint(fallback[0])
    firsts = [next(iter(v.values())) for v in fallback]
    if not any(_is_text(value) for value in firsts):
        raise DataError(
            f"{file}: there is no `text` column and the first column {named} holds no text (every value is a "
            f"number, a boolean or empty, e.g. {preview(firsts[0])}); set text_column=NAME to the column that "
            f"holds the documents (columns: {list(fallback[0])[:30]}).{hint}"
        )
    lead = (f"{file} has no `text` column" if len(fallback) == len(rows)
            else f"{file}: {len(fallback)} of {len(rows)} rows have no `text` column")
    return [f"{lead}; using the first column {named} as text (set text_column=NAME to choose).{hint}"]


def _other_mode_hint(value: dict) -> str:
    """Rows shaped for instruction tuning or chat, read as raw text: legitimate, but say how to switch."""
    if any(key in value for key in CHAT_KEYS):
        return " The rows look like conversations: set chat_dataset=True to train on them as chat."
    if {"instruction", "response"} <= value.keys() or {"prompt", "completion"} <= value.keys():
        return " The rows look like instruction rows: set instruction_tuned=True to train prompt -> completion."
    return ""


def _is_text(value: object) -> bool:
    """Whether a cell reads as text rather than a number, a boolean or nothing (CSV cells are all strings)."""
    if not isinstance(value, str) or not value.strip():
        return False
    if value.strip().lower() in ("true", "false"):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def _row_text(row: Row, text_column: str | None) -> str:
    """The row's text: a string row, else `text_column`, else `text`, else the first column."""
    value = row.value
    if isinstance(value, str):
        return value
    found = preview(value)
    if isinstance(value, dict) and value:
        key = text_column or ("text" if "text" in value else next(iter(value)))
        if key not in value:
            raise DataError(
                f"{row.origin}: the row has no column '{key}' (text_column={key}); columns in this row: "
                f"{list(value)[:30]}. Set text_column to one of them, or add '{key}' to every row."
            )
        text = value[key]
        if text is None or isinstance(text, str):
            return text or ""
        found = f"`{key}`: {preview(text)}"
    raise DataError(
        f"{row.origin}: expected text (a `text` field or a string in the first column), found {found}."
    )


def _conversation(row: Row) -> Conversation:
    """A chat row: its turns under `messages`, `dialog` or `conversations` (the keys JumpStart's notebooks
    write), each {"role", "content"} or ShareGPT's {"from", "value"} (human/gpt/system)."""
    value = row.value
    found = [key for key in CHAT_KEYS if isinstance(value, dict) and key in value]
    if len(found) > 1:
        raise DataError(f"{row.origin}: the row has both {found[0]!r} and {found[1]!r}; give its turns under one "
                        f"of {list(CHAT_KEYS)}.")
    messages = value[found[0]] if found else None
    if not isinstance(messages, list) or not messages:
        raise DataError(
            f"{row.origin}: chat rows need a non-empty 'messages' list "
            '([{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]; '
            f"also read under {list(CHAT_KEYS[1:])}, and ShareGPT's {{\"from\", \"value\"}} turns)."
        )
    turns = []
    for i, message in enumerate(messages):
        turn = _turn(message)
        if turn is None:
            raise DataError(
                f"{row.origin}: message {i + 1} must be an object with 'role' in {list(CHAT_ROLES)} and "
                f"a string 'content' (or ShareGPT's 'from' in {list(SHAREGPT_ROLES)} and a string 'value'), "
                f"found {preview(message)}."
            )
        turns.append(turn)
    if not any(t["role"] == "assistant" for t in turns):
        raise DataError(f"{row.origin}: the conversation has no 'assistant' message, so there is nothing to learn.")
    return Conversation(turns, row.origin)


def _turn(message: object) -> dict[str, str] | None:
    """One turn as {"role", "content"}; None when it is neither shape."""
    if not isinstance(message, dict):
        return None
    if "role" in message or "from" not in message:
        role, content = message.get("role"), message.get("content")
    else:
        speaker = message["from"]
        role, content = SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None, message.get("value")
    if not isinstance(role, str) or role not in CHAT_ROLES or not isinstance(content, str):
        return None
    return {"role": role, "content": content}
