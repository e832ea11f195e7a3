"""`sagemaker.jumpstart.estimator.JumpStartEstimator`, backed by fmtune."""

from fmtune.sdk.jumpstart import JumpStartEstimator

__all__ = ["JumpStartEstimator"]
