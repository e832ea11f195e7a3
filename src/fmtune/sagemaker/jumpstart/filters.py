"""`sagemaker.jumpstart.filters`: And / Or of "KEY OP VALUE" filters."""

from fmtune.sdk.model_filter import And, Or

__all__ = ["And", "Or"]
