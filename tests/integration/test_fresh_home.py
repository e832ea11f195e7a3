"""A fresh machine: an empty FMTUNE_HOME, where the model is prepared while ranks and jobs race for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import SAMPLES

pytestmark = pytest.mark.slow

SMALL = ["--training", str(SAMPLES / "instruction" / "train"), "-H", "instruction_tuned=True", "-H", "epoch=1",
         "-H", "max_train_samples=8", "-H", "max_val_samples=4", "-H", "max_input_length=96"]


def fmtune(home: Path, *argv: str) -> tuple[subprocess.Popen, Path]:
    """Output to a file, not a pipe: a process blocked on a pipe nobody reads would hold up the others."""
    env = {**os.environ, "FMTUNE_HOME": str(home)}
    log = home.parent / f"output-{len(list(home.parent.glob('output-*')))}.txt"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "fmtune.cli.main", *argv], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    return process, log


def finish(started: tuple[subprocess.Popen, Path]) -> None:
    process, log = started
    assert process.wait(timeout=900) == 0, log.read_text()[-4000:]


def test_fsdp_on_a_fresh_home(tmp_path):
    """The issue's command with --tiny-random: both ranks used to build the model into the same folder at once.
    (Two processes converting the embedded GGUF on an empty home: tests/unit/test_atomic.py.)"""
    home = tmp_path / "fresh"
    finish(fmtune(home, "train", "meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula", *SMALL,
                  "-H", "enable_fsdp=True", "--nproc", "2", "--job-name", "fsdp-fresh"))
    job = home / "jobs" / "fsdp-fresh"
    assert (job / "model" / "model.safetensors").exists()
    assert json.loads((job / "status.json").read_text())["status"] == "Completed"


def test_two_trainings_on_a_fresh_home(tmp_path):
    """Two `fmtune train` at once on an empty home: the tiny-random build is made once and both jobs finish."""
    home = tmp_path / "fresh"
    model = ["meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula"]
    runs = [fmtune(home, "train", *model, *SMALL, "--job-name", f"race-{i}") for i in range(2)]
    for run in runs:
        finish(run)
    for i in range(2):
        assert (home / "jobs" / f"race-{i}" / "model" / "model.safetensors").exists()
    built = home / "models" / "tiny-random"
    assert [p.name for p in built.iterdir() if not p.name.endswith(".lock")] == ["meta-textgeneration-llama-2-7b"]
