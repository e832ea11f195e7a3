"""Speed verdicts measured once per machine and kept in FMTUNE_HOME/cache (precision=auto, the attention kernel).

A verdict's key names everything its timing depends on (CPU model, torch version, threads, shapes); a later job
with the same key reads it instead of timing again. Written atomically: jobs may start side by side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmtune.atomic import write_file_atomically
from fmtune.paths import fmtune_home


def cached_verdict(file_name: str, key: str, measure: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The verdict stored under `key` in FMTUNE_HOME/cache/`file_name`, measured (and stored) if there is none;
    and whether it came from the cache."""
    path = cache_path(file_name)
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if key in verdicts:
        return verdicts[key], True
    verdicts[key] = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, (json.dumps(verdicts, indent=2) + "\n").encode())
    return verdicts[key], False


def cache_path(file_name: str) -> Path:
    return fmtune_home() / "cache" / file_name
