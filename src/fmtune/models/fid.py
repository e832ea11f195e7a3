"""FID (Fréchet Inception Distance) of generated images against the instance images, as JumpStart's
`compute_fid=True` logs it (`fid_score=…`).

Features come from the Inception-v3 network FID is defined with, as the TorchScript file NVIDIA publishes for
StyleGAN's metrics and clean-fid uses (`inception-2015-12-05.pt`: uint8 NCHW images of any size in, 2048
pool features out with `return_features=True`). fmtune downloads nothing: the file must be on this machine,
at $FMTUNE_INCEPTION_WEIGHTS or $FMTUNE_HOME/models/inception/inception-2015-12-05.pt. A TorchScript archive
holds code that runs when it is called: use a file from a source you trust.

FID = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½), the trace of the square root taken from the eigenvalues of
Σ₁^½ Σ₂ Σ₁^½ (symmetric, so `eigh` is exact and stable). With a handful of images (DreamBooth has 3-20) the
covariances are far from full rank and the score is large and noisy: it compares runs on the same data, it is
not comparable to FIDs reported on 50 000 images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmtune.errors import UserError
from fmtune.paths import models_cache_dir

if TYPE_CHECKING:  # torch is imported where features are computed: the job's checks only look for the file
    import torch

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_ENV = "FMTUNE_INCEPTION_WEIGHTS"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"


def inception_location() -> Path:
    """Where the Inception file is looked for (it may not be there)."""
    given = os.environ.get(INCEPTION_ENV, "").strip()
    return Path(given).expanduser() if given else models_cache_dir() / "inception" / INCEPTION_FILE


def missing_inception_message() -> str | None:
    """Why FID cannot be computed on this machine, with the fix; None when it can."""
    path = inception_location()
    if path.is_file():
        return None
    return (f"compute_fid=True needs the Inception-v3 network FID is defined with, and {path} does not exist. "
            f"Download {INCEPTION_URL} where you have network access and put it there (or point "
            f"${INCEPTION_ENV} at it), or set compute_fid=False.")


def load_inception(device: torch.device) -> Any:
    import torch

    path = inception_location()
    try:
        model = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError) as err:
        raise UserError(f"{path}: not a TorchScript Inception network that can be loaded ({err}); download "
                        f"{INCEPTION_URL} again, or set compute_fid=False.") from None
    return model.eval()


def probe_inception(device: torch.device) -> None:
    """Before any work is spent: the file loads and turns an image into features; then it is freed again (it is
    loaded once more for the score, after training, so that it holds no memory meanwhile)."""
    import torch

    model = load_inception(device)
    try:
        with torch.no_grad():
            features = model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8, device=device), return_features=True)
    except Exception as err:  # TorchScript raises its own error types for a wrong signature or a bad graph
        raise UserError(f"{inception_location()}: loads, but does not turn images into features as the FID network "
                        f"does (model(images, return_features=True)): {err}. Use {INCEPTION_URL}.") from None
    if features.ndim != 2 or features.shape[0] != 1:
        raise UserError(f"{inception_location()}: gives features of shape {tuple(features.shape)} for one image, "
                        f"not (1, D); use {INCEPTION_URL}.")


def inception_features(model: Any, images: list[Any], device: torch.device, batch: int = 16) -> torch.Tensor:
    """(N, D) float64 features of PIL images, as uint8 NCHW batches (the network resizes to 299 itself)."""
    import numpy as np
    import torch

    found = []
    for start in range(0, len(images), batch):
        arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images[start:start + batch]])
        pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device)
        with torch.no_grad():
            found.append(model(pixels, return_features=True).double().cpu())
    return torch.cat(found)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between two (N, D) feature sets (each N >= 2)."""
    import torch

    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    import torch

    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T
