"""The model card record: plain data describing one fine-tunable model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Task = Literal["text-generation", "text2text", "text-to-image"]


@dataclass(frozen=True)
class ModelCard:
    """One catalog entry, keyed by its JumpStart model id.

    `default_hyperparameters` holds exactly what JumpStart's `retrieve_default` returns for the
    model (strings, JumpStart names); keys the card leaves out take the schema's defaults.
    """

    model_id: str
    display_name: str  # as the seed lists it (English JumpStart name)
    hf_repo: str  # Hugging Face repo holding the base weights
    task: Task
    architecture: str  # transformers model_type ("llama", "falcon", "t5", ...) or "stable-diffusion"
    context_length: int  # max_position_embeddings / n_positions of the real model
    license: str
    eula_required: bool  # JumpStart refuses to train without accept_eula=true
    default_hyperparameters: dict[str, str]
    lora_target_modules: tuple[str, ...]
    prompt_format: str  # key into fmtune.catalog.formats.PROMPT_FORMATS ("plain" for base LMs)
    parameters_billion: float  # derived from the real config (see shared/reference/catalog.md)
    family: str  # "llama-2", "code-llama", "falcon", ... for grouping in `fmtune models`
    gguf: str | None = None  # bundled GGUF (embedded default model only): "package:filename"
    notes: str = ""  # honest caveats (e.g. Neuron variants)
    aliases: tuple[str, ...] = field(default_factory=tuple)  # other JumpStart ids for the same model
