"""fmtune: fine-tune foundation models on your own data, on your own machines."""

from typing import Any

__version__ = "0.1.0"

_SDK = ("Estimator", "Predictor", "TrainingJobAnalytics", "evaluate")


def __getattr__(name: str) -> Any:
    """`from fmtune import Estimator` without making `import fmtune` load the SDK."""
    if name in _SDK:
        import fmtune.sdk

        return getattr(fmtune.sdk, name)
    raise AttributeError(f"module 'fmtune' has no attribute {name!r}")
