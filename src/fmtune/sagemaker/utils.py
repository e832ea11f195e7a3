"""`sagemaker.utils`."""

from fmtune.sdk.session import name_from_base

__all__ = ["name_from_base"]
