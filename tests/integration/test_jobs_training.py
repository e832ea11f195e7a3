"""Background jobs with the real recipe on the embedded SmolLM2-135M, through the `fmtune` command only:
train --detach → kill -9 → the job reads as Failed ("died unexpectedly") → jobs resume --detach → jobs stop
→ Stopped with a checkpoint → jobs resume → Completed, with the log and metrics of one continuous run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.jobs.metrics import read_metrics

from ..conftest import SAMPLES

pytestmark = pytest.mark.slow

SETTINGS = ["-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=24", "-H", "max_val_samples=4",
            "-H", "max_input_length=64", "-H", "per_device_train_batch_size=1", "-H", "per_device_eval_batch_size=4",
            "-H", "checkpoint_steps=2", "-H", "learning_rate=0.0005"]


def cli(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def describe(capfd, name: str) -> dict:
    code, out, err = cli(capfd, "jobs", "describe", name, "--json")
    assert code == 0, err
    return json.loads(out)


def wait_until(condition, what: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def complete_checkpoints(job_dir: Path) -> list[str]:
    folder = job_dir / "checkpoints"
    return sorted(p.name for p in folder.glob("step-*") if (p / "COMPLETE").exists()) if folder.exists() else []


def test_detach_kill_resume_stop_resume_completes(capfd, embedded_model_dir, fmtune_home):
    name = "bg-real"
    code, out, _ = cli(capfd, "train", "--training", str(SAMPLES / "instruction" / "train"), *SETTINGS,
                       "--job-name", name, "--detach")
    assert (code, out) == (0, f"{name}\n")
    job_dir = fmtune_home / "jobs" / name
    log = job_dir / "logs.txt"

    # kill -9 (as a crash or a reboot would) once a step checkpoint exists
    wait_until(lambda: complete_checkpoints(job_dir), "the first checkpoint")
    pid = describe(capfd, name)["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: describe(capfd, name)["status"] != "InProgress", "the kill to be noticed", timeout=30)
    summary = describe(capfd, name)
    assert summary["status"] == "Failed"
    assert summary["failure_reason"] == (
        f"the training process died unexpectedly (pid {pid} is no longer running); "
        f"`fmtune jobs resume {name}` continues from the last complete checkpoint"
    )

    # resume in the background, then stop it: it checkpoints and ends Stopped
    code, out, _ = cli(capfd, "jobs", "resume", name, "--detach")
    assert (code, out) == (0, f"{name}\n")
    wait_until(lambda: log.read_text().count("resumed from step-") == 1, "the resumed run to start")
    # Stop once the resumed run has trained a step (steps.jsonl), not merely started: a stop before its first
    # step has nothing new to checkpoint (that case is tested in test_checkpoint_resume.py).
    resumed_at = int(log.read_text().split("resumed from step-")[1].split(":")[0])
    wait_until(lambda: any(r["step"] > resumed_at for r in read_metrics(job_dir / "steps.jsonl")),
               "a step of the resumed run")
    code, out, _ = cli(capfd, "jobs", "stop", name)
    assert code == 0 and f"{name}: Stopped" in out
    assert "stopped by SIGTERM" in log.read_text() and "(stop requested)" in log.read_text()
    summary = describe(capfd, name)
    assert (summary["status"], summary["failure_reason"]) == ("Stopped", None)

    # resume in the foreground to the end
    assert cli(capfd, "jobs", "resume", name)[0] == 0
    summary = describe(capfd, name)
    assert (summary["status"], summary["failure_reason"]) == ("Completed", None)
    assert summary["model_dir"] == str(job_dir / "model") and (job_dir / "model" / "model.safetensors").exists()
    assert summary["latest_metrics"]["epoch"] == 1 and summary["latest_metrics"]["train_loss"] > 0
    assert summary["created"] <= summary["started"] <= summary["ended"]
    assert log.read_text().count("resumed from step-") == 2
    records = [json.loads(line) for line in (job_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]  # one run's worth, however many restarts
    steps = [json.loads(line)["step"] for line in (job_dir / "steps.jsonl").read_text().splitlines()]
    last = int(complete_checkpoints(job_dir)[-1].removeprefix("step-"))
    assert steps == list(range(1, last + 1))  # each step once, though the run was killed and stopped

    code, out, _ = cli(capfd, "jobs", "logs", name, "--follow")  # a finished job: prints and ends
    assert code == 0 and "eval_epoch_loss=" in out and out.count("resumed from step-") == 2
    code, out, _ = cli(capfd, "jobs", "list")
    assert any(line.split()[:2] == [name, "Completed"] for line in out.splitlines())
