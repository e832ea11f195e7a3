"""The token cache: a hit only when data, tokenizer files and settings are all the same; damage is survivable."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmtune.data.channels import PromptCompletion
from fmtune.data.encode import Encoded
from fmtune.data.token_cache import cached, fingerprint


@pytest.fixture
def tokenizer_dir(home, tmp_path) -> Path:
    """A tokenizer folder to fingerprint (the cache itself goes to the test's fresh FMTUNE_HOME)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "tokenizer.json").write_text('{"vocab": 1}')
    return folder


RECORDS = [PromptCompletion("What is 2+2?", "4", "train.jsonl:1"), PromptCompletion("Hi", "Hello", "train.jsonl:2")]
SETTINGS = {"mode": "instruction", "max_length": 256}


class Encoder:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return ([Encoded([1, 2, 3], [-100, 2, 3])], [Encoded([4, 5], [4, 5])]), ["1 of 2 examples were truncated"]


def test_second_identical_run_reads_the_cache(tokenizer_dir):
    encode = Encoder()
    key = fingerprint(tokenizer_dir, SETTINGS, RECORDS, RECORDS[:1])
    first = cached(key, encode)
    second = cached(key, encode)
    assert encode.calls == 1 and first[2] is False and second[2] is True
    assert second[0] == first[0] and second[1] == ["1 of 2 examples were truncated"]


def test_any_change_in_data_tokenizer_or_settings_is_a_new_key(tokenizer_dir):
    key = fingerprint(tokenizer_dir, SETTINGS, RECORDS, [])
    assert fingerprint(tokenizer_dir, SETTINGS, RECORDS, []) == key
    edited = [RECORDS[0], PromptCompletion("Hi", "Hello!", "train.jsonl:2")]
    assert fingerprint(tokenizer_dir, SETTINGS, edited, []) != key
    assert fingerprint(tokenizer_dir, SETTINGS, [], RECORDS) != key  # the same records in the other split
    assert fingerprint(tokenizer_dir, {**SETTINGS, "max_length": 128}, RECORDS, []) != key
    (tokenizer_dir / "tokenizer.json").write_text('{"vocab": 2}')
    assert fingerprint(tokenizer_dir, SETTINGS, RECORDS, []) != key


def test_a_damaged_entry_is_encoded_again(tokenizer_dir, tmp_path):
    encode = Encoder()
    key = fingerprint(tokenizer_dir, SETTINGS, RECORDS, [])
    cached(key, encode)
    entry = tmp_path / "home" / "cache" / "tokens" / f"{key}.json"
    entry.write_text('{"train": [[1, 2')  # a torn write from another tool
    sets, _, from_cache = cached(key, encode)
    assert from_cache is False and encode.calls == 2 and sets[0][0].input_ids == [1, 2, 3]
    assert cached(key, encode)[2] is True


def test_an_unwritable_cache_only_costs_time(tokenizer_dir, tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "cache").write_text("not a directory")
    encode = Encoder()
    key = fingerprint(tokenizer_dir, SETTINGS, RECORDS, [])
    assert cached(key, encode)[2] is False and cached(key, encode)[2] is False and encode.calls == 2
