"""The hyperparameter schema (JumpStart names and string semantics) and `build_job` (all checks, no model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fmtune.config import (
    HYPERPARAMETER_NAMES,
    SCHEMA_DEFAULTS,
    Hyperparameters,
    describe,
    parse_hyperparameters,
)
from fmtune.errors import ConfigError, UserError
from fmtune.jobs.config import JobConfig

from ..jobs_support import build_job


def problems_for(values: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_hyperparameters(values)
    return info.value.problems


# --- the rules, written out independently of the schema ------------------------------------------------

# key -> (type, accepted text, valid strings, out-of-range strings)
FREE_TEXT = ["body", "my column", "fp16", "None"]  # a column name: any text is a valid value
RULES: dict[str, tuple[str, str, list[str], list[str]]] = {
    "epoch": ("int", "accepted: an integer >= 1", ["1", "3", "100"], ["0", "-1", "-7"]),
    "learning_rate": (
        "float", "accepted: a number > 0 and <= 1", ["1e-06", "0.0002", "1"], ["0", "-1e-4", "1.5"]
    ),
    "instruction_tuned": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "chat_dataset": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "add_input_output_demarcation_key": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "per_device_train_batch_size": ("int", "accepted: an integer >= 1", ["1", "64"], ["0", "-1"]),
    "per_device_eval_batch_size": ("int", "accepted: an integer >= 1", ["1", "8"], ["0", "-3"]),
    "gradient_accumulation_steps": ("int", "accepted: an integer >= 1", ["1", "16"], ["0", "-1"]),
    "max_train_samples": ("int", "accepted: an integer >= 1, or -1 (all)", ["-1", "1", "500"], ["0", "-2"]),
    "max_val_samples": ("int", "accepted: an integer >= 1, or -1 (all)", ["-1", "1", "50"], ["0", "-2"]),
    "max_input_length": (
        "int",
        "accepted: an integer >= 8, or -1 (min(1024, model_max_length))",
        ["-1", "8", "4096"],
        ["7", "0", "-2"],
    ),
    "validation_split_ratio": (
        "float", "accepted: a number > 0 and < 1", ["0.01", "0.2", "0.99"], ["0", "1", "-0.2", "1.5"]
    ),
    "train_data_split_seed": ("int", "accepted: an integer >= 0", ["0", "42"], ["-1", "-10"]),
    "seed": ("int", "accepted: an integer >= 0", ["0", "10"], ["-1"]),
    "preprocessing_num_workers": (
        "int",
        "accepted: an integer >= 1, or None (main process)",
        ["1", "8", "None"],
        ["0", "-1"],
    ),
    "lora_r": ("int", "accepted: an integer >= 1", ["1", "64"], ["0", "-8"]),
    "lora_alpha": ("int", "accepted: an integer >= 1", ["1", "16"], ["0", "-32"]),
    "lora_dropout": ("float", "accepted: a number >= 0 and < 1", ["0", "0.05", "0.99"], ["1", "1.5", "-0.1"]),
    "int8_quantization": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "enable_fsdp": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "int4_quantization": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "peft_type": ("str", "accepted: 'lora', 'none'", ["lora", "none"], []),
    "checkpoint_steps": (
        "int", "accepted: an integer >= 1, or -1 (end of each epoch only)", ["1", "50", "-1"], ["0", "-2"]
    ),
    "precision": ("str", "accepted: 'auto', 'bf16', 'fp32'", ["auto", "bf16", "fp32"], []),
    "attention": ("str", "accepted: 'auto', 'sdpa', 'eager'", ["auto", "sdpa", "eager"], []),
    "packing": ("bool", "accepted: 'True' or 'False'", ["True", "False"], []),
    "text_column": ("str", "accepted: any text, or None (the `text` column, else the first column)", FREE_TEXT, []),
    "gradient_checkpointing": ("str", "accepted: 'auto', 'True', 'False'", ["auto", "True", "False"], []),
    "evaluation_samples": ("int", "accepted: an integer >= 0", ["0", "16", "1000"], ["-1", "-5"]),
    "evaluation_max_new_tokens": ("int", "accepted: an integer >= 1", ["1", "128"], ["0", "-1"]),
}
WRONG_TYPE = {
    "int": ["zero", "1.5", "True", "1e3", "None"],
    "float": ["abc", "True", "None", "nan", "inf"],
    "bool": ["yes", "1", "0", "None", "TRUE-ish"],
    "str": ["fp16", "automatic", "None"],
}
TYPE_PHRASE = {"int": "must be an integer", "float": "must be a", "bool": "must be 'True' or 'False'"}

OUT_OF_RANGE = [(k, v) for k, (_, _, _, bad) in RULES.items() for v in bad]
WRONG_TYPES = [(k, v) for k, (kind, _, good, _) in RULES.items() for v in WRONG_TYPE[kind] if good != FREE_TEXT
               if v.lower() not in {g.lower() for g in good}]  # choices match without regard to case
VALID = [(k, v) for k, (_, _, good, _) in RULES.items() for v in good]


def test_rules_cover_every_hyperparameter():
    assert set(RULES) == set(HYPERPARAMETER_NAMES)
    assert len(HYPERPARAMETER_NAMES) == len(set(HYPERPARAMETER_NAMES))


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE)
def test_out_of_range_names_key_value_and_range(key, value):
    problems = problems_for({key: value})
    assert len(problems) == 1
    message = problems[0]
    assert message.startswith(f"{key}={value!r}: out of range;")
    assert RULES[key][1] in message


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES)
def test_wrong_type_names_key_value_and_accepted(key, value):
    kind, accepted, _, _ = RULES[key]
    problems = problems_for({key: value})
    assert len(problems) == 1
    message = problems[0]
    assert message.startswith(f"{key}={value!r}:")
    assert accepted.removeprefix("accepted: ") in message
    if kind in TYPE_PHRASE:
        assert TYPE_PHRASE[kind] in message


@pytest.mark.parametrize(("key", "value"), VALID)
def test_valid_values_parse(key, value):
    kind = RULES[key][0]
    parsed = getattr(parse_hyperparameters({key: value}), key)
    if value == "None":
        assert parsed is None
    elif kind == "int":
        assert type(parsed) is int and parsed == int(value)
    elif kind == "float":
        assert type(parsed) is float and parsed == float(value)
    elif kind == "bool":
        assert parsed is (value == "True")
    else:
        assert parsed == value


def test_out_of_range_int_close_to_bound_is_rejected_but_bound_accepted():
    assert parse_hyperparameters({"max_input_length": "8"}).max_input_length == 8
    assert problems_for({"max_input_length": "7"})[0].startswith("max_input_length='7': out of range")
    assert parse_hyperparameters({"learning_rate": "1"}).learning_rate == 1.0
    (problem,) = problems_for({"learning_rate": "1.0000001"})
    assert problem.startswith("learning_rate='1.0000001': out of range")


# --- JumpStart string semantics -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("True", True), ("False", False), ("true", True),
                                                 ("false", False), (" True ", True)])
def test_boolean_strings(text, expected):
    hp = parse_hyperparameters({"instruction_tuned": text, "enable_fsdp": text})
    assert hp.instruction_tuned is expected
    assert hp.enable_fsdp is expected


@pytest.mark.parametrize("key", ["max_train_samples", "max_val_samples", "max_input_length"])
def test_minus_one_means_all_or_automatic(key):
    value = getattr(parse_hyperparameters({key: "-1"}), key)
    assert value == -1 and type(value) is int


@pytest.mark.parametrize("text", ["None", "none", "null", ""])
def test_none_string_for_preprocessing_num_workers(text):
    assert parse_hyperparameters({"preprocessing_num_workers": text}).preprocessing_num_workers is None


def test_none_is_refused_where_it_means_nothing():
    assert problems_for({"epoch": "None"}) == ["epoch='None': must be an integer; accepted: an integer >= 1."]


def test_plain_python_values_from_the_sdk():
    hp = parse_hyperparameters(
        {
            "epoch": 3,
            "learning_rate": 2e-5,
            "instruction_tuned": True,
            "enable_fsdp": False,
            "lora_dropout": 0.1,
            "max_train_samples": -1,
            "preprocessing_num_workers": None,
            "validation_split_ratio": 0.25,
        }
    )
    assert (hp.epoch, hp.learning_rate, hp.instruction_tuned, hp.enable_fsdp) == (3, 2e-5, True, False)
    assert (hp.lora_dropout, hp.max_train_samples, hp.preprocessing_num_workers) == (0.1, -1, None)
    assert hp.validation_split_ratio == 0.25


def test_python_bool_for_an_int_key_is_refused():
    assert problems_for({"epoch": True})[0].startswith("epoch='True': must be an integer")


def test_python_float_keeps_full_precision():
    # A float from the SDK must reach the optimizer unchanged (not rounded to 6 digits).
    hp = parse_hyperparameters({"learning_rate": 1.2345678e-05})
    assert hp.learning_rate == 1.2345678e-05
    assert parse_hyperparameters(hp.to_strings()).learning_rate == 1.2345678e-05


def test_empty_values_give_schema_defaults():
    hp = parse_hyperparameters({})
    assert hp == Hyperparameters()
    assert (hp.epoch, hp.learning_rate, hp.lora_r, hp.lora_alpha, hp.lora_dropout) == (5, 1e-4, 8, 32, 0.05)
    assert hp.add_input_output_demarcation_key is True
    assert hp.preprocessing_num_workers is None


# --- all problems at once; unknown keys; cross-field rules ------------------------------------------


def test_all_problems_reported_together():
    with pytest.raises(ConfigError) as info:
        parse_hyperparameters({"epoch": "0", "lora_dropout": "1.5", "learnig_rate": "0.001"})
    err = info.value
    assert len(err.problems) == 3
    assert err.problems[0].startswith("epoch='0': out of range")
    assert err.problems[1].startswith("lora_dropout='1.5': out of range")
    assert "learnig_rate: unknown hyperparameter" in err.problems[2]
    assert "Did you mean 'learning_rate'?" in err.problems[2]
    text = str(err)
    assert text.startswith("3 problem(s) in the job settings:")
    for problem in err.problems:
        assert f"  - {problem}" in text


def test_cross_field_problem_reported_alongside_range_problems():
    problems = problems_for({"epoch": "0", "int8_quantization": "True", "enable_fsdp": "True"})
    assert len(problems) == 2
    assert problems[0].startswith("epoch='0'")
    assert "int8_quantization=True cannot be combined with enable_fsdp=True" in problems[1]


def test_invalid_value_does_not_trigger_a_cross_field_problem():
    # chat_dataset is invalid, so only its own problem is reported (its default False is kept).
    assert problems_for({"instruction_tuned": "True", "chat_dataset": "maybe"}) == [
        "chat_dataset='maybe': must be 'True' or 'False'."
    ]


@pytest.mark.parametrize(("typo", "meant"), [("learnig_rate", "learning_rate"), ("epochs", "epoch"),
                                             ("lora_droput", "lora_dropout"), ("enable_fdsp", "enable_fsdp")])
def test_unknown_key_suggests_the_close_name(typo, meant):
    problems = problems_for({typo: "1"})
    assert problems == [
        f"{typo}: unknown hyperparameter. Did you mean '{meant}'? Run `fmtune hyperparameters MODEL_ID` for "
        "the accepted names."
    ]


def test_unknown_key_without_a_close_name():
    (problem,) = problems_for({"zzzzqqq": "1"})
    assert problem.startswith("zzzzqqq: unknown hyperparameter.")
    assert "Did you mean" not in problem
    assert "fmtune hyperparameters" in problem


@pytest.mark.parametrize("text", ["True", "true"])
def test_int8_with_fsdp_is_refused(text):
    (problem,) = problems_for({"int8_quantization": text, "enable_fsdp": "True"})
    assert problem.startswith("int8_quantization=True cannot be combined with enable_fsdp=True")
    assert problem.endswith("set one of them to False.")


def test_int8_or_fsdp_alone_is_fine():
    assert parse_hyperparameters({"int8_quantization": "True", "enable_fsdp": "False"}).int8_quantization
    assert parse_hyperparameters({"int8_quantization": "False", "enable_fsdp": "True"}).enable_fsdp


def test_instruction_tuned_with_chat_dataset_is_refused():
    (problem,) = problems_for({"instruction_tuned": "True", "chat_dataset": "True"})
    assert "instruction_tuned=True and chat_dataset=True" in problem
    assert "set one of them to False" in problem


# --- representation ----------------------------------------------------------------------------------


def test_to_strings_round_trip():
    hp = parse_hyperparameters(
        {
            "epoch": "2",
            "learning_rate": "2e-05",
            "instruction_tuned": "true",
            "max_input_length": "512",
            "max_train_samples": "-1",
            "validation_split_ratio": "0.15",
            "preprocessing_num_workers": "4",
            "lora_dropout": "0",
            "int8_quantization": "True",
            "precision": "fp32",
        }
    )
    strings = hp.to_strings()
    assert list(strings) == list(HYPERPARAMETER_NAMES)
    assert all(isinstance(v, str) for v in strings.values())
    assert strings["instruction_tuned"] == "True"
    assert strings["learning_rate"] == "2e-05"
    assert strings["preprocessing_num_workers"] == "4"
    assert strings["max_train_samples"] == "-1"
    assert strings["lora_dropout"] == "0.0"
    assert parse_hyperparameters(strings) == hp


def test_default_strings_are_jumpstart_spelled():
    assert Hyperparameters().to_strings() == SCHEMA_DEFAULTS
    assert SCHEMA_DEFAULTS["learning_rate"] == "0.0001"
    assert SCHEMA_DEFAULTS["preprocessing_num_workers"] == "None"
    assert SCHEMA_DEFAULTS["add_input_output_demarcation_key"] == "True"
    assert SCHEMA_DEFAULTS["max_input_length"] == "-1"
    assert parse_hyperparameters(SCHEMA_DEFAULTS) == Hyperparameters()


def test_describe_covers_every_field():
    rows = describe()
    assert [r["name"] for r in rows] == list(HYPERPARAMETER_NAMES)
    for row in rows:
        kind, accepted, _, _ = RULES[row["name"]]
        assert set(row) == {"name", "type", "default", "accepted", "description", "choices", "range"}
        if kind == "bool":
            assert row["choices"] == ["True", "False"]
        assert row["type"] == kind
        assert row["accepted"] == accepted
        assert row["default"] == SCHEMA_DEFAULTS[row["name"]]
        assert row["description"].strip()


# --- build_job ---------------------------------------------------------------------------------------


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text\nfirst document\nsecond document\nthird document\n")
    return path


def job_problems(*args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_job(*args, **kwargs)
    return info.value.problems


def test_build_job_defaults(home, data):
    job = build_job("huggingface-llm-falcon-7b-bf16", {"training": data}, {"epoch": "2", "lora_r": 16})
    assert job.task == "text-generation"
    assert job.channels == {"training": str(data.resolve())}
    assert job.hyperparameters["epoch"] == "2"
    assert job.hyperparameters["lora_r"] == "16"
    assert job.hyperparameters["enable_fsdp"] == "False"  # the card's default, not the schema's
    assert set(job.hyperparameters) == set(HYPERPARAMETER_NAMES)
    assert job.job_name.startswith("huggingface-llm-falcon-7b-bf16-")
    assert len(job.job_name) <= 63
    assert Path(job.job_dir) == home / "jobs" / job.job_name
    assert not (home / "jobs").exists()  # building a job writes nothing
    assert job.hp.epoch == 2


def test_job_config_save_load(home, data, tmp_path):
    job = build_job("huggingface-llm-falcon-7b-bf16", {"train": str(data)}, job_name="save-me")
    job.save(tmp_path / "config.json")
    assert JobConfig.load(tmp_path / "config.json") == job


def test_unknown_model_suggests_close_id(home, data):
    with pytest.raises(UserError) as info:
        build_job("meta-textgeneration-llama-2-7", {"training": data})
    message = str(info.value)
    assert "Unknown model id 'meta-textgeneration-llama-2-7'." in message
    assert "Did you mean: meta-textgeneration-llama-2-7b" in message
    assert "fmtune models" in message


def test_gated_model_needs_accept_eula(home, data):
    (problem,) = job_problems("meta-textgeneration-llama-2-7b", {"training": data})
    assert problem.startswith(
        "meta-textgeneration-llama-2-7b requires accepting its end-user license agreement"
    )
    assert "(llama2 license)" in problem
    assert "--accept-eula" in problem
    job = build_job("meta-textgeneration-llama-2-7b", {"training": data}, accept_eula=True)
    assert job.accept_eula is True
    assert job.hyperparameters["enable_fsdp"] == "True"  # Llama 2 7B's JumpStart default
    assert job.hyperparameters["epoch"] == "5"


def test_gated_gemma_names_its_license(home, data):
    (problem,) = job_problems("huggingface-llm-gemma-2b", {"training": data})
    assert "(gemma license)" in problem and "--accept-eula" in problem


def test_card_default_conflicting_with_user_value_gives_way(home, data):
    # Llama 2 7B defaults to enable_fsdp=True; int8 given on top of it wins, and the job records why.
    job = build_job("meta-textgeneration-llama-2-7b", {"training": data}, {"int8_quantization": "True"},
                    accept_eula=True)
    assert job.hp.int8_quantization and not job.hp.enable_fsdp
    assert job.notices == ["enable_fsdp=True (the model's default) gives way to int8_quantization=True, which was "
                           "given: using enable_fsdp=False."]
    (problem,) = job_problems("meta-textgeneration-llama-2-7b", {"training": data},
                              {"int8_quantization": "True", "enable_fsdp": "True"}, accept_eula=True)
    assert "int8_quantization=True cannot be combined with enable_fsdp=True" in problem


def test_text2text_needs_instruction_tuning(home, data):
    (problem,) = job_problems(
        "huggingface-text2text-flan-t5-small", {"training": data}, {"instruction_tuned": "False"}
    )
    assert "huggingface-text2text-flan-t5-small is an encoder-decoder (text2text) model" in problem
    assert "Set instruction_tuned=True" in problem
    job = build_job("huggingface-text2text-flan-t5-small", {"training": data})
    assert job.task == "text2text"
    assert job.hyperparameters["instruction_tuned"] == "True"


def test_text2text_refuses_an_attention_kernel_it_would_not_use(home, data):
    (problem,) = job_problems("huggingface-text2text-flan-t5-small", {"training": data}, {"attention": "eager"})
    assert "attention=eager chooses the attention kernel of decoder-only models" in problem
    assert "Leave attention=auto" in problem
    job = build_job("huggingface-text2text-flan-t5-small", {"training": data}, {"attention": "auto"})
    assert job.task == "text2text"


def test_output_dir_with_files_is_refused_and_left_alone(home, data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "a.bin").write_bytes(b"\x00\x01")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data}, output_dir=out)
    assert problem.startswith(f"output dir {out.resolve()} already holds files;")
    assert "never overwrites" in problem and "--output-dir" in problem
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "notes.txt").read_text() == "precious"
    assert (out / "sub" / "a.bin").read_bytes() == b"\x00\x01"


def test_output_dir_with_a_finished_job_is_refused(home, data, tmp_path):
    out = tmp_path / "done"
    (out / "model").mkdir(parents=True)
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data}, output_dir=out)
    assert "already holds a finished job" in problem


def test_output_dir_that_is_a_file_is_refused(home, data, tmp_path):
    out = tmp_path / "file.txt"
    out.write_text("x")
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data}, output_dir=out)
    assert problem == f"output dir {out.resolve()} is a file; choose a new folder."
    assert out.read_text() == "x"


def test_empty_output_dir_is_accepted(home, data, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert build_job("huggingface-llm-falcon-7b-bf16", {"training": data}, output_dir=out).job_dir == str(out)


@pytest.mark.parametrize("name", ["bad name", "-leading-hyphen", "under_score", "x" * 64, "dots.no"])
def test_bad_job_name(home, data, name):
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data}, job_name=name)
    assert problem == (
        f"job name {name!r}: use 1-63 letters, digits and hyphens, starting with a letter or digit."
    )


def test_good_job_name_sets_the_job_dir(home, data):
    job = build_job("huggingface-llm-falcon-7b-bf16", {"training": data}, job_name="My-Job-1")
    assert job.job_name == "My-Job-1"
    assert Path(job.job_dir) == home / "jobs" / "My-Job-1"


def test_job_dir_under_fmtune_home_already_taken(home, data):
    (home / "jobs" / "taken").mkdir(parents=True)
    (home / "jobs" / "taken" / "config.json").write_text("{}")
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data}, job_name="taken")
    assert "already holds files" in problem


def test_missing_channel_path(home, tmp_path):
    missing = tmp_path / "nope" / "train.csv"
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": missing})
    assert f"channel 'training': {missing} does not exist" in problem


def test_an_s3_channel_without_boto3_says_what_to_install(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` sees when it is not installed
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": "s3://bucket/train/"})
    assert "s3://bucket/train/: reading S3 needs boto3: `pip install 'fmtune[s3]'`" in problem


def test_train_alias_is_accepted(home, data, tmp_path):
    val = tmp_path / "val.csv"
    val.write_text("text\nheld out\n")
    job = build_job("huggingface-llm-falcon-7b-bf16", {"train": data, "validation": f"file://{val}"})
    assert job.channels == {"training": str(data.resolve()), "validation": str(val.resolve())}


def test_train_and_training_together_is_refused(home, data):
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"training": data, "train": data})
    assert "given twice" in problem


def test_unknown_channel(home, data):
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"test": data})
    assert "unknown channel 'test'; use 'training' (or 'train') and optionally 'validation'" in problem


def test_no_training_channel(home, data):
    (problem,) = job_problems("huggingface-llm-falcon-7b-bf16", {"validation": data})
    assert "no training channel; pass --training PATH" in problem


def test_several_problems_reported_together(home, tmp_path):
    missing = tmp_path / "missing.csv"
    problems = job_problems(
        "meta-textgeneration-llama-2-7b",
        {"training": missing},
        {"epoch": "0", "lora_dropout": "1.5", "lora_rr": "8"},
        job_name="bad name",
    )
    assert len(problems) == 6
    assert problems[0].startswith("epoch='0': out of range")
    assert problems[1].startswith("lora_dropout='1.5': out of range")
    assert problems[2].startswith("lora_rr: unknown hyperparameter. Did you mean 'lora_r'?")
    assert "--accept-eula" in problems[3]
    assert problems[4].startswith("job name 'bad name'")
    assert f"{missing} does not exist" in problems[5]


def test_choices_match_without_regard_to_case_and_keep_their_spelling():
    hp = parse_hyperparameters({"precision": "FP32", "gradient_checkpointing": "true", "peft_type": "LoRA"})
    assert (hp.precision, hp.gradient_checkpointing, hp.peft_type) == ("fp32", "True", "lora")
    assert parse_hyperparameters({"gradient_checkpointing": True}).gradient_checkpointing == "True"
    assert parse_hyperparameters({"peft_type": "None"}).peft_type == "none"  # JumpStart's Flan-T5 full fine-tuning
