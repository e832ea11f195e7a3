"""torch.distributed for FSDP2: process group, sharding, and the few collectives the loop needs.

A run is distributed when torchrun (or any launcher that sets WORLD_SIZE/RANK/LOCAL_RANK) starts it:
nccl on GPUs (one process per GPU), gloo on CPU. With one process every helper here is a no-op, so the
recipes have a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), world, local_rank)


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def device_for(d: Dist) -> torch.device:
    return torch.device("cuda", d.local_rank) if torch.cuda.is_available() else torch.device("cpu")


def shard(model: Any, d: Dist) -> Any:
    """FSDP2: `fully_shard` each decoder layer (the model's no-split modules), then the root."""
    if not d.active:
        return model
    from torch.distributed.fsdp import fully_shard

    holders = (m for m in model.modules() if getattr(m, "_no_split_modules", None))
    layer_types = set(getattr(next(holders, None), "_no_split_modules", None) or [])
    for module in model.modules():
        if type(module).__name__ in layer_types:
            fully_shard(module)
    fully_shard(model)
    return model


def sum_across(d: Dist, *values: float) -> list[float]:
    """Sum numbers over all processes (float64 on the loop's device)."""
    if not d.active:
        return list(values)
    device = torch.device("cuda", d.local_rank) if torch.cuda.is_available() else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
