"""A value the user gives wins over a model default it conflicts with; only two given values can conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmtune.config.hyperparameters import EXCLUSIVE, Hyperparameters, changed_values, resolve_hyperparameters
from fmtune.errors import ConfigError
from fmtune.sagemaker import hyperparameters as sm_hyperparameters

from ..jobs_support import build_job

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CHAT_DEFAULTS = {"chat_dataset": "True", "instruction_tuned": "False"}  # e.g. Llama 2 Chat, Gemma instruct
LLAMA2_70B_DEFAULTS = {"int8_quantization": "True", "enable_fsdp": "False"}  # shared/reference/jumpstart.md


def test_a_default_gives_way_to_a_given_value_and_says_so():
    hp, notices = resolve_hyperparameters({"instruction_tuned": "True"}, CHAT_DEFAULTS)
    assert hp.instruction_tuned and not hp.chat_dataset
    assert notices == ["chat_dataset=True (the model's default) gives way to instruction_tuned=True, which was "
                       "given: using chat_dataset=False."]


def test_two_given_values_still_conflict():
    with pytest.raises(ConfigError, match="instruction_tuned=True and chat_dataset=True were both given"):
        resolve_hyperparameters({"instruction_tuned": "True", "chat_dataset": "True"}, {})


def test_only_changed_values_count_as_given_where_defaults_are_echoed_back():
    """A notebook passes retrieve_default(...) back whole, then changes one value: the SDK keeps the change."""
    echoed = {**CHAT_DEFAULTS, "instruction_tuned": "True", "epoch": "x"}
    assert changed_values(echoed, CHAT_DEFAULTS) == {"instruction_tuned": "True", "epoch": "x"}
    hp, notices = resolve_hyperparameters(changed_values({**CHAT_DEFAULTS, "instruction_tuned": "True"},
                                                         CHAT_DEFAULTS), CHAT_DEFAULTS)
    assert hp.instruction_tuned and not hp.chat_dataset and len(notices) == 1


def test_a_typed_value_equal_to_the_default_is_still_given():
    with pytest.raises(ConfigError, match="int8_quantization=True cannot be combined with enable_fsdp=True"):
        resolve_hyperparameters({"int8_quantization": "True", "enable_fsdp": "True"}, {"enable_fsdp": "True"})


def test_quantization_default_gives_way_to_fsdp_on_70b():
    hp, notices = resolve_hyperparameters({"enable_fsdp": "True"}, LLAMA2_70B_DEFAULTS)
    assert hp.enable_fsdp and not hp.int8_quantization
    assert notices == ["int8_quantization=True (the model's default) gives way to enable_fsdp=True, which was "
                       "given: using int8_quantization=False."]


def test_fsdp_default_gives_way_to_quantization():
    hp, notices = resolve_hyperparameters({"int4_quantization": "True"}, {"enable_fsdp": "True"})
    assert hp.int4_quantization and not hp.enable_fsdp and "enable_fsdp=True (the model's default)" in notices[0]


def test_a_chain_of_defaults_gives_way_one_rule_at_a_time():
    """int4 given over an int8 + full fine-tuning default: int8 yields to int4, then peft_type stays (no rule)."""
    hp, notices = resolve_hyperparameters({"int4_quantization": "True"}, {"int8_quantization": "True"})
    assert hp.int4_quantization and not hp.int8_quantization and len(notices) == 1
    hp, notices = resolve_hyperparameters({"int8_quantization": "True"}, {"peft_type": "none"})
    assert hp.int8_quantization and hp.peft_type == "lora"
    assert "peft_type=none (the model's default) gives way to int8_quantization=True" in notices[0]


@pytest.mark.parametrize("rule", EXCLUSIVE, ids=lambda r: f"{r.first[0]}-{r.second[0]}")
def test_every_rule_refuses_two_given_values_and_yields_a_default(rule):
    given = {rule.first[0]: rule.first[1], rule.second[0]: rule.second[1]}
    with pytest.raises(ConfigError, match="1 problem"):
        resolve_hyperparameters(given, {})
    hp, notices = resolve_hyperparameters({rule.first[0]: rule.first[1]}, {rule.second[0]: rule.second[1]})
    assert getattr(hp, rule.first[0]) == rule.first[1]
    assert getattr(hp, rule.second[0]) == getattr(Hyperparameters(), rule.second[0])
    assert len(notices) == 1


def test_bad_defaults_and_bad_values_are_all_reported():
    with pytest.raises(ConfigError) as info:
        resolve_hyperparameters({"epoch": "0", "lora_r": "x"}, {"lora_dropout": "2"})
    assert len(info.value.problems) == 3


@pytest.mark.parametrize("model_id", ["meta-textgeneration-llama-2-7b-f", "huggingface-llm-gemma-7b-instruct",
                                      "huggingface-llm-gemma-2b-instruct"])
def test_instruction_tuning_a_chat_model_builds_and_records_the_notice(model_id):
    job = build_job(model_id, {"training": SAMPLES / "instruction" / "train"}, {"instruction_tuned": "True"},
                    accept_eula=True, tiny_random=True)
    assert job.hp.instruction_tuned and not job.hp.chat_dataset
    assert job.hyperparameters["chat_dataset"] == "False"
    assert any("chat_dataset=True (the model's default) gives way" in n for n in job.notices)


def test_the_sdk_flow_with_retrieve_default_builds_too(tmp_path, monkeypatch):
    """JumpStartEstimator(hyperparameters=retrieve_default(...)) + set_hyperparameters(instruction_tuned="True")."""
    from fmtune.jobs import runner
    from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

    started = []
    monkeypatch.setattr(runner, "submit", lambda job, detach=False: started.append(job) or 0)
    model_id = "meta-textgeneration-llama-2-7b-f"
    params = sm_hyperparameters.retrieve_default(model_id=model_id, model_version="*")
    estimator = JumpStartEstimator(model_id=model_id, environment={"accept_eula": "true"}, hyperparameters=params,
                                   tiny_random=True)
    estimator.set_hyperparameters(instruction_tuned="True")
    estimator.fit({"training": str(SAMPLES / "instruction" / "train")}, wait=False)
    (job,) = started
    assert job.hp.instruction_tuned and not job.hp.chat_dataset
    assert any("chat_dataset=True (the model's default) gives way" in n for n in job.notices)
