"""Model folders that cannot be used and an offline hub: clear errors (exit 2), never a library traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.errors import UserError
from fmtune.models import source

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test


def folder_with(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in files:
        (folder / name).write_text(json.dumps({"model_type": "llama"}) if name.endswith(".json") else "x")
    return folder


@pytest.mark.parametrize("files, fragment", [
    (["config.json", "pytorch_model.bin"], "holds only pickled weights (pytorch_model.bin)"),
    (["config.json"], "holds no weights"),
])
def test_generate_refuses_a_folder_without_safetensors(tmp_path, capsys, files, fragment):
    folder = folder_with(tmp_path, *files)
    assert main(["generate", str(folder), "Hello"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "safetensors" in err and "Traceback" not in err


def test_generate_on_an_unfinished_job_says_so(home, capsys):
    job = home / "jobs" / "half-done"
    job.mkdir(parents=True)
    (job / "config.json").write_text(json.dumps({"job_name": "half-done"}))
    (job / "status.json").write_text(json.dumps({"status": "Failed"}))
    assert main(["generate", "half-done", "Hello"]) == 2
    assert "has no model/: the job has not finished" in capsys.readouterr().err


def test_an_unreachable_hub_is_detected_at_once(monkeypatch, capsys):
    """HF_HUB_OFFLINE is not set, but the hub cannot be reached: say so, without the hub client's retries."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    reason = source.offline_reason()
    assert reason is not None and "cannot be reached from this machine" in reason
    with pytest.raises(UserError) as info:
        source.materialize(source.resolve_source("some-org/some-model-that-is-not-cached"))
    assert "not in the local Hugging Face cache, and the Hugging Face Hub (http://127.0.0.1:9) cannot be reached" \
        in str(info.value)
    assert "HF_HUB_OFFLINE" not in str(info.value)


def test_offline_mode_is_named_when_it_is_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert source.offline_reason() == "HF_HUB_OFFLINE=1 is set (offline mode)"
