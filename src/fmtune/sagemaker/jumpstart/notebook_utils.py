"""`sagemaker.jumpstart.notebook_utils.list_jumpstart_models`, over fmtune's catalog."""

from fmtune.sdk.model_filter import list_jumpstart_models

__all__ = ["list_jumpstart_models"]
