"""--tiny-random from the command line to the model source: what it accepts, what it refuses and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.errors import UserError
from fmtune.jobs.config import JobConfig
from fmtune.models.source import resolve_source
from fmtune.paths import models_cache_dir

from ..conftest import SAMPLES
from ..jobs_support import build_job

TRAIN = str(SAMPLES / "instruction" / "train")


def test_catalog_id_resolves_to_a_tiny_random_source():
    source = resolve_source("meta-textgeneration-llama-2-70b", tiny_random=True)
    assert source.kind == "tiny-random" and source.card.model_id == "meta-textgeneration-llama-2-70b"
    assert Path(source.location) == models_cache_dir() / "tiny-random" / "meta-textgeneration-llama-2-70b"
    assert resolve_source("meta-textgeneration-llama-2-70b").kind == "catalog"  # off by default


def test_aliases_resolve_to_their_card():
    source = resolve_source("huggingface-textgeneration1-gpt-j-6b-fp16", tiny_random=True)
    assert source.kind == "tiny-random" and source.card.model_id == "huggingface-textgeneration1-gpt-j-6b"


@pytest.mark.parametrize("reference", ["./my-model", "/tmp", "org/some-model"])
def test_local_folders_and_hub_ids_are_refused(reference):
    with pytest.raises(UserError, match="--tiny-random needs a catalog model id.*local model folder or Hugging Face"):
        resolve_source(reference, tiny_random=True)


def test_unknown_id_is_refused():
    with pytest.raises(UserError, match="'llama-9000' is not a catalog model id"):
        resolve_source("llama-9000", tiny_random=True)


def test_text_to_image_resolves_to_its_tiny_pipeline():
    source = resolve_source("model-txt2img-stabilityai-stable-diffusion-v2-1-base", tiny_random=True)
    assert source.kind == "tiny-random" and source.location.endswith(source.card.model_id)


def test_build_job_records_tiny_random_and_it_survives_a_round_trip(tmp_path):
    job = build_job("huggingface-llm-mistral-7b", {"training": TRAIN}, {"instruction_tuned": "True"},
                    output_dir=tmp_path / "job", tiny_random=True)
    assert job.tiny_random is True
    job.save(tmp_path / "config.json")
    assert JobConfig.load(tmp_path / "config.json").tiny_random is True
    legacy = json.loads(job.to_json())
    del legacy["tiny_random"]  # a job written before the flag existed
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    assert JobConfig.load(tmp_path / "old.json").tiny_random is False


def test_build_job_still_asks_for_the_eula(tmp_path):
    with pytest.raises(UserError, match="accept"):
        build_job("meta-textgeneration-llama-2-7b", {"training": TRAIN}, output_dir=tmp_path / "job",
                  tiny_random=True)


def test_train_help_says_the_weights_are_random(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--tiny-random" in help_text and "RANDOM weights" in help_text
    assert "only a test of the pipeline" in help_text


def test_cli_refuses_tiny_random_for_a_local_folder(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    code = main(["train", str(tmp_path), "--tiny-random", "--training", TRAIN])
    assert code == 2
    assert "--tiny-random needs a catalog model id" in capsys.readouterr().err


def test_tiny_model_is_built_once_atomically_and_rebuilt_when_stale(tmp_path):
    from fmtune.catalog import get_card
    from fmtune.models.tiny import SOURCE_FILE, build_tiny_model

    card = get_card("huggingface-textgeneration1-gpt-neo-125m")
    target = tmp_path / "tiny" / card.model_id
    assert build_tiny_model(card, target) == target
    record = json.loads((target / SOURCE_FILE).read_text())
    assert record["weights"] == "random" and record["real_weights"] == "EleutherAI/gpt-neo-125M"
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in target.iterdir()
    }
    built = (target / "model.safetensors").stat().st_mtime_ns
    build_tiny_model(card, target)
    assert (target / "model.safetensors").stat().st_mtime_ns == built  # reused, not rebuilt

    (target / SOURCE_FILE).write_text(json.dumps({**record, "fingerprint": "from-an-older-fmtune"}))
    build_tiny_model(card, target)
    assert json.loads((target / SOURCE_FILE).read_text())["fingerprint"] == record["fingerprint"]
    left = [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")]  # the fill lock stays
    assert left == [card.model_id]  # no staging or stale folders left
