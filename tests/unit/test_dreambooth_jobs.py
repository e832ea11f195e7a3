"""Stable Diffusion 2.1 through the task registry: JumpStart's hyperparameters (names, string defaults), the SD
notebook's SDK calls and every check of a job before it starts (training itself: tests/integration/
test_dreambooth.py)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from fmtune.cli.main import main
from fmtune.config.dreambooth import LORA_LEARNING_RATE, DreamBoothHyperparameters
from fmtune.errors import UserError
from fmtune.jobs.store import JobStore
from fmtune.sagemaker import hyperparameters
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"
# retrieve_default for SD 2.1 base as JumpStart prints it (shared/reference/stable-diffusion.md §2), stated
# here rather than read from the catalog.
JUMPSTART_DEFAULTS = {
    "epochs": "20", "max_steps": "None", "batch_size": "1", "with_prior_preservation": "False",
    "num_class_images": "100", "learning_rate": "2e-06", "prior_loss_weight": "1.0", "center_crop": "False",
    "lr_scheduler": "constant", "adam_weight_decay": "0.01", "adam_beta1": "0.9", "adam_beta2": "0.999",
    "adam_epsilon": "1e-08", "gradient_accumulation_steps": "1", "max_grad_norm": "1.0", "seed": "0",
}

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
def dog(tmp_path):
    root = tmp_path / "dog"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (512, 512), (40 * i, 90, 160)).save(root / f"dog{i}.jpg")
    (root / "dataset_info.json").write_text(json.dumps({"instance_prompt": "a photo of a Doppler dog"}))
    return root


def test_retrieve_default_is_jumpstarts_list():
    assert hyperparameters.retrieve_default(model_id=SD, model_version="*") == JUMPSTART_DEFAULTS


def test_every_default_parses_and_fmtunes_own_values_are_documented():
    hp, notices = DreamBoothHyperparameters.resolve({}, JUMPSTART_DEFAULTS)
    assert (hp.epochs, hp.max_steps, hp.learning_rate, hp.peft_type, hp.resolution) == (20, None, 2e-06, "none", 512)
    assert notices == []
    described = {row["name"]: row for row in DreamBoothHyperparameters.describe()}
    assert set(JUMPSTART_DEFAULTS) < set(described)
    assert {"compute_fid", "peft_type", "lora_r", "train_text_encoder", "resolution", "precision",
            "gradient_checkpointing", "checkpoint_steps", "validation_prompt", "num_validation_images",
            "validation_steps"} <= set(described)
    assert all(row["description"] for row in described.values())


def test_lora_takes_its_own_learning_rate_unless_one_is_given():
    hp, notices = DreamBoothHyperparameters.resolve({"peft_type": "lora"}, JUMPSTART_DEFAULTS)
    assert hp.learning_rate == LORA_LEARNING_RATE and "LoRA's default" in notices[0]
    hp, notices = DreamBoothHyperparameters.resolve({"peft_type": "lora", "learning_rate": "5e-05"},
                                                    JUMPSTART_DEFAULTS)
    assert hp.learning_rate == 5e-05 and notices == []


def test_the_notebook_sets_max_steps_and_every_problem_is_named_at_once():
    my_hyperparameters = hyperparameters.retrieve_default(model_id=SD, model_version="*")
    my_hyperparameters["max_steps"] = "400"
    hyperparameters.validate(model_id=SD, model_version="*", hyperparameters=my_hyperparameters)
    with pytest.raises(ValueError) as err:
        hyperparameters.validate(model_id=SD, model_version="*", hyperparameters={
            **my_hyperparameters, "max_steps": "0", "lr_scheduler": "warm", "epoch": "3"})
    message = str(err.value)
    assert "max_steps" in message and "lr_scheduler" in message and "Did you mean 'epochs'?" in message


def test_bad_images_are_named_before_anything_starts(dog):
    (dog / "dog1.jpg").write_bytes(b"not a jpeg")
    estimator = JumpStartEstimator(model_id=SD, hyperparameters={"with_prior_preservation": "True"})
    with pytest.raises(ValueError, match=r"dog1\.jpg: not an image that can be read|needs \"class_prompt\""):
        estimator.fit({"training": str(dog)})
    assert JobStore().list_jobs() == []  # nothing was registered or started


@pytest.mark.parametrize(("values", "message"), [
    (["-H", "epoch=3", "-H", "batch_size=0"], "Did you mean 'epochs'?"),
    (["-H", "resolution=500"], "resolution=500: must be a multiple of 8 (the VAE works on 8x8 blocks); e.g. 496"),
])
def test_cli_exit_2_with_the_settings_problem(dog, capsys, values, message):
    code = main(["train", SD, "--training", str(dog), *values])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_channel_other_than_training_is_refused(dog):
    from fmtune.jobs.start import JobRequest, prepare_job

    with pytest.raises(UserError, match="reads only the `training` channel"):
        prepare_job(JobRequest(SD, {"training": dog, "validation": dog}))


def test_compute_fid_without_the_inception_file_is_refused_before_anything_starts(dog, capsys, monkeypatch,
                                                                                   tmp_path):
    monkeypatch.setenv("FMTUNE_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pt"))
    assert main(["train", SD, "--training", str(dog), "-H", "compute_fid=True"]) == 2
    err = capsys.readouterr().err
    assert f"compute_fid=True needs the Inception-v3 network FID is defined with, and {tmp_path / 'nowhere.pt'} " \
           "does not exist" in err
    assert "inception-2015-12-05.pt" in err and "compute_fid=False" in err and "Traceback" not in err
    assert JobStore().list_jobs() == []


def test_compute_fid_needs_two_instance_images(dog, capsys, monkeypatch, tmp_path):
    (tmp_path / "inception.pt").write_bytes(b"present")
    monkeypatch.setenv("FMTUNE_INCEPTION_WEIGHTS", str(tmp_path / "inception.pt"))
    for extra in ("dog1.jpg", "dog2.jpg"):
        (dog / extra).unlink()
    assert main(["train", SD, "--training", str(dog), "-H", "compute_fid=True"]) == 2
    assert "needs at least 2 instance images (1 found)" in capsys.readouterr().err
