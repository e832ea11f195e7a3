"""The model card record: plain data describing one fine-tunable model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fmtune.catalog.architectures import Architecture, get_architecture

Task = Literal["text-generation", "text2text", "text-to-image"]


@dataclass(frozen=True)
class ModelCard:
    """One catalog entry, keyed by its JumpStart model id.

    `default_hyperparameters` holds exactly what JumpStart's `retrieve_default` returns for the
    model (strings, JumpStart names); keys the card leaves out take the schema's defaults.
    What the model shares with others of its architecture (model_type, tokenizer family, real shape,
    tiny variant) lives in the record it names, fmtune.catalog.architectures.
    """

    model_id: str
    display_name: str  # as the seed lists it (English JumpStart name)
    hf_repo: str  # Hugging Face repo holding the base weights
    task: Task
    architecture_record: str  # key into fmtune.catalog.architectures.ARCHITECTURES ("llama-2-7b", ...)
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

    @property
    def architecture_spec(self) -> Architecture:
        """The architecture record this card names."""
        return get_architecture(self.architecture_record)

    @property
    def architecture(self) -> str:
        """transformers model_type ("llama", "falcon", "t5", ...) or "stable-diffusion", from the record."""
        return self.architecture_spec.model_type

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data, as `fmtune models --json` prints it: `architecture` (the model_type) in
        place of the record's name."""
        return {
            ("architecture" if key == "architecture_record" else key):
                (self.architecture if key == "architecture_record" else value)
            for key, value in asdict(self).items()
        }
