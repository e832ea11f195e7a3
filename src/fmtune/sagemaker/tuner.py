"""`sagemaker.tuner`: refused with what to do instead (fmtune.sdk.refused)."""

from fmtune.sdk.refused import HyperparameterTuner

__all__ = ["HyperparameterTuner"]
