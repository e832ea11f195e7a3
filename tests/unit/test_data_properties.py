"""Property tests: whatever a data file, template.json or hyperparameter dict holds, fmtune either reads it
or raises its own UserError (a message for the user) — never another exception, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmtune.config.hyperparameters import HYPERPARAMETER_NAMES, Hyperparameters, parse_hyperparameters
from fmtune.data.channels import load_splits
from fmtune.data.readers import Row, read_records
from fmtune.data.templates import DEFAULT_TEMPLATE, TEXT2TEXT_TEMPLATE, Template, load_template
from fmtune.errors import ConfigError, UserError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["text", "instruction", "context", "response", "prompt", "completion", "messages", "role", "content"]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "bot"]), "content": scalars})
    | json_values,
    max_size=4,
)
rows = st.one_of(
    st.fixed_dictionaries({"instruction": scalars, "context": scalars, "response": scalars}),
    st.fixed_dictionaries({"messages": messages}),
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=5),
    json_values,
)
deep = st.builds(lambda n, c: c * n, st.integers(1, 20_000), st.sampled_from(["[", "{\"a\":", "[{\"text\":"]))
huge = st.builds(lambda n, c: c * n, st.integers(100_000, 300_000), st.sampled_from(["x", "\"", ",", "\n", "{"]))


@st.composite
def csv_text(draw) -> str:
    table = draw(st.lists(st.lists(st.text(max_size=30) | huge, min_size=1, max_size=4), min_size=1, max_size=5))
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return out.getvalue()


jsonl_text = st.lists(rows.map(json.dumps) | deep | st.text(max_size=40), max_size=6).map("\n".join)
file_contents = st.one_of(
    st.binary(max_size=500),
    st.text(max_size=500),
    jsonl_text,
    st.lists(rows, max_size=6).map(json.dumps),
    st.dictionaries(st.sampled_from(KEYS), st.lists(scalars, max_size=4), max_size=3).map(json.dumps),
    csv_text(),
    deep,
    huge,
)
suffixes = st.sampled_from([".csv", ".json", ".jsonl", ".txt"])
placeholder_text = st.lists(st.sampled_from(list("{}!:.[]0ax>") + KEYS), max_size=12).map("".join)
templates = st.one_of(
    st.fixed_dictionaries({"prompt": placeholder_text, "completion": placeholder_text}).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=60),
    deep,
)


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


def load_every_mode(channel: Path) -> None:
    for mode in ("domain", "instruction", "chat"):
        for default in (DEFAULT_TEMPLATE, TEXT2TEXT_TEMPLATE):
            with suppress(UserError):
                load_splits({"training": channel}, mode, default_template=default, demarcation=True,  # type: ignore[arg-type]
                            validation_split_ratio=0.2, train_data_split_seed=0)


@FAST
@given(content=file_contents, suffix=suffixes)
def test_read_records_returns_rows_or_a_user_error(content, suffix):
    with folder() as root:
        path = write(root / f"data{suffix}", content)
        with suppress(UserError):
            read_records(path)


@FAST
@given(content=file_contents, suffix=suffixes, template=st.none() | templates, beside=st.booleans())
def test_load_splits_in_every_mode_returns_or_raises_a_user_error(content, suffix, template, beside):
    with folder() as root:
        path = write(root / "train" / f"data{suffix}", content)
        if template is not None:
            write(root / "train" / "template.json", template)
        load_every_mode(path if beside else path.parent)


@FAST
@given(template=templates, row=rows)
def test_load_template_and_render_return_or_raise_a_user_error(template, row):
    with folder() as root, suppress(UserError):
        loaded: Template = load_template(write(root / "template.json", template))
        loaded.render(Row(row, "rows.jsonl:1"))


@FAST
@given(lines=st.lists(rows, min_size=1, max_size=8), chat=st.booleans())
def test_generated_instruction_and_chat_rows(lines, chat):
    with folder() as root:
        write(root / "train" / "data.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
        with suppress(UserError):
            load_splits({"training": root / "train"}, "chat" if chat else "instruction",
                        demarcation=True, validation_split_ratio=0.5, train_data_split_seed=0)


# --- hyperparameters ----------------------------------------------------------------------------------------

numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**4000), 10**4000)
raw_values = (numbers | st.booleans() | st.none() | st.text(max_size=30) | numbers.map(str)
              | st.sampled_from(["True", "false", "None", "-1", "nan", "inf", "1e309", "0x10", " 3 ", "1_000"]))
hp_keys = st.sampled_from(HYPERPARAMETER_NAMES) | st.text(max_size=25)


@settings(max_examples=100, deadline=None)
@given(values=st.dictionaries(hp_keys, raw_values, max_size=8))
def test_parse_hyperparameters_returns_or_raises_config_error(values):
    with suppress(ConfigError):
        assert isinstance(parse_hyperparameters(values), Hyperparameters)


def test_parse_hyperparameters_int_over_4300_digits():
    with pytest.raises(ConfigError):
        parse_hyperparameters({"epoch": 10**5000})


def test_parse_hyperparameters_text_column():
    assert parse_hyperparameters({"text_column": "body"}).text_column == "body"
