"""Training records: metrics.jsonl (one JSON object per epoch's evaluation), steps.jsonl (one per optimizer step:
the loss curve) and JumpStart's log lines."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from fmtune.atomic import write_file_atomically


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 50 else float("inf")


def record_metrics(path: Path, record: dict[str, Any]) -> None:
    """Add (or replace) the record of `record["epoch"]`, keeping the file in epoch order: the untrained
    model's epoch 0 may be scored last (fmtune.training.loop) and still comes first."""
    records = [r for r in read_metrics(path) if r["epoch"] != record["epoch"]] + [record]
    _write_atomically(path, sorted(records, key=lambda r: r["epoch"]))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl records. A line that does not parse (half-written by an older fmtune, or cut by a full
    disk) is skipped: readers follow a running job."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def jumpstart_lines(epoch: int, train_loss: float | None, eval_loss: float) -> list[str]:
    """The lines SageMaker's metric regexes match (`train_epoch_loss=…`, `eval_epoch_loss=…`, `eval_ppl=…`)."""
    lines = [f"epoch={epoch}"]
    if train_loss is not None:
        lines.append(f"train_epoch_loss={train_loss:.6f}")
    lines.append(f"eval_epoch_loss={eval_loss:.6f}")
    lines.append(f"eval_ppl={perplexity(eval_loss):.6f}")
    return lines


def record_step(path: Path, record: dict[str, Any]) -> None:
    """Append one optimizer step's record ({"epoch", "step", "total_steps", "loss", "learning_rate"}; "step" counts
    from the start of training, "total_steps" is the run's plan) stamped with its wall-clock "time" (progress and
    ETA read it). A line cut by a crash is skipped by readers and dropped on resume."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")


def keep_steps_through(path: Path, step: int) -> None:
    """On resume from a checkpoint taken after `step` steps: drop the records of the steps done after it."""
    _write_atomically(path, [r for r in read_metrics(path) if r.get("step", 0) <= step])


def start_records(metrics: Path, steps: Path, resumed_at: tuple[int, int] | None) -> None:
    """Before training: a fresh run starts both files empty; a run resumed at (epoch, step) keeps what came before
    that epoch's evaluation and that step."""
    if resumed_at is None:
        metrics.unlink(missing_ok=True)
        steps.unlink(missing_ok=True)
        return
    epoch, step = resumed_at
    keep_metrics_before(metrics, epoch)
    keep_steps_through(steps, step)


def keep_metrics_before(path: Path, epoch: int) -> None:
    """On resume: drop records of the epoch being redone (and later), atomically."""
    _write_atomically(path, [r for r in read_metrics(path) if r["epoch"] < epoch])


def _write_atomically(path: Path, records: list[dict[str, Any]]) -> None:
    write_file_atomically(path, "".join(json.dumps(r) + "\n" for r in records).encode())
