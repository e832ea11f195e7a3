"""Data inputs that used to fail the wrong way or be read silently another way.

Each bad input is a DataError naming file:line (and key), the value and the fix; each input read in a
way the user may not expect is a line in `Splits.notices`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.data import readers
from fmtune.data.channels import Splits, load_splits
from fmtune.data.readers import read_records
from fmtune.data.templates import load_template
from fmtune.errors import DataError
from fmtune.tasks.text import read_splits

from ..data_support import jsonl, write
from ..jobs_support import build_job

ROW = {"instruction": "Add the numbers.", "context": "2 and 3", "response": "5"}


def load(training: Path, mode: str = "domain", validation: Path | None = None, **kwargs) -> Splits:
    channels = {"training": training} | ({"validation": validation} if validation else {})
    return load_splits(channels, mode, demarcation=True,  # type: ignore[arg-type]
                       validation_split_ratio=0.5, train_data_split_seed=0, **kwargs)


def data_error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load(*args, **kwargs)
    return str(info.value)


# --- CSV -----------------------------------------------------------------------------------------------


def test_csv_cell_over_128_kib_is_read(tmp_path):
    big = "word " * 60_000  # 300 KB, past csv's default field limit of 128 KiB
    path = write(tmp_path / "big.csv", f'text\n"{big}"\nsmall\n')
    splits = load(path)
    assert sorted(r.value for r in splits.train + splits.validation) == sorted([big, "small"])
    assert [r.origin for r in read_records(path)] == [f"{path}:2", f"{path}:3"]


def test_other_csv_errors_name_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_FIELD_LIMIT", 8)  # any csv.Error takes the same path
    path = write(tmp_path / "d.csv", "text\nshort\n\"multi\nline and long\"\n")
    with pytest.raises(DataError) as info:
        read_records(path)
    assert str(info.value).startswith(f"{path}:3: not valid CSV (field larger than field limit (8)). Quote cells")


def test_csv_unclosed_quote_names_the_line_where_the_cell_starts(tmp_path):
    path = write(tmp_path / "d.csv", 'text\nfine\n"never closed\nmore\n')
    assert data_error(path).startswith(f"{path}:3: not valid CSV (unexpected end of data).")


def test_csv_row_with_more_cells_than_columns(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nok,a\nunquoted, comma,b\n")
    assert data_error(path) == (
        f"{path}:3: the row has 3 cells but the header has 2 columns (extra cells: ['b']). Quote cells that "
        "hold commas, or name every column in the header."
    )


def test_csv_missing_cells_are_empty(tmp_path):
    path = write(tmp_path / "d.csv", "label,text\na,one\nb\n")
    assert [r.value for r in read_records(path)] == [{"label": "a", "text": "one"}, {"label": "b", "text": None}]


# --- JSON that parses in principle but not in Python ----------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_deeply_nested_json_is_a_data_error(tmp_path, suffix):
    path = write(tmp_path / f"d{suffix}", '{"text": "ok"}\n' + "[" * 100_000 + "\n")
    message = data_error(path)
    assert message.startswith(f"{path}:2: not valid JSON (arrays/objects nested too deeply to read")


def test_deeply_nested_json_array_file(tmp_path):
    path = write(tmp_path / "d.json", "[" * 100_000)
    assert data_error(path).startswith(f"{path}:1: not valid JSON (arrays/objects nested too deeply")


def test_integer_with_too_many_digits(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a"}\n{"text": "b", "n": ' + "9" * 5000 + "}\n")
    assert data_error(path).startswith(f"{path}:2: not valid JSON (Exceeds the limit (4300 digits)")


def test_deeply_nested_template_json(tmp_path):
    path = write(tmp_path / "template.json", "[" * 100_000)
    with pytest.raises(DataError, match="template.json is not valid JSON .arrays/objects nested too deeply"):
        load_template(path)


def test_messages_show_a_bounded_preview_of_huge_or_deep_values(tmp_path):
    deep: list = ["x"]
    for _ in range(500):
        deep = [deep]
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": [deep, {"role": "assistant", "content": "y" * 10**6}]}])
    message = data_error(path, "chat", validation=path)
    assert message.startswith(f"{path}:1: message 1 must be an object") and len(message) < 400


# --- template.json placeholders ---------------------------------------------------------------------------


@pytest.mark.parametrize(("placeholder", "fix"), [
    ("{instruction:d}", "{instruction}"), ("{instruction!x}", "{instruction}"), ("{instruction!r}", "{instruction}"),
    ("{instruction:>20000000000}", "{instruction}"), ("{a.b}", "{a}"), ("{a[0]}", "{a}"), ("{a!s:{b}}", "{a}"),
])
def test_placeholders_are_plain_row_keys(tmp_path, placeholder, fix):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [ROW, ROW])
    template = write(train / "template.json", json.dumps({"prompt": "Q", "completion": f"A: {placeholder}"}))
    message = data_error(train, "instruction")
    assert message == (
        f"{template}: 'completion' has the placeholder {placeholder}; placeholders are plain row keys, without "
        f"format specs (:...), conversions (!r), attributes (.x) or indexes ([0]). Write {fix}, and literal "
        "braces as {{ and }}."
    )


def test_placeholder_keys_may_hold_any_other_character(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"user-id": "u1", "first name": "Ada", "a": "x"}])
    write(train / "template.json", json.dumps({"prompt": "{user-id} {first name} {{a}}", "completion": "{a}"}))
    (first,) = load(train, "instruction", validation=train).train
    assert (first.prompt, first.completion) == ("u1 Ada {a}\n\n### Response:\n", "x")


# --- domain adaptation: the text column ------------------------------------------------------------------


def test_first_column_used_as_text_is_a_notice(tmp_path):
    path = write(tmp_path / "train.csv", "body,label\nalpha text,a\nbeta text,b\n")
    splits = load(path)
    assert splits.notices == [
        f"{path} has no `text` column; using the first column `body` as text (set text_column=NAME to choose)."
    ]
    with_text = write(tmp_path / "t.csv", "id,text\n1,x\n2,y\n")
    assert load(with_text).notices == []


def test_some_jsonl_rows_without_text_key_is_a_notice(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [{"text": "one"}, {"title": "first key"}, {"text": "two"}])
    assert load(path).notices == [f"{path}: 1 of 3 rows have no `text` column; using the first column `title` "
                                  "as text (set text_column=NAME to choose)."]


@pytest.mark.parametrize("cells", [["1", "2", "3"], ["0.5", "-2e3", "nan"], ["true", "False", "TRUE"], ["", " ", ""]])
def test_first_column_that_holds_no_text_is_refused(tmp_path, cells):
    path = write(tmp_path / "train.csv", "id,body\n" + "".join(f"{c},doc {i}\n" for i, c in enumerate(cells)))
    message = data_error(path)
    assert message.startswith(f"{path}: there is no `text` column and the first column `id` holds no text")
    assert "set text_column=NAME to the column that holds the documents (columns: ['id', 'body'])." in message
    splits = load(path, text_column="body")
    assert sorted(r.value for r in splits.train + splits.validation) == ["doc 0", "doc 1", "doc 2"]
    assert splits.notices == []


def test_json_first_column_of_numbers_is_refused(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [{"id": 1, "body": "a"}, {"id": 2, "body": "b"}])
    message = data_error(path)
    assert "the first column `id` holds no text" in message and "e.g. 1)" in message


def test_text_column_absent_from_a_row(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [{"body": "a", "id": 1}, {"content": "b", "id": 2}])
    assert data_error(path, text_column="body") == (
        f"{path}:2: the row has no column 'body' (text_column=body); columns in this row: ['content', 'id']. "
        "Set text_column to one of them, or add 'body' to every row."
    )


def test_text_column_reaches_load_splits_from_the_hyperparameters(tmp_path, monkeypatch):
    monkeypatch.setenv("FMTUNE_HOME", str(tmp_path / "home"))
    path = write(tmp_path / "train.csv", "id,body\n1,first\n2,second\n")
    splits = read_splits(build_job(DEFAULT_MODEL_ID, {"training": path}, {"text_column": "body"}))
    assert sorted(r.value for r in splits.train + splits.validation) == ["first", "second"]


def test_instruction_rows_trained_as_domain_text_is_a_notice(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [ROW, ROW])
    (notice,) = load(path).notices
    assert notice == (
        f"{path} has no `text` column; using the first column `instruction` as text (set text_column=NAME to "
        "choose). The rows look like instruction rows: set instruction_tuned=True to train prompt -> completion."
    )


def test_chat_rows_in_domain_mode_point_at_chat_dataset(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}] * 2)
    message = data_error(path)
    assert "the first column `messages` holds no text" in message
    assert message.endswith("The rows look like conversations: set chat_dataset=True to train on them as chat.")


# --- mode mistakes -----------------------------------------------------------------------------------------


def test_csv_beside_jsonl_in_an_instruction_folder_is_a_notice(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "a.jsonl", [ROW, ROW])
    write(train / "more.csv", "instruction,context,response\nx,y,z\n")
    write(train / "notes.txt", "x")
    write(train / "README.md", "not data, not mentioned")
    splits = load(train, "instruction")
    assert splits.notices == [
        f"{train}: not read: ['more.csv', 'notes.txt']; instruction tuning (instruction_tuned=True) reads only "
        "the .jsonl/.json files of a channel folder. Convert them to JSON Lines (one object per line) to train "
        "on them, or move them out."
    ]


def test_instruction_folder_with_only_csv_names_the_file(tmp_path):
    train = tmp_path / "train"
    write(train / "rows.csv", "instruction,context,response\nx,y,z\n")
    assert data_error(train, "chat") == (
        f"{train}: the folder holds no data file (.jsonl, .json); the channel is empty. It holds ['rows.csv'], "
        "which chat_dataset=True does not read."
    )


@pytest.mark.parametrize("mode", ["instruction", "domain"])
def test_template_json_beside_a_file_channel_is_a_notice(tmp_path, mode):
    data = tmp_path / "data"
    path = jsonl(data / "train.jsonl", [{**ROW, "text": "t"}] * 2)
    write(data / "template.json", json.dumps({"prompt": "{instruction}", "completion": "{response}"}))
    splits = load(path, mode)
    assert splits.notices == [
        f"{data / 'template.json'} is not read: template.json is read only from a channel folder; pass the folder "
        f"{data} as the channel (with instruction_tuned=True) to use it, or remove it."
    ]
    if mode == "instruction":
        assert splits.template is not None and splits.template.origin == "default template"


def test_template_json_in_a_domain_folder_is_an_error(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [ROW, ROW])
    write(train / "template.json", json.dumps({"prompt": "{instruction}", "completion": "{response}"}))
    assert data_error(train) == (
        f"{train}: this channel holds template.json and instruction rows, but instruction_tuned=False (domain "
        "adaptation) trains on raw text and reads no template; set instruction_tuned=True (or remove "
        "template.json to train on raw text)."
    )
    assert len(load(train, "instruction").train) == 1


def test_different_template_in_the_validation_folder_is_a_notice(tmp_path):
    train, validation = tmp_path / "train", tmp_path / "validation"
    for folder, prompt in ((train, "Q: {instruction}"), (validation, "Question: {instruction}")):
        jsonl(folder / "data.jsonl", [ROW])
        write(folder / "template.json", json.dumps({"prompt": prompt, "completion": "{response}"}))
    splits = load(train, "instruction", validation=validation)
    assert splits.validation[0].prompt.startswith("Q: ")
    assert splits.notices == [
        f"{validation / 'template.json'} is not read: the training channel's template ({train / 'template.json'}) "
        "fills the validation rows too, so both are rendered the same way. Make the two templates equal, or "
        "remove this one."
    ]
    write(validation / "template.json", json.dumps({"prompt": "Q: {instruction}", "completion": "{response}"}))
    assert load(train, "instruction", validation=validation).notices == []
