"""A save that fails midway (here: a file-size limit) leaves no partial model/ where a complete one is expected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmtune.catalog import get_card
from fmtune.cli.main import main
from fmtune.jobs.store import JobStore
from fmtune.models.tiny import build_tiny_model

from ..conftest import SAMPLES

pytestmark = pytest.mark.slow

MODEL = "meta-textgeneration-llama-2-7b"


def fmtune(*argv: str, file_limit_kib: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fmtune.cli.main", *argv]
    if file_limit_kib is not None:  # bash's ulimit -f counts KiB; writing past it fails with EFBIG
        command = ["bash", "-c", f'ulimit -f {file_limit_kib}; exec "$@"', "fmtune", *command]
    return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=900)


def test_a_failed_export_leaves_no_partial_model_and_resume_completes_it(capsys):
    model_file = build_tiny_model(get_card(MODEL)) / "model.safetensors"  # built before the limit applies
    limit_kib = model_file.stat().st_size // 1024 // 2  # checkpoints (LoRA) fit; the merged model does not
    train = ["train", MODEL, "--tiny-random", "--accept-eula", "--training", str(SAMPLES / "instruction" / "train"),
             "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=8", "-H", "max_val_samples=4",
             "-H", "max_input_length=96", "--job-name", "export-fails"]
    failed = fmtune(*train, file_limit_kib=limit_kib)
    assert failed.returncode != 0, failed.stdout[-3000:]
    record = JobStore().require("export-fails")
    job = Path(record.job_dir)
    assert record.status == "Failed"
    assert not (job / "model").exists()
    assert [p.name for p in job.iterdir() if p.name.startswith(".")] == []  # no temp folder left behind
    capsys.readouterr()
    assert main(["generate", "export-fails", "Hello"]) == 2  # in this process: what is tested is the answer
    refused = capsys.readouterr().err
    assert "has no model/" in refused and "pickled" not in refused

    resumed = fmtune("jobs", "resume", "export-fails")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert JobStore().require("export-fails").status == "Completed"
    assert (job / "model" / "model.safetensors").stat().st_size > limit_kib * 1024
    assert main(["generate", "export-fails", "Hello", "--max-new-tokens", "4"]) == 0
