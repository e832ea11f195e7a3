"""What a reference to a trained thing points at: a job name, a job folder, a model or adapter folder, or a
catalog model id. The CLI, the SDK and the endpoint all resolve references here."""

from __future__ import annotations

from pathlib import Path

from fmtune.data.prompting import PromptFormat
from fmtune.errors import UserError
from fmtune.jobs.layout import JobLayout, job_layout
from fmtune.models.generate import LoadedModel, load_model_dir
from fmtune.models.source import catalog_card_of, is_pipeline, materialize, require_safe_weights, resolve_source


def model_dir(reference: str) -> Path:
    """A finished job's model/, a model folder, or a catalog model id's weights (prepared once)."""
    layout = job_layout(reference)
    if layout is not None:
        if not layout.has_model():
            raise UserError(f"job folder {layout.root} has no model/: the job has not finished (or failed). "
                            "`fmtune jobs describe NAME` says where it stands.")
        require_safe_weights(layout.model, "model")
        return layout.model
    folder = Path(reference).expanduser()
    if (folder / "config.json").exists() or is_pipeline(folder):
        require_safe_weights(folder, "model")
        return folder
    try:
        source = resolve_source(reference)
    except UserError:
        raise UserError(
            f"'{reference}' is neither a finished job (name or folder), a model folder, nor a known model id."
        ) from None
    folder = materialize(source)  # a known model that cannot be had (offline, gated) says why
    require_safe_weights(folder, "model")
    return folder


def adapter_dir(reference: str, kind: str = "peft") -> Path:
    """An adapter folder, or a job's adapter/ (by folder or name): `kind` "peft" (adapter_config.json, for language
    models) or "diffusion" (a Stable Diffusion LoRA in diffusers' format)."""
    from fmtune.models.diffusion import LORA_FILE

    marker, what = ("adapter_config.json", "a PEFT adapter") if kind == "peft" else (
        LORA_FILE, "a Stable Diffusion LoRA")
    layout = job_layout(reference)
    for folder in (layout.adapter,) if layout is not None else (Path(reference).expanduser(),):
        if (folder / marker).exists():
            require_safe_weights(folder, "adapter")
            return folder
    raise UserError(
        f"adapter '{reference}' is neither a folder with {marker} nor a finished job (name or folder) with an "
        f"adapter/ folder holding it ({what} is needed here)."
    )


def adapter_format(adapter: Path) -> PromptFormat | None:
    """The adapter's own prompt format (saved beside it by training), else that of its job's model/."""
    return PromptFormat.load(adapter) or PromptFormat.load(JobLayout(adapter.parent).model)


def load_for_generation(reference: str, prompt_format: PromptFormat | None = None) -> LoadedModel:
    folder = model_dir(reference)
    return load_model_dir(folder, prompt_format, catalog_card_of(reference, folder))
