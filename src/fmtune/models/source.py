"""Where a model's weights come from: catalog id, local folder, Hugging Face cache, hub, bundled GGUF.

`resolve_source` is cheap (no torch) and decides what the user meant; `materialize` returns a local
folder with safetensors weights and a tokenizer, converting or downloading once when needed. With
`tiny_random=True` a catalog id resolves to a tiny randomly initialised model of its architecture
(`fmtune.models.tiny`), built once into FMTUNE_HOME/models/tiny-random/.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fmtune.catalog import ModelCard, find_card, unknown_model_message
from fmtune.errors import UserError

SourceKind = Literal["embedded", "catalog", "local", "hub", "tiny-random"]
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # full match
# Weights are read from safetensors only: pickled .bin checkpoints can execute code when loaded.
HUB_PATTERNS = ["*.safetensors", "*.json", "tokenizer*", "*.model", "*.tiktoken", "*.txt", "*.jinja"]
# A diffusers pipeline (model_index.json + one folder per component): its components' configs and safetensors
# weights only, not the single-file checkpoints (.ckpt, v2-1_512-ema-pruned.safetensors) or fp16 variants.
PIPELINE_FILE = "model_index.json"
PIPELINE_PATTERNS = [PIPELINE_FILE, "*/config.json", "*/*_config.json", "tokenizer/*", "*/model.safetensors",
                     "*/diffusion_pytorch_model.safetensors"]


@dataclass(frozen=True)
class ModelSource:
    reference: str  # what the user typed
    kind: SourceKind
    card: ModelCard | None  # catalog entry, when there is one
    location: str  # local path or hub repo id


def resolve_source(reference: str, tiny_random: bool = False) -> ModelSource:
    card = find_card(reference)
    if tiny_random:
        return _tiny_random_source(reference, card)
    if card is not None:
        kind: SourceKind = "embedded" if card.gguf else "catalog"
        return ModelSource(reference, kind, card, card.hf_repo)
    path = Path(reference).expanduser()
    if path.exists() or reference.startswith((".", "/", "~")):
        if not path.is_dir():
            raise UserError(f"Model folder {path} does not exist (or is not a folder with config.json).")
        if not (path / "config.json").exists() and not (path / PIPELINE_FILE).exists():
            raise UserError(
                f"{path} has no config.json (nor the model_index.json of a diffusers pipeline), so it is not a "
                "Hugging Face model folder. Point to the folder that holds config.json and *.safetensors (e.g. "
                "the `model/` folder of a finished job)."
            )
        return ModelSource(reference, "local", None, str(path.resolve()))
    if HUB_ID.fullmatch(reference):
        return ModelSource(reference, "hub", None, reference)
    raise UserError(unknown_model_message(reference))


def _tiny_random_source(reference: str, card: ModelCard | None) -> ModelSource:
    """--tiny-random: only catalog ids name an architecture to scale down."""
    if card is None:
        looks_local = Path(reference).expanduser().exists() or reference.startswith((".", "/", "~"))
        what = "a local model folder or Hugging Face repo id" if looks_local or HUB_ID.fullmatch(reference) else (
            "not a catalog model id"
        )
        raise UserError(
            f"--tiny-random needs a catalog model id (`fmtune models` lists them); '{reference}' is {what}. "
            "Tiny random models are built from the architectures of the catalog entries; drop --tiny-random "
            "to train a model folder or hub model with its real weights."
        )
    from fmtune.models.tiny import tiny_group, tiny_model_dir

    tiny_group(card)  # a card without a tiny variant: says so before anything is built
    return ModelSource(reference, "tiny-random", card, str(tiny_model_dir(card)))


def materialize(source: ModelSource) -> Path:
    """A local folder holding config.json, safetensors weights and the tokenizer for this source."""
    if source.kind == "local":
        return Path(source.location)
    if source.kind == "tiny-random":
        assert source.card is not None
        if source.card.architecture == "stable-diffusion":  # a diffusers pipeline, not a transformers LM
            from fmtune.models.tiny_pipeline import build_tiny_pipeline

            return build_tiny_pipeline(source.card, Path(source.location))
        from fmtune.models.tiny import build_tiny_model

        return build_tiny_model(source.card, Path(source.location))
    if source.kind == "embedded":
        assert source.card is not None and source.card.gguf
        from fmtune.models.gguf import convert_gguf

        return convert_gguf(source.card)
    pipeline = source.card.architecture == "stable-diffusion" if source.card else _is_pipeline_repo(source.location)
    return _from_hub_or_cache(source.location, PIPELINE_PATTERNS if pipeline else HUB_PATTERNS)


def is_pipeline(folder: Path) -> bool:
    """A diffusers pipeline folder (Stable Diffusion) rather than a transformers model folder."""
    return (folder / PIPELINE_FILE).exists()


def _is_pipeline_repo(repo: str) -> bool:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        hf_hub_download(repo, PIPELINE_FILE, local_files_only=offline_reason() is not None)
    except (EntryNotFoundError, LocalEntryNotFoundError):  # not a pipeline (or not in the cache)
        return False
    return True


def _from_hub_or_cache(repo: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = offline_reason()
    try:
        return Path(snapshot_download(repo, allow_patterns=patterns, local_files_only=offline is not None))
    except LocalEntryNotFoundError:
        raise UserError(
            f"Weights for '{repo}' are not in the local Hugging Face cache, and {offline or 'the download failed'}. "
            f"Download them where you have network access (`hf download {repo}`), copy the cache "
            "(~/.cache/huggingface) here, or pass a local model folder instead."
        ) from None
    except Exception as err:  # gated repos, typos, network failures: say which
        raise UserError(f"Could not fetch '{repo}' from the Hugging Face Hub: {err}") from None


def offline_reason(timeout_s: float = 3.0) -> str | None:
    """Why the hub cannot be used right now (None: it can). Checked once with a quick connection, so that an
    offline machine gets an answer at once instead of after the hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE=1 is set (offline mode)"
    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
    except OSError as err:
        return f"the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached from this machine ({err})"
    return None


