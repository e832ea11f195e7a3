"""Studio's plain helpers: progress and ETA from step records, the preview's histogram and learned segments, the
log tail that survives a rewrite, and the login page's redirect target."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmtune.data.encode import IGNORE_INDEX, Encoded, learned_segments
from fmtune.jobs.views import FileTail
from fmtune.studio.pages import safe_next
from fmtune.studio.service import progress
from fmtune.tasks.text import histogram


@dataclass
class Record:
    status: str

    @property
    def active(self) -> bool:
        return self.status in ("Pending", "InProgress")


def steps(n: int, total: int, seconds_per_step: float) -> list[dict]:
    return [{"step": i, "total_steps": total, "time": 1000.0 + i * seconds_per_step} for i in range(1, n + 1)]


def test_progress_and_time_left_from_the_recent_pace():
    shown = progress(steps(10, 40, 2.0), Record("InProgress"))
    assert shown == {"step": 10, "total_steps": 40, "progress": 0.25, "eta_seconds": 60.0}


def test_a_finished_job_is_whole_and_has_no_eta():
    assert progress(steps(40, 40, 2.0), Record("Completed"))["eta_seconds"] is None
    assert progress([], Record("Completed"))["progress"] == 1.0
    assert progress([], Record("Pending")) == {"step": 0, "total_steps": None, "progress": 0.0, "eta_seconds": None}
    assert progress(steps(5, 40, 1.0), Record("Stopped"))["eta_seconds"] is None  # not running: no time left


@given(st.lists(st.integers(min_value=1, max_value=512)), st.integers(min_value=1, max_value=4096))
def test_histogram_counts_each_value_once_in_its_range(values, top):
    values = [min(v, top) for v in values]
    bins = histogram(values, top)
    assert len(bins) == 10 and bins[0]["from"] == 1
    for b in bins[:-1]:
        assert b["count"] == sum(b["from"] <= v <= b["to"] for v in values)
    assert bins[-1]["count"] == sum(v >= bins[-1]["from"] for v in values)  # the last range holds the longest


class Characters:
    """A tokenizer whose tokens are characters: decode joins them."""

    @staticmethod
    def decode(ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


def test_learned_segments_split_context_from_what_the_loss_is_taken_on():
    ids = [ord(c) for c in "Q: hi\nA: yo!"]
    labels = [IGNORE_INDEX] * 9 + ids[9:]
    assert learned_segments(Characters(), Encoded(ids, labels)) == [
        {"text": "Q: hi\nA: ", "learned": False}, {"text": "yo!", "learned": True}]
    pair = Encoded([ord("x")], [ord("y")])
    assert learned_segments(Characters(), pair, seq2seq=True) == [
        {"text": "x", "learned": False}, {"text": "y", "learned": True}]


def test_the_log_tail_gives_whole_lines_and_starts_over_when_the_file_is_rewritten(tmp_path):
    path = tmp_path / "steps.jsonl"
    tail = FileTail(path)
    assert tail.read() == []
    path.write_text("one\ntw")
    assert tail.read() == ["one"]
    with path.open("a") as f:
        f.write("o\nthree")
    assert tail.read() == ["two"]
    assert tail.read(final=True) == ["three"]
    path.write_text("a\n")  # a resume rewrote it, shorter
    assert tail.read() == ["a"]


@pytest.mark.parametrize(("target", "expected"), [
    ("/jobs/x?y=1", "/jobs/x?y=1"), ("https://evil.example/", "/"), ("//evil.example", "/"), ("jobs", "/"),
    ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
])
def test_the_login_page_only_redirects_to_this_server(target, expected):
    assert safe_next(target) == expected
