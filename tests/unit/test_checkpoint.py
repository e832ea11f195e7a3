"""Checkpoint writes are atomic: a full disk in the middle of one leaves the previous checkpoint usable."""

from __future__ import annotations

import errno

import pytest
import torch

from fmtune.training import checkpoint as ckpt
from fmtune.training.checkpoint import (
    COMPLETE_MARKER,
    TrainState,
    complete_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def tiny_training():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)  # a frozen part, as a LoRA base is
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    return model, optimizer, scheduler


def test_round_trip_restores_weights_optimizer_rng_and_position(tmp_path):
    model, optimizer, scheduler = tiny_training()
    state = TrainState(epoch=2, step=3, global_step=7, loss_sum=1.5, loss_tokens=9, best_loss=0.4, best_epoch=1)
    path = save_checkpoint(tmp_path, state, model, optimizer, scheduler, best_weights=None)
    expected_random = torch.rand(3)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    optimizer.state.clear()
    torch.rand(5)  # move the RNG on
    restored, best = load_checkpoint(path, model, optimizer, scheduler)
    assert restored == state and best is None
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items() if k != "0.weight")
    assert optimizer.state  # moments came back
    assert torch.equal(torch.rand(3), expected_random)  # the RNG continues where the checkpoint was taken


def test_full_disk_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = tiny_training()
    first = save_checkpoint(tmp_path, TrainState(global_step=1), model, optimizer, scheduler, None)
    real_save = torch.save

    def disk_full(obj, target, *args, **kwargs):
        if str(target).endswith("scheduler.pt"):  # after the weights and optimizer were written
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, target, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path, TrainState(global_step=2), model, optimizer, scheduler, None)
    assert latest_checkpoint(tmp_path) == first
    assert complete_checkpoints(tmp_path) == [first]
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no half-written folder left behind
    assert (first / COMPLETE_MARKER).exists()


def test_unmarked_folders_are_never_resumed_from(tmp_path):
    model, optimizer, scheduler = tiny_training()
    good = save_checkpoint(tmp_path, TrainState(global_step=1), model, optimizer, scheduler, None)
    (tmp_path / "step-00000009").mkdir()  # e.g. copied by hand, or a crash in an older tool
    assert latest_checkpoint(tmp_path) == good


def test_only_the_last_two_complete_checkpoints_are_kept(tmp_path):
    model, optimizer, scheduler = tiny_training()
    paths = [save_checkpoint(tmp_path, TrainState(global_step=i), model, optimizer, scheduler, None)
             for i in range(1, 5)]
    assert complete_checkpoints(tmp_path) == paths[-2:]


def test_metrics_reader_skips_a_half_written_line(tmp_path):
    from fmtune.jobs.metrics import read_metrics, record_metrics

    path = tmp_path / "metrics.jsonl"
    record_metrics(path, {"epoch": 1, "eval_loss": 2.0})
    with path.open("a") as f:
        f.write('{"epoch": 2, "eval_lo')  # a writer cut off midway
    assert read_metrics(path) == [{"epoch": 1, "eval_loss": 2.0}]
    record_metrics(path, {"epoch": 0, "eval_loss": 3.0})  # rewrites the file whole, in epoch order
    assert [r["epoch"] for r in read_metrics(path)] == [0, 1]
