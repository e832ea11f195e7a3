"""Read data files into rows, remembering where each row came from (file:line) for error messages."""

from __future__ import annotations

import csv
import ctypes
import io
import json
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.errors import DataError

TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt")
# A CSV cell may be any size (csv's default limit, 128 KiB, refuses valid files); the limit is a C long.
CSV_FIELD_LIMIT = 2 ** (8 * ctypes.sizeof(ctypes.c_long) - 1) - 1
_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel, _PREVIEW.maxstring, _PREVIEW.maxother = 3, 60, 60


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


def preview(value: Any) -> str:
    """A short repr for messages: bounded in length and depth, whatever the row holds."""
    return _PREVIEW.repr(value)


def parse_json(text: str) -> Any:
    """json.loads whose every failure is a JSONDecodeError, so callers report it with file and line.

    Valid JSON can still be unreadable: nesting past Python's recursion limit, or an integer with
    more digits than int() converts.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("arrays/objects nested too deeply to read", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as err:
        raise json.JSONDecodeError(str(err).split(";")[0], text, 0) from None


def read_jsonl(path: Path) -> list[Row]:
    """JSON Lines: one object per non-empty line. A broken line names its file and line number."""
    rows = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = parse_json(line)
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
        value = parse_json(text)
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
    """CSV with a header row; each row a dict of its cells (missing cells are None), origin its first line.

    strict: a quote that never closes is an error, not a cell that swallows the rest of the file.
    """
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""), strict=True)
    rows: list[Row] = []
    done = 0  # lines read before the current record; the header is line 1, as editors show it
    try:
        header = next(reader, [])
        if not header:
            raise DataError(f"{path}: the CSV file is empty; it needs a header row (e.g. `text`) and data rows.")
        done = reader.line_num
        while (cells := next(reader, None)) is not None:
            if cells:  # [] is a blank line
                rows.append(Row(_csv_record(path, done + 1, header, cells), f"{path}:{done + 1}"))
            done = reader.line_num
    except csv.Error as err:
        raise DataError(
            f"{path}:{done + 1}: not valid CSV ({err}). Quote cells that hold commas, quotes or line breaks "
            '("a, b"; a quote inside a quoted cell is written "").'
        ) from None
    return rows


def _csv_record(path: Path, line: int, header: list[str], cells: list[str]) -> dict[str, str | None]:
    if len(cells) > len(header):
        raise DataError(
            f"{path}:{line}: the row has {len(cells)} cells but the header has {len(header)} columns "
            f"(extra cells: {preview(cells[len(header):])}). Quote cells that hold commas, or name every column "
            "in the header."
        )
    return dict(zip(header, cells + [None] * (len(header) - len(cells)), strict=True))


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
    """The rows of a .csv/.json/.jsonl/.txt file; bad content is a DataError naming file and line."""
    return READERS[path.suffix.lower()](path)
