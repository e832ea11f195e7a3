"""`sagemaker.predictor`: a Predictor bound to a running fmtune endpoint by name."""

from fmtune.sdk.predictor import ModelError, Predictor, retrieve_default

__all__ = ["ModelError", "Predictor", "retrieve_default"]
