"""bench/profile_run.py's operator groups: which group an operator's self time goes to."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from fmtune.models.dropout import DROPOUT_RANGE

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "profile_run.py"


@pytest.fixture(scope="module")
def profile_run():
    spec = importlib.util.spec_from_file_location("profile_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Event:
    name: str
    cpu_parent: Event | None = None


def chain(*names: str) -> list[Event]:
    """The event (first name) and its ancestors, innermost first, as `group` walks them."""
    events, parent = [], None
    for name in reversed(names):
        parent = Event(name, parent)
        events.append(parent)
    return events[::-1]


@pytest.mark.parametrize(("names", "expected"), [
    (("aten::mm", "fmtune: forward + loss"), "matmuls"),
    (("aten::addmm", "FusedLoraLinearBackward", "fmtune: backward"), "matmuls"),
    (("aten::bmm", "aten::matmul", "fmtune: forward + loss"), "attention"),  # eager attention's scores
    (("aten::_softmax_backward_data", "fmtune: backward"), "attention"),
    (("aten::_scaled_dot_product_flash_attention_for_cpu", "fmtune: forward + loss"), "attention"),
    (("aten::index_fill_", DROPOUT_RANGE, "FusedLoraLinear", "fmtune: forward + loss"), "LoRA dropout"),
    (("aten::mm", "LinearCrossEntropy", "fmtune: forward + loss"), "output layer + loss"),
    (("aten::_log_softmax", "LinearCrossEntropy", "fmtune: forward + loss"), "output layer + loss"),
    (("aten::copy_", "aten::_to_copy", "fmtune: forward + loss"), "dtype casts, copies"),
    (("aten::mul", "fmtune: forward + loss"), "other tensor ops"),
])
def test_each_operator_lands_in_its_group(profile_run, names, expected):
    assert profile_run.category(chain(*names)) == expected
