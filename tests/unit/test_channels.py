"""Data channels: every format, templates, chat rows, the validation split, the caps, and every bad input.

Plain files written into tmp_path (and the shipped samples/); no tokenizer, no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.data.channels import (
    Conversation,
    PromptCompletion,
    Splits,
    load_splits,
    normalize_channels,
    split_records,
)
from fmtune.data.readers import Row
from fmtune.data.templates import DEFAULT_TEMPLATE, TEXT2TEXT_TEMPLATE, Template
from fmtune.errors import DataError

from ..data_support import jsonl, write

SAMPLES = Path(__file__).parents[2] / "samples"

# JumpStart's default template for decoder LLMs, spelled out (shared/reference/jumpstart.md).
JUMPSTART_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{context}"
)


def load(
    training: Path,
    mode: str = "domain",
    *,
    validation: Path | None = None,
    default_template: Template = DEFAULT_TEMPLATE,
    demarcation: bool = True,
    ratio: float = 0.2,
    seed: int = 0,
    max_train: int = -1,
    max_val: int = -1,
) -> Splits:
    channels = {"training": training}
    if validation is not None:
        channels["validation"] = validation
    return load_splits(
        channels,
        mode,  # type: ignore[arg-type]
        default_template=default_template,
        demarcation=demarcation,
        validation_split_ratio=ratio,
        train_data_split_seed=seed,
        max_train_samples=max_train,
        max_val_samples=max_val,
    )


def data_error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load(*args, **kwargs)
    return str(info.value)


@pytest.fixture
def val(tmp_path) -> Path:
    """A one-row validation file, so the training rows are read without a split."""
    return jsonl(tmp_path / "val" / "v.jsonl", [{"text": "held out"}])


def texts(splits_part: list) -> list[str]:
    return [r.value for r in splits_part]


# --- domain adaptation: every format ----------------------------------------------------------------


def test_csv_text_column(tmp_path, val):
    path = write(tmp_path / "d.csv", 'id,text\n1,first document\n2,"second, with a comma"\n3,"multi\nline"\n')
    splits = load(path, validation=val)
    assert texts(splits.train) == ["first document", "second, with a comma", "multi\nline"]
    assert [r.origin for r in splits.train][:2] == [f"{path}:2", f"{path}:3"]  # the header is line 1
    assert texts(splits.validation) == ["held out"]
    assert splits.validation_source.startswith("validation channel")


def test_csv_without_text_column_uses_first_column(tmp_path, val):
    path = write(tmp_path / "d.csv", "body,label\nalpha text,a\nbeta text,b\n")
    assert texts(load(path, validation=val).train) == ["alpha text", "beta text"]


def test_csv_rows_with_empty_text_are_skipped(tmp_path, val):
    path = write(tmp_path / "d.csv", "text\nkept\n\"\"\nalso kept\n")
    assert texts(load(path, validation=val).train) == ["kept", "also kept"]


def test_json_array(tmp_path, val):
    rows = [{"text": "a doc"}, {"text": "b doc"}, {"text": "c doc"}]
    path = write(tmp_path / "d.json", json.dumps(rows, indent=2))
    splits = load(path, validation=val)
    assert texts(splits.train) == ["a doc", "b doc", "c doc"]
    assert splits.train[1].origin == f"{path}:record 2"


def test_json_column_layout(tmp_path, val):
    path = write(tmp_path / "d.json", json.dumps({"text": ["x one", "x two"]}))
    assert texts(load(path, validation=val).train) == ["x one", "x two"]


def test_json_lines_saved_as_json(tmp_path, val):
    path = jsonl(tmp_path / "d.json", [{"text": "line one"}, {"text": "line two"}])
    splits = load(path, validation=val)
    assert texts(splits.train) == ["line one", "line two"]
    assert splits.train[1].origin == f"{path}:2"


def test_jsonl(tmp_path, val):
    path = write(tmp_path / "d.jsonl",
                 '{"text": "one"}\n\n{"text": "two", "other": 1}\n{"title": "first key"}\n')
    splits = load(path, validation=val)
    assert texts(splits.train) == ["one", "two", "first key"]
    assert [r.origin for r in splits.train] == [f"{path}:1", f"{path}:3", f"{path}:4"]


def test_txt_paragraphs(tmp_path, val):
    path = write(tmp_path / "d.txt", "First paragraph,\nsecond line.\n\n\nSecond paragraph.\n   \nThird.")
    splits = load(path, validation=val)
    assert texts(splits.train) == ["First paragraph,\nsecond line.", "Second paragraph.", "Third."]
    assert [r.origin for r in splits.train] == [f"{path}:1", f"{path}:5", f"{path}:7"]


def test_folder_with_one_data_file(tmp_path, val):
    folder = tmp_path / "train"
    write(folder / "only.csv", "text\nin a folder\n")
    write(folder / ".hidden.csv", "text\nignored\n")
    write(folder / "README.md", "not data")
    assert texts(load(folder, validation=val).train) == ["in a folder"]


def test_domain_caps_are_left_to_tokenization(tmp_path, val):
    path = jsonl(tmp_path / "d.jsonl", [{"text": f"doc {i}"} for i in range(5)])
    assert len(load(path, validation=val, max_train=2, max_val=1).train) == 5


# --- instruction tuning ------------------------------------------------------------------------------

ROW = {"instruction": "Add the numbers.", "context": "2 and 3", "response": "5"}


def test_default_template_with_demarcation(tmp_path):
    folder = tmp_path / "train"
    jsonl(folder / "data.jsonl", [ROW, {**ROW, "response": "five"}])
    splits = load(folder, "instruction", validation=folder)
    first = splits.train[0]
    assert isinstance(first, PromptCompletion)
    assert first.prompt == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n"
    )
    assert first.completion == "5"
    assert splits.train[1].completion == "five"
    assert first.origin == f"{folder / 'data.jsonl'}:1"
    assert splits.template is not None and splits.template.origin == "default template"
    assert splits.template.prompt == JUMPSTART_PROMPT
    assert splits.template.completion == "{response}"


def test_default_template_without_demarcation(tmp_path):
    folder = tmp_path / "train"
    jsonl(folder / "data.jsonl", [ROW])
    (first,) = load(folder, "instruction", validation=folder, demarcation=False).train
    assert first.prompt == JUMPSTART_PROMPT.format(instruction="Add the numbers.", context="2 and 3")
    assert first.prompt.endswith("### Input:\n2 and 3")
    assert "### Response:" not in first.prompt


def test_text2text_default_template(tmp_path):
    path = jsonl(tmp_path / "t.jsonl", [{"prompt": "Translate to German: hello", "completion": "hallo"}])
    (first,) = load(path, "instruction", validation=path, default_template=TEXT2TEXT_TEMPLATE, demarcation=False).train
    assert (first.prompt, first.completion) == ("Translate to German: hello", "hallo")


def test_custom_template_json(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"question": "What is 2+2?", "answer": "4", "extra": "x"},
                                 {"question": "Capital of France?", "answer": "Paris"}])
    write(train / "template.json", json.dumps({"prompt": "Q: {question}", "completion": " A: {answer}"}))
    validation = tmp_path / "validation"
    jsonl(validation / "data.jsonl", [{"question": "1+1?", "answer": "2"}])
    splits = load(train, "instruction", validation=validation)
    assert [(r.prompt, r.completion) for r in splits.train] == [
        ("Q: What is 2+2?\n\n### Response:\n", " A: 4"),
        ("Q: Capital of France?\n\n### Response:\n", " A: Paris"),
    ]
    # The training channel's template applies to the validation rows too.
    assert [(r.prompt, r.completion) for r in splits.validation] == [("Q: 1+1?\n\n### Response:\n", " A: 2")]
    assert splits.template is not None and splits.template.origin == str(train / "template.json")


def test_template_numbers_and_booleans_are_written_as_text_with_one_notice(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"question": 42, "answer": True}, {"question": 1.5, "answer": False},
                                 {"question": "q", "answer": "a"}])
    write(train / "template.json", json.dumps({"prompt": "{question}", "completion": "{answer} {question}"}))
    splits = load(train, "instruction", validation=train, demarcation=False)
    assert [(r.prompt, r.completion) for r in splits.train] == [
        ("42", "true 42"), ("1.5", "false 1.5"), ("q", "a q")]
    # One notice per channel (not per row; here one folder is both channels), each row's value counted once.
    assert splits.notices == [
        f"{train}: 4 number/boolean value(s) in template fields were written as text the way the JSON spells "
        "them (42 -> \"42\", true -> \"true\"): 'question' (2), 'answer' (2). Store them as strings to silence "
        "this notice."
    ]


@pytest.mark.parametrize(("value", "found"), [(None, "null"), (["a", "b"], "a JSON array (['a', 'b'])"),
                                              ({"k": 1}, "a JSON object ({'k': 1})")])
def test_template_field_null_or_nested_names_file_line_and_key(tmp_path, value, found):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"question": "q", "answer": "a"}, {"question": "q", "answer": value}])
    template = write(train / "template.json", json.dumps({"prompt": "{question}", "completion": "{answer}"}))
    message = data_error(train, "instruction", validation=train)
    assert message == (
        f"{train / 'data.jsonl'}:2: key 'answer' is {found}, but {template} fills {{answer}} with text. "
        "Give 'answer' a string value in every row (\"\" for none), or change the template."
    )


def test_template_literal_braces(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}])
    write(train / "template.json", json.dumps({"prompt": "{{json}} {q}", "completion": "{q}"}))
    (first,) = load(train, "instruction", validation=train, demarcation=False).train
    assert first.prompt == "{json} x"


def test_instruction_rows_in_a_json_array(tmp_path):
    path = write(tmp_path / "rows.json", json.dumps([ROW, ROW]))
    splits = load(path, "instruction", validation=path)
    assert len(splits.train) == 2 and splits.train[0].completion == "5"


# --- chat ----------------------------------------------------------------------------------------------


def test_chat_rows(tmp_path):
    rows = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello.", "name": "bot"}]},
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    ]
    path = jsonl(tmp_path / "chat.jsonl", rows)
    splits = load(path, "chat", validation=path)
    first = splits.train[0]
    assert isinstance(first, Conversation)
    assert first.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello."}]
    assert first.origin == f"{path}:1"
    assert splits.template is None
    assert len(splits.validation) == 2


# --- validation split ----------------------------------------------------------------------------------


def ten_docs(tmp_path) -> Path:
    return jsonl(tmp_path / "ten.jsonl", [{"text": f"doc {i}"} for i in range(10)])


def test_split_is_deterministic_and_partitions_the_data(tmp_path):
    path = ten_docs(tmp_path)
    first = load(path, ratio=0.2, seed=0)
    again = load(path, ratio=0.2, seed=0)
    assert texts(first.train) == texts(again.train)
    assert texts(first.validation) == texts(again.validation)
    assert (len(first.train), len(first.validation)) == (8, 2)
    assert sorted(texts(first.train) + texts(first.validation)) == sorted(f"doc {i}" for i in range(10))
    assert not set(texts(first.train)) & set(texts(first.validation))
    # The original order is kept on both sides.
    assert texts(first.train) == sorted(texts(first.train), key=lambda t: int(t.split()[1]))
    assert "train_data_split_seed=0" in first.validation_source


def test_different_seed_gives_a_different_split(tmp_path):
    path = ten_docs(tmp_path)
    held_out = {tuple(texts(load(path, ratio=0.3, seed=s).validation)) for s in range(5)}
    assert len(held_out) > 1
    assert texts(load(path, ratio=0.3, seed=0).validation) != texts(load(path, ratio=0.3, seed=1).validation)


@pytest.mark.parametrize(("n", "ratio", "n_val"), [(10, 0.2, 2), (10, 0.5, 5), (10, 0.3, 3), (20, 0.1, 2),
                                                   (2, 0.01, 1), (2, 0.99, 1), (3, 0.99, 2), (100, 0.25, 25)])
def test_split_ratio_respected_and_both_sides_non_empty(n, ratio, n_val):
    records = [Row({"text": str(i)}, f"f:{i}") for i in range(n)]
    train, validation = split_records(records, ratio, seed=7)
    assert len(validation) == n_val
    assert len(train) == n - n_val
    assert train and validation


def test_split_applies_to_instruction_rows(tmp_path):
    path = jsonl(tmp_path / "rows.jsonl", [{**ROW, "response": str(i)} for i in range(10)])
    splits = load(path, "instruction", ratio=0.4, seed=3)
    assert (len(splits.train), len(splits.validation)) == (6, 4)
    assert all(isinstance(r, PromptCompletion) for r in splits.train + splits.validation)


# --- caps ---------------------------------------------------------------------------------------------


def test_max_samples_cap_instruction_rows(tmp_path):
    train = jsonl(tmp_path / "train.jsonl", [{**ROW, "response": f"t{i}"} for i in range(10)])
    validation = jsonl(tmp_path / "val.jsonl", [{**ROW, "response": f"v{i}"} for i in range(5)])
    splits = load(train, "instruction", validation=validation, max_train=3, max_val=2)
    assert [r.completion for r in splits.train] == ["t0", "t1", "t2"]
    assert [r.completion for r in splits.validation] == ["v0", "v1"]
    uncapped = load(train, "instruction", validation=validation)
    assert (len(uncapped.train), len(uncapped.validation)) == (10, 5)
    large = load(train, "instruction", validation=validation, max_train=100, max_val=100)
    assert (len(large.train), len(large.validation)) == (10, 5)


def test_max_samples_cap_after_the_split(tmp_path):
    path = jsonl(tmp_path / "rows.jsonl", [{**ROW, "response": str(i)} for i in range(10)])
    splits = load(path, "instruction", ratio=0.5, max_train=2, max_val=1)
    assert (len(splits.train), len(splits.validation)) == (2, 1)


# --- shipped samples (counts from samples/README.md) -----------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "train", "validation", "mode", "n_train", "n_val"),
    [
        ("domain", "train.csv", "validation.csv", "domain", 200, 50),
        ("instruction", "train", "validation", "instruction", 96, 24),
        ("instruction-template", "train", "validation", "instruction", 64, 16),
        ("chat", "train.jsonl", "validation.jsonl", "chat", 64, 16),
    ],
)
def test_samples_row_counts(folder, train, validation, mode, n_train, n_val):
    splits = load(SAMPLES / folder / train, mode, validation=SAMPLES / folder / validation)
    assert (len(splits.train), len(splits.validation)) == (n_train, n_val)


def test_sample_templates():
    folder = SAMPLES / "instruction"
    default = load(folder / "train", "instruction", validation=folder / "validation")
    assert all(r.prompt.startswith("Below is an instruction") and r.prompt.endswith("\n\n### Response:\n")
               for r in default.train)
    custom = load(SAMPLES / "instruction-template" / "train", "instruction",
                  validation=SAMPLES / "instruction-template" / "validation")
    assert all(r.prompt.startswith("Question about the Python standard library: ") for r in custom.train)
    assert all(r.completion.startswith(" ") and len(r.completion) > 1 for r in custom.validation)


# --- bad inputs: each names the file, the line where there is one, and the fix ---------------------------


def test_missing_channel_path(tmp_path):
    missing = tmp_path / "no" / "such.csv"
    with pytest.raises(DataError) as info:
        normalize_channels({"training": missing})
    assert str(info.value) == f"Data channels: channel 'training': {missing} does not exist."


def test_missing_validation_path(tmp_path, val):
    missing = tmp_path / "gone"
    with pytest.raises(DataError) as info:
        normalize_channels({"train": val, "validation": missing})
    assert f"channel 'validation': {missing} does not exist" in str(info.value)


def test_normalize_channels_resolves_paths(tmp_path, val, monkeypatch):
    monkeypatch.chdir(val.parent)
    assert normalize_channels({"train": "v.jsonl"}) == {"training": val.resolve()}


def test_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    write(folder / "template.json", "{}")  # not a data file
    message = data_error(folder)
    assert message.startswith(f"{folder}: the folder holds no data file (.csv, .json, .jsonl, .txt)")
    assert "the channel is empty" in message
    bare = tmp_path / "bare"
    bare.mkdir()
    message = data_error(bare, "instruction")
    assert message.startswith(f"{bare}: the folder holds no data file (.jsonl, .json)")


def test_folder_with_two_files_for_domain_adaptation(tmp_path):
    folder = tmp_path / "two"
    write(folder / "a.csv", "text\none\n")
    write(folder / "b.txt", "two\n")
    message = data_error(folder)
    assert message.startswith(f"{folder}: domain adaptation reads exactly one data file per channel, found 2")
    assert "['a.csv', 'b.txt']" in message
    assert "Merge them into one file or point the channel at one file." in message


def test_folder_with_two_files_for_instruction_tuning_is_fine(tmp_path):
    folder = tmp_path / "two"
    jsonl(folder / "a.jsonl", [ROW])
    jsonl(folder / "b.jsonl", [ROW, ROW])
    assert len(load(folder, "instruction", validation=folder).train) == 3


def test_csv_with_header_but_no_rows(tmp_path):
    path = write(tmp_path / "h.csv", "text\n")
    message = data_error(path)
    assert message.startswith(f"{path}: no rows with text")
    assert "`text` column" in message


def test_empty_csv_file(tmp_path):
    path = write(tmp_path / "e.csv", "")
    message = data_error(path)
    assert message == (f"{path}: the CSV file is empty; it needs a header row (e.g. `text`) and data rows.")


def test_jsonl_broken_line_number(tmp_path):
    path = write(tmp_path / "b.jsonl",
                 '{"text": "ok"}\n{"text": "ok too"}\n{"text": "broken\n{"text": "after"}\n')
    message = data_error(path)
    assert message.startswith(f"{path}:3: not valid JSON (")
    assert "Each line of a .jsonl file must hold one complete JSON object." in message


def test_jsonl_broken_line_number_counts_blank_lines(tmp_path):
    path = write(tmp_path / "b.jsonl", '{"text": "ok"}\n\n\n{"text": oops}\n')
    assert data_error(path).startswith(f"{path}:4: not valid JSON")


def test_instruction_jsonl_broken_line(tmp_path):
    folder = tmp_path / "train"
    write(folder / "data.jsonl", json.dumps(ROW) + "\n" + json.dumps(ROW)[:-1] + "\n")
    assert data_error(folder, "instruction").startswith(f"{folder / 'data.jsonl'}:2: not valid JSON")


def test_json_array_broken_names_the_right_line(tmp_path):
    path = write(tmp_path / "arr.json", '[\n  {"text": "a"},\n  {"text": "b"},\n  {"text": "c" oops}\n]\n')
    message = data_error(path)
    assert message.startswith(f"{path}:4: not valid JSON")
    assert ".jsonl" not in message


def test_template_placeholder_missing_from_a_row(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"question": "q1", "answer": "a1"}, {"questoin": "q2", "answer": "a2"}])
    template = write(train / "template.json", json.dumps({"prompt": "{question}", "completion": "{answer}"}))
    message = data_error(train, "instruction", validation=train)
    assert message.startswith(f"{train / 'data.jsonl'}:2: the row has no key 'question'")
    assert f"which {template} uses as {{question}}" in message
    assert "Keys in this row: ['answer', 'questoin']" in message
    assert "Add the key to every row or change the template." in message


def test_default_template_field_missing(tmp_path):
    path = jsonl(tmp_path / "rows.jsonl", [{"instruction": "do it", "response": "done"}])
    message = data_error(path, "instruction", validation=path)
    assert message.startswith(
        f"{path}:1: the row has no key 'context', which default template uses as {{context}}"
    )


def test_instruction_row_not_an_object(tmp_path):
    path = write(tmp_path / "rows.jsonl", json.dumps(ROW) + '\n"just a string"\n')
    message = data_error(path, "instruction", validation=path)
    assert message.startswith(f"{path}:2: expected a JSON object with the template's fields")
    assert "['context', 'instruction', 'response']" in message


def test_template_json_not_valid_json(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}])
    template = write(train / "template.json", '{\n  "prompt": "{q}",,\n  "completion": "{q}"\n}\n')
    message = data_error(train, "instruction", validation=train)
    assert message.startswith(f"{template}:2: template.json is not valid JSON")


def test_template_json_missing_completion(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}])
    template = write(train / "template.json", json.dumps({"prompt": "{q}", "completon": "{q}"}))
    message = data_error(train, "instruction", validation=train)
    assert message.startswith(f"{template}: 'completion' must be a string (found None)")
    assert "unknown keys ['completon']; only 'prompt' and 'completion' are read" in message


def test_template_json_not_an_object(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}])
    template = write(train / "template.json", '["{q}"]')
    assert data_error(train, "instruction").startswith(f"{template}: expected an object")


def test_template_json_bad_braces(tmp_path):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}])
    template = write(train / "template.json", json.dumps({"prompt": "{q", "completion": "{q}"}))
    message = data_error(train, "instruction")
    assert message.startswith(f"{template}: 'prompt' is not a valid template")
    assert "write literal braces as {{ and }}" in message


@pytest.mark.parametrize("prompt", ["Q: {}", "Q: {0}"])
def test_template_json_positional_placeholder(tmp_path, prompt):
    train = tmp_path / "train"
    jsonl(train / "data.jsonl", [{"q": "x"}, {"q": "y"}])
    template = write(train / "template.json", json.dumps({"prompt": prompt, "completion": "{q}"}))
    message = data_error(train, "instruction", validation=train)
    assert message.startswith(f"{template}: 'prompt' has a positional placeholder")
    assert "e.g. {question}" in message


@pytest.mark.parametrize(("suffix", "mode"),
                         [(".csv", "domain"), (".jsonl", "domain"), (".jsonl", "instruction")])
def test_non_utf8_file_names_file_and_line(tmp_path, suffix, mode):
    path = tmp_path / f"latin{suffix}"
    if suffix == ".csv":
        lines = ["text", "plain ascii", "caf\u00e9 au lait"]
    else:
        lines = [json.dumps({**ROW, "text": "ok"}), json.dumps({**ROW, "text": "ok"}),
                 json.dumps({**ROW, "text": "caf\u00e9"}, ensure_ascii=False)]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    message = data_error(path, mode, validation=path)
    assert message.startswith(f"{path}:3: not valid UTF-8 (byte 0xe9")
    assert "Save the file as UTF-8" in message and "iconv" in message


def test_utf8_with_bom_is_read(tmp_path, val):
    path = tmp_path / "bom.csv"
    path.write_bytes("text\ncaf\u00e9\n".encode("utf-8-sig"))
    assert texts(load(path, validation=val).train) == ["caf\u00e9"]


def test_chat_row_without_messages(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "a"},
                                                         {"role": "assistant", "content": "b"}]},
                                           {"conversation": []}])
    message = data_error(path, "chat", validation=path)
    assert message.startswith(f"{path}:2: chat rows need a non-empty 'messages' list")


def test_chat_row_with_empty_messages(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": []}])
    message = data_error(path, "chat", validation=path)
    assert message.startswith(f"{path}:1: chat rows need a non-empty 'messages'")


def test_chat_bad_role(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "a"},
                                                         {"role": "bot", "content": "b"}]}])
    message = data_error(path, "chat", validation=path)
    assert message.startswith(
        f"{path}:1: message 2 must be an object with 'role' in ['system', 'user', 'assistant'] and "
        "a string 'content'"
    )
    assert "'bot'" in message


def test_chat_content_not_a_string(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": ["a"]}]}])
    assert data_error(path, "chat", validation=path).startswith(f"{path}:1: message 1 must be an object")


def test_chat_without_assistant_turn(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "system", "content": "s"},
                                                         {"role": "user", "content": "hello?"}]}])
    message = data_error(path, "chat", validation=path)
    assert message == f"{path}:1: the conversation has no 'assistant' message, so there is nothing to learn."


@pytest.mark.parametrize(("name", "mode", "allowed"), [
    ("data.parquet", "domain", "['.csv', '.json', '.jsonl', '.txt']"),
    ("data.csv", "instruction", "['.jsonl', '.json']"),
    ("data.txt", "chat", "['.jsonl', '.json']"),
])
def test_unsupported_file_suffix(tmp_path, name, mode, allowed):
    path = write(tmp_path / name, "text\nx\n")
    message = data_error(path, mode)
    assert message == f"{path}: unsupported file type '{Path(name).suffix}'; expected one of {allowed}."


def test_domain_row_without_text(tmp_path, val):
    path = jsonl(tmp_path / "d.jsonl", [{"text": "fine"}, {"text": 5}])
    assert data_error(path, validation=val).startswith(f"{path}:2: expected text (a `text` field")


def test_single_example_without_validation_channel(tmp_path):
    path = jsonl(tmp_path / "one.jsonl", [ROW])
    message = data_error(path, "instruction")
    assert message == (f"{path}: 1 example(s) cannot be split into training and validation; add examples or "
                       "pass a validation channel.")
    # With a validation channel the single example is fine.
    assert len(load(path, "instruction", validation=path).train) == 1


TURNS = [{"role": "user", "content": "What does len do?"}, {"role": "assistant", "content": "It counts items."}]
SHAREGPT = [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "What does len do?"},
            {"from": "gpt", "value": "It counts items."}]


@pytest.mark.parametrize("key", ["messages", "dialog", "conversations"])
def test_chat_rows_under_each_key_the_notebooks_write(tmp_path, key):
    path = jsonl(tmp_path / "chat.jsonl", [{key: TURNS}, {key: TURNS}])
    (first,) = load(path, "chat", validation=path, max_train=1).train
    assert first.messages == TURNS


def test_sharegpt_turns_become_roles(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"conversations": SHAREGPT}])
    (first,) = load(path, "chat", validation=path).train
    assert first.messages == [{"role": "system", "content": "Be brief."}, *TURNS]


def test_chat_row_with_two_keys_is_refused(tmp_path):
    path = jsonl(tmp_path / "chat.jsonl", [{"messages": TURNS, "dialog": TURNS}])
    assert data_error(path, "chat", validation=path) == (
        f"{path}:1: the row has both 'messages' and 'dialog'; give its turns under one of "
        "['messages', 'dialog', 'conversations']."
    )


@pytest.mark.parametrize("turn", [{"from": "bot", "value": "x"}, {"from": ["human"], "value": "x"},
                                  {"from": "human", "value": 3}])
def test_bad_sharegpt_turn_names_the_message(tmp_path, turn):
    path = jsonl(tmp_path / "chat.jsonl", [{"conversations": [SHAREGPT[1], turn]}])
    message = data_error(path, "chat", validation=path)
    assert message.startswith(f"{path}:1: message 2 must be an object with 'role'") and "ShareGPT" in message


def test_conversations_read_as_raw_text_get_the_chat_hint(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [{"dialog": "x", "id": 1}] * 2)
    splits = load(path, "domain", validation=path)
    assert any("set chat_dataset=True" in n for n in splits.notices), splits.notices
