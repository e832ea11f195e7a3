"""`sagemaker.analytics.TrainingJobAnalytics`."""

from fmtune.sdk.analytics import TrainingJobAnalytics

__all__ = ["TrainingJobAnalytics"]
