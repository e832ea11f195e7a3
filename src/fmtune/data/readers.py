"""Read data files into rows, remembering where each row came from (file:line) for error messages."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.errors import DataError

TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt")


@dataclass(frozen=True)
class Row:
    """One record of a data file and its origin, e.g. `train/data.jsonl:17`."""

    value: Any
    origin: str


def read_text_file(path: Path) -> str:
    """Whole file as text; non-UTF-8 input is an error that names the file, line and byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}). "
            "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in > out`) and try again."
        ) from None


def read_jsonl(path: Path) -> list[Row]:
    """JSON Lines: one object per non-empty line. A broken line names its file and line number."""
    rows = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno}). Each line of a "
                ".jsonl file must hold one complete JSON object."
            ) from None
        rows.append(Row(value, f"{path}:{number}"))
    return rows


def read_json(path: Path) -> list[Row]:
    """A JSON array of records, or JSON Lines saved with a .json name (as the datasets library allows)."""
    text = read_text_file(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if text.lstrip().startswith("["):  # a broken JSON array, not JSON Lines: report where it breaks
            raise DataError(
                f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}). A .json file must "
                "hold one JSON array of records, or one JSON object per line."
            ) from None
        return read_jsonl(path)
    if isinstance(value, dict):  # {"text": [...]} column layout
        columns = [v for v in value.values() if isinstance(v, list)]
        if len(columns) == len(value) and columns:
            keys = list(value)
            return [Row(dict(zip(keys, values, strict=False)), f"{path}:record {i + 1}")
                    for i, values in enumerate(zip(*columns, strict=False))]
        return [Row(value, f"{path}:record 1")]
    if not isinstance(value, list):
        raise DataError(f"{path}: expected a JSON array of records or JSON Lines, found {type(value).__name__}.")
    return [Row(v, f"{path}:record {i + 1}") for i, v in enumerate(value)]


def read_csv(path: Path) -> list[Row]:
    text = read_text_file(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise DataError(f"{path}: the CSV file is empty; it needs a header row (e.g. `text`) and data rows.")
    # Line numbers count the header as line 1, as editors show them.
    return [Row(dict(record), f"{path}:{reader.line_num}") for record in reader]


def read_txt(path: Path) -> list[Row]:
    """Plain text: each paragraph (blank-line separated) is one document."""
    rows, lines, start = [], [], 1
    for number, line in enumerate(read_text_file(path).splitlines() + [""], start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            rows.append(Row({"text": "\n".join(lines)}, f"{path}:{start}"))
            lines = []
    return rows


READERS = {".csv": read_csv, ".json": read_json, ".jsonl": read_jsonl, ".txt": read_txt}


def read_records(path: Path) -> list[Row]:
    return READERS[path.suffix.lower()](path)
