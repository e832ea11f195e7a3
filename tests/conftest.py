"""Shared fixtures: an isolated FMTUNE_HOME per test session, with the embedded model converted once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
# Converted weights survive between local runs (CI starts clean and converts once, ~30 s).
MODEL_CACHE = REPO / ".pytest_cache" / "fmtune-models"

# JumpStart's retrieve_default for Llama 2 7B (shared/reference/jumpstart.md), as strings: stated here, not
# read from the catalog, so that tests of the catalog and the CLI check it against the reference.
LLAMA2_7B_DEFAULTS = {
    "epoch": "5",
    "learning_rate": "0.0001",
    "instruction_tuned": "False",
    "chat_dataset": "False",
    "add_input_output_demarcation_key": "True",
    "per_device_train_batch_size": "4",
    "per_device_eval_batch_size": "1",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "max_input_length": "-1",
    "validation_split_ratio": "0.2",
    "train_data_split_seed": "0",
    "seed": "10",
    "preprocessing_num_workers": "None",
    "lora_r": "8",
    "lora_alpha": "32",
    "lora_dropout": "0.05",
    "int8_quantization": "False",
    "enable_fsdp": "True",
}


@pytest.fixture(scope="session", autouse=True)
def fmtune_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fmtune-home")
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    os.environ["FMTUNE_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    return home


@pytest.fixture(scope="session")
def embedded_model_dir(fmtune_home: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct as safetensors (converted from the bundled GGUF once)."""
    from fmtune.catalog import DEFAULT_MODEL_ID, get_card
    from fmtune.models.gguf import convert_gguf

    return convert_gguf(get_card(DEFAULT_MODEL_ID))


@pytest.fixture(scope="session")
def smollm_tokenizer(embedded_model_dir: Path):
    from fmtune.models.loading import load_tokenizer

    return load_tokenizer(embedded_model_dir)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty FMTUNE_HOME for one test (nothing in it is created until fmtune writes it)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FMTUNE_HOME", str(home))
    return home