@dataclass(frozen=True)
class RemoteCode:
    """`trust_remote_code` runs Python from the model repo; allowed only when asked, pinned to a revision."""

    trust: bool = False
    revision: str | None = None

    def kwargs(self) -> dict[str, object]:
        return {"trust_remote_code": True, "revision": self.revision} if self.trust else {}


def brought_model_config(source: ModelSource, remote_code: RemoteCode) -> dict[str, Any]:
    """For a model outside the catalog, its config.json (no weights), once it is known to be safe to load:
    custom code only when trusted and pinned, local weights only as safetensors. The task registry
    decides what trains it (fmtune.tasks.registry.task_for_config)."""
    config = json.loads(_config_file(source).read_text())
    custom = config.get("auto_map", {})
    if custom and not remote_code.trust:
        raise UserError(
            f"{source.location}: config.json maps to custom model code ({sorted(custom)}), which fmtune does not run "
            "by default. If you trust it, pass --trust-remote-code --revision <commit sha> to pin the code."
        )
    if source.kind == "local":
        require_safe_weights(Path(source.location), "model")
    return config


def require_safe_weights(folder: Path, what: str) -> None:
    """A model folder's weights are safetensors; for a diffusers pipeline, those of each component with weights."""
    if not is_pipeline(folder):
        require_safetensors(folder, what)
        return
    for name in ("unet", "vae", "text_encoder"):
        if (folder / name).is_dir():
            require_safetensors(folder / name, f"{what}'s {name}")


def catalog_card_of(reference: str, folder: Path) -> ModelCard | None:
    """The catalog card behind a model to serve or prompt: a model id, or a folder fmtune built for one
    (its source record names it); None for everything else."""
    card = find_card(reference)
    if card is not None:
        return card
    from fmtune.models.tiny import SOURCE_FILE

    try:
        model_id = json.loads((folder / SOURCE_FILE).read_text()).get("model_id")
    except (OSError, ValueError, AttributeError):
        return None
    return find_card(model_id) if isinstance(model_id, str) else None


def require_safetensors(path: Path, what: str) -> None:
    """fmtune loads weights from safetensors only: pickled files (.bin, .pt) can run code when loaded."""
    if any(path.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl"))
    found = f"only pickled weights ({', '.join(pickled[:3])})" if pickled else "no weights"
    raise UserError(
        f"{path} holds {found}; the {what} is refused: fmtune loads *.safetensors only, because pickled weights "
        "can run code when loaded. Convert it once with `save_pretrained(..., safe_serialization=True)`."
    )


def _config_file(source: ModelSource) -> Path:
    """config.json of a model, or model_index.json of a diffusers pipeline."""
    if source.kind == "local":
        folder = Path(source.location)
        return folder / PIPELINE_FILE if is_pipeline(folder) else folder / "config.json"
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    offline = offline_reason()
    try:
        return Path(hf_hub_download(source.location, "config.json", local_files_only=offline is not None))
    except (EntryNotFoundError, LocalEntryNotFoundError):
        if _is_pipeline_repo(source.location):  # a diffusers pipeline has model_index.json instead
            return Path(hf_hub_download(source.location, PIPELINE_FILE, local_files_only=offline is not None))
        raise UserError(
            f"'{source.location}' is not in the local Hugging Face cache, and {offline or 'the download failed'}. "
            f"Download it where you have network access (`hf download {source.location}`) and copy "
            "~/.cache/huggingface here, or pass a local model folder."
        ) from None
    except Exception as err:  # typos, gated repos, network errors
        raise UserError(f"Could not read config.json of '{source.location}' from the Hugging Face Hub: {err}") from None
