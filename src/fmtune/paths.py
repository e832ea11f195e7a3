"""Where fmtune keeps its state: FMTUNE_HOME (default ~/.fmtune) holds caches and jobs."""

from __future__ import annotations

import os
from pathlib import Path


def fmtune_home() -> Path:
    return Path(os.environ.get("FMTUNE_HOME", Path.home() / ".fmtune")).expanduser()


def models_cache_dir() -> Path:
    """Converted weights (e.g. the embedded GGUF as safetensors) live here."""
    return fmtune_home() / "models"


def jobs_dir() -> Path:
    return fmtune_home() / "jobs"


def token_cache_dir() -> Path:
    """Tokenized data sets, keyed by a fingerprint of (data, tokenizer, settings)."""
    return fmtune_home() / "cache" / "tokens"


def class_images_cache_dir() -> Path:
    """Class images generated for prior preservation, keyed by (model, class prompt, resolution, seed)."""
    return fmtune_home() / "cache" / "class-images"
