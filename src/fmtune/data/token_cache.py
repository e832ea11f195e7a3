"""Tokenized data sets cached by fingerprint, so that a rerun (a resume, a new learning rate, a benchmark)
starts training without tokenizing again.

The fingerprint covers everything the tokens depend on: the records (their text and origin), the tokenizer's
files, the settings that shape encoding (mode, max length, template, chat format, caps) and fmtune's version
(whose encoding rules could change). Any change is a new key; old entries are plain files one may delete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmtune import __version__
from fmtune.atomic import write_file_atomically
from fmtune.data.encode import Encoded
from fmtune.paths import token_cache_dir

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "chat_template.jinja")

EncodedSplits = tuple[list[Encoded], list[Encoded]]  # (train, validation)


def fingerprint(tokenizer_dir: Path, settings: dict[str, Any], *record_lists: list[Any]) -> str:
    digest = hashlib.sha256(__version__.encode())
    for name in TOKENIZER_FILES:
        file = tokenizer_dir / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for records in record_lists:
        digest.update(b"\x00records")
        for record in records:
            plain = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record
            digest.update(json.dumps(plain, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def cached(key: str, encode: Callable[[], tuple[EncodedSplits, list[str]]]) -> tuple[EncodedSplits, list[str], bool]:
    """(train, validation), the notes encoding produced, and whether they came from the cache."""
    path = token_cache_dir() / f"{key}.json"
    try:
        stored = json.loads(path.read_text())
        sets = tuple([Encoded(ids, labels) for ids, labels in stored[name]] for name in ("train", "validation"))
        return sets, stored["notes"], True  # type: ignore[return-value]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: encode again and overwrite
    (train, validation), notes = encode()
    payload = {name: [[e.input_ids, e.labels] for e in examples]
               for name, examples in (("train", train), ("validation", validation))}
    payload["notes"] = notes
    _write_atomically(path, json.dumps(payload, separators=(",", ":")))
    return (train, validation), notes, False


def _write_atomically(path: Path, text: str) -> None:
    """Several processes (FSDP ranks) may write the same entry: each renames its own complete temp file.
    A cache that cannot be written (read-only or full disk) only costs the next run the tokenization."""
    with contextlib.suppress(OSError):
        write_file_atomically(path, text.encode())
