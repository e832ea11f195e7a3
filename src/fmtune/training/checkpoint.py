"""Crash-safe checkpoints: written to a temp dir, fsynced, marked complete, then renamed into place.

A checkpoint holds the trainable weights (safetensors), the best-so-far trainable weights, the
optimizer and scheduler, the RNG state and the data position. Resume only ever reads complete
checkpoints, so a kill -9 or a full disk in the middle of a write leaves the previous one usable.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from fmtune.atomic import staged_dir

COMPLETE_MARKER = "COMPLETE"
KEEP_LAST = 2


@dataclass
class TrainState:
    """Where training stands; enough to continue exactly where a checkpoint was taken."""

    epoch: int = 1  # the epoch being trained (1-based)
    step: int = 0  # optimizer steps already done in this epoch
    global_step: int = 0
    loss_sum: float = 0.0  # this epoch's summed token loss so far (for train_epoch_loss)
    loss_tokens: int = 0
    best_loss: float = float("inf")
    best_epoch: int = 0


# Under FSDP the trainable weights and their optimizer state are sharded: torch.distributed.checkpoint's
# state-dict API gathers them into full CPU tensors (every process must call it). A single process uses the
# plain state dicts, which also work for bitsandbytes-quantized models (the DCP API does not). It is imported
# only then: it costs ~0.7 s at every start of a job that does not need it.
def _sharded() -> bool:
    return dist.is_available() and dist.is_initialized()


def _full(**options: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **options)


def _full_trainable() -> Any:
    return _full(cpu_offload=True, ignore_frozen_params=True)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    if not _sharded():
        return {n: p.detach().clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    # The filter drops tied aliases (e.g. lm_head.weight = embed_tokens.weight), which the state dict
    # reports under both names and `ignore_frozen_params` lets through.
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    names = {name for name, p in model.named_parameters() if p.requires_grad}
    state = get_model_state_dict(model, options=_full_trainable())
    return {k: v.detach().clone().contiguous() for k, v in state.items() if k in names}


def restore_trainable(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    if not _sharded():
        model.load_state_dict(weights, strict=False)
        return
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, weights, options=_full(strict=False))


def _optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    if not _sharded():
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full_trainable())


def _restore_optimizer(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    if not _sharded():
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=_full())


def save_checkpoint(
    directory: Path,
    state: TrainState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    best_weights: dict[str, torch.Tensor] | None,
    write: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint `step-<global_step>` atomically; older ones beyond the last two are pruned.

    Every process calls this (gathering sharded state is collective); only the one with `write` writes. `extra`:
    a recipe's own state (plain tensors and numbers, e.g. a GradScaler's), read back by `load_extra`."""
    weights = trainable_state(model)
    optimizer_state = _optimizer_state(model, optimizer)
    final = directory / f"step-{state.global_step:08d}"
    if not write:
        return final
    # The same step may be saved again (a stop right after an epoch checkpoint): the new one replaces it.
    with staged_dir(final, replace=True) as staging:
        save_file(weights, staging / "trainable.safetensors")
        if best_weights is not None:
            save_file(best_weights, staging / "best.safetensors")
        torch.save(optimizer_state, staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        torch.save(_rng_state(), staging / "rng.pt")
        if extra is not None:
            torch.save(extra, staging / "extra.pt")
        (staging / "state.json").write_text(json.dumps(asdict(state)))
        (staging / COMPLETE_MARKER).write_text("ok\n")
    for old in complete_checkpoints(directory)[:-KEEP_LAST]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints, oldest first. Temp dirs and unmarked dirs are never returned."""
    if not directory.exists():
        return []
    found = [p for p in directory.iterdir() if p.name.startswith("step-") and (p / COMPLETE_MARKER).exists()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(directory: Path) -> Path | None:
    found = complete_checkpoints(directory)
    return found[-1] if found else None


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[TrainState, dict[str, torch.Tensor] | None]:
    """Restore weights, optimizer, scheduler and RNG; return the state and the best weights so far."""
    weights = load_file(path / "trainable.safetensors")
    missing = [n for n in trainable_state(model) if n not in weights]
    if missing:
        raise RuntimeError(f"{path} does not match this model (missing {missing[:3]}...)")
    restore_trainable(model, weights)
    # Our own files, written by save_checkpoint; weights_only keeps torch.load from running pickled code.
    _restore_optimizer(model, optimizer, torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    _set_rng_state(torch.load(path / "rng.pt", weights_only=True))
    best = load_file(path / "best.safetensors") if (path / "best.safetensors").exists() else None
    return TrainState(**json.loads((path / "state.json").read_text())), best


def load_extra(path: Path) -> dict[str, Any]:
    """The recipe's own state saved with checkpoint `path` ({} when it saved none)."""
    extra = path / "extra.pt"
    return torch.load(extra, weights_only=True) if extra.exists() else {}


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
