"""Checks a recipe runs on the loaded model before relying on a shortcut (packed examples kept apart, the chunked
head loss equal to the model's own), answered once and then read from FMTUNE_HOME/cache/model_checks.json.

Each check is a few forward passes over all the weights: 0.6 s of a small job's start-up on 2 CPU cores, and the
same answer every time for the same code. Its answer depends on the model's code and configuration, not on its
weights, so the key is everything that could change it: the check's own source file, the model's class and the
file that defines it (remote code included), the full config and the attention kernel it is checked under, the
parameters' dtypes (quantization), the device type and the torch, transformers and peft versions.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fmtune.models.verdicts import cached_verdict

CACHE_FILE = "model_checks.json"

Check = Callable[[Any, torch.device], bool]


def check_once(check: Check, model: Any, device: torch.device) -> tuple[bool, bool]:
    """`check(model, device)`, or the answer it gave for the same code, config, libraries and device; and
    whether the answer came from the cache."""
    def answer() -> dict[str, Any]:
        return {"check": check.__qualname__, "model_type": _base(model).config.model_type,
                "passed": bool(check(model, device))}

    verdict, cached = cached_verdict(CACHE_FILE, check_key(check, model, device), answer)
    return verdict["passed"], cached


def check_key(check: Check, model: Any, device: torch.device) -> str:
    import peft  # here, not at import: a recipe blocks bitsandbytes (which peft imports) only once it runs
    import transformers

    base = _base(model)
    model_class = type(base)
    parts = [
        f"{check.__module__}.{check.__qualname__}", _digest(sys.modules[check.__module__].__file__),
        f"{model_class.__module__}.{model_class.__qualname__}", _digest(inspect.getfile(model_class)),
        base.config.to_json_string(use_diff=False), str(base.config._attn_implementation),
        ",".join(sorted({str(p.dtype) for p in model.parameters()})), device.type,
        f"torch {torch.__version__} transformers {transformers.__version__} peft {peft.__version__}",
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"{check.__qualname__} | {base.config.model_type} | {digest}"


def _base(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (whose class and config decide the answer)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _digest(path: str | None) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else "no source file"
