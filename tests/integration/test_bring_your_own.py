"""Bring your own model: a local Hugging Face folder, a hub id from the local HF cache, and clear refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fmtune.catalog import get_card
from fmtune.cli.main import main
from fmtune.models.source import materialize, resolve_source

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

TRAIN = ["--training", str(SAMPLES / "instruction" / "train"), "-H", "instruction_tuned=True", "-H", "epoch=1",
         "-H", "max_train_samples=8", "-H", "max_input_length=128"]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> Path:
    """A user's own model folder: config.json + safetensors + tokenizer, architecture GPT-2 (tiny, random)."""
    built = materialize(resolve_source("huggingface-textgeneration1-gpt-2-xl", tiny_random=True))
    folder = tmp_path_factory.mktemp("byo") / "my-gpt2"
    shutil.copytree(built, folder, ignore=shutil.ignore_patterns("fmtune_source.json"))
    return folder


def test_local_folder_trains_with_inferred_lora_targets(gpt2_folder, tmp_path):
    assert get_card("huggingface-textgeneration1-gpt-2-xl").architecture == "gpt2"
    job = tmp_path / "job"
    assert main(["train", str(gpt2_folder), *TRAIN, "--output-dir", str(job)]) == 0, (job / "logs.txt").read_text()
    adapter = json.loads((job / "adapter" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == ["c_attn"]  # peft's default for gpt2, found from config.json
    assert json.loads((job / "model" / "config.json").read_text())["model_type"] == "gpt2"


def test_hub_id_is_resolved_from_the_local_cache_offline(gpt2_folder, tmp_path):
    cache = tmp_path / "hub"
    snapshot = cache / "models--my-org--my-gpt2" / "snapshots" / ("a" * 40)
    shutil.copytree(gpt2_folder, snapshot)
    (cache / "models--my-org--my-gpt2" / "refs").mkdir()
    (cache / "models--my-org--my-gpt2" / "refs" / "main").write_text("a" * 40)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    job = tmp_path / "job"
    result = subprocess.run([sys.executable, "-m", "fmtune.cli.main", "train", "my-org/my-gpt2", *TRAIN,
                             "--output-dir", str(job)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + (job / "logs.txt").read_text()
    assert (job / "model" / "model.safetensors").exists()

    missing = subprocess.run([sys.executable, "-m", "fmtune.cli.main", "train", "my-org/not-there", *TRAIN,
                              "--output-dir", str(tmp_path / "j2")], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "not in the local Hugging Face cache" in missing.stderr


def edited_copy(source: Path, target: Path, **config_changes) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(config_changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    ("changes", "args", "expected"),
    [
        ({"model_type": "resnet", "architectures": ["ResNetForImageClassification"]}, [],
         "which no fmtune task trains"),
        ({"auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}}, [], "--trust-remote-code --revision"),
        ({}, ["--trust-remote-code"], "pin it with --revision"),
    ],
)
def test_unsupported_or_unsafe_models_are_refused_before_training(gpt2_folder, tmp_path, capsys, changes, args,
                                                                  expected):
    folder = edited_copy(gpt2_folder, tmp_path / "model", **changes)
    assert main(["train", str(folder), *args, *TRAIN, "--output-dir", str(tmp_path / "job")]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "job").exists()


def test_pickle_only_weights_are_refused(gpt2_folder, tmp_path, capsys):
    folder = edited_copy(gpt2_folder, tmp_path / "model")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    assert main(["train", str(folder), *TRAIN, "--output-dir", str(tmp_path / "job")]) == 2
    assert "loads *.safetensors only" in capsys.readouterr().err


def test_unknown_local_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope"), *TRAIN]) == 2
    assert "does not exist" in capsys.readouterr().err
