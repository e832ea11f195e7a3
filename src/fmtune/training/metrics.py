"""Evaluation records: metrics.jsonl (one JSON object per evaluation) and JumpStart's log lines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 50 else float("inf")


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def jumpstart_lines(epoch: int, train_loss: float | None, eval_loss: float) -> list[str]:
    """The lines SageMaker's metric regexes match (`train_epoch_loss=…`, `eval_epoch_loss=…`, `eval_ppl=…`)."""
    lines = [f"epoch={epoch}"]
    if train_loss is not None:
        lines.append(f"train_epoch_loss={train_loss:.6f}")
    lines.append(f"eval_epoch_loss={eval_loss:.6f}")
    lines.append(f"eval_ppl={perplexity(eval_loss):.6f}")
    return lines


def keep_metrics_before(path: Path, epoch: int) -> None:
    """On resume: drop records of the epoch being redone (and later), atomically."""
    kept = [r for r in read_metrics(path) if r["epoch"] < epoch]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(path)
