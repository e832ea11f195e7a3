"""Cross-field refusals of the hyperparameter schema, with both values given explicitly by the user.

Calls `parse_hyperparameters` directly (no model card): these rules hold whatever a card defaults to.
"""

from __future__ import annotations

import pytest

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.errors import ConfigError


def problems_of(values: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_hyperparameters(values)
    return err.value.problems


def test_int4_with_fsdp_is_refused():
    (problem,) = problems_of({"int4_quantization": "True", "enable_fsdp": "True"})
    assert "int4_quantization=True cannot be combined with enable_fsdp=True" in problem


def test_int8_with_int4_is_refused():
    (problem,) = problems_of({"int8_quantization": "True", "int4_quantization": "True"})
    assert "int8_quantization=True and int4_quantization=True" in problem and "choose one" in problem


@pytest.mark.parametrize("flag", ["int8_quantization", "int4_quantization"])
def test_full_fine_tuning_of_quantized_weights_is_refused(flag):
    (problem,) = problems_of({"peft_type": "none", flag: "True"})
    assert "peft_type=none (full fine-tuning) cannot train quantized weights" in problem
    assert flag in problem


def test_peft_type_none_is_refused_with_jumpstarts_spelling_too():
    (problem,) = problems_of({"peft_type": "None", "int4_quantization": "True"})
    assert "peft_type=none" in problem


def test_every_conflict_is_reported_at_once():
    problems = problems_of(
        {"int8_quantization": "True", "int4_quantization": "True", "enable_fsdp": "True", "peft_type": "none"}
    )
    text = "\n".join(problems)
    assert "int8_quantization=True cannot be combined with enable_fsdp=True" in text
    assert "int4_quantization=True cannot be combined with enable_fsdp=True" in text
    assert "int8_quantization=True and int4_quantization=True" in text
    assert "peft_type=none (full fine-tuning) cannot train quantized weights" in text


@pytest.mark.parametrize(
    "values",
    [
        {"int4_quantization": "True", "enable_fsdp": "False"},
        {"int4_quantization": "True", "peft_type": "lora"},  # QLoRA
        {"int8_quantization": "True", "int4_quantization": "False"},
        {"peft_type": "none", "enable_fsdp": "True"},  # full fine-tuning, sharded
        {"peft_type": "none", "int8_quantization": "False", "int4_quantization": "False"},
    ],
)
def test_compatible_combinations_parse(values):
    parse_hyperparameters(values)
