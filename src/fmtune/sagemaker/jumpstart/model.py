"""`sagemaker.jumpstart.model.JumpStartModel`, backed by fmtune: deploy a catalog model without fine-tuning."""

from fmtune.sdk.model import JumpStartModel

__all__ = ["JumpStartModel"]
