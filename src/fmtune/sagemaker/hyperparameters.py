"""`sagemaker.hyperparameters`: `retrieve_default(model_id=..., model_version="*")` and `validate(...)`."""

from fmtune.sdk.jumpstart import retrieve_default, validate

__all__ = ["retrieve_default", "validate"]
