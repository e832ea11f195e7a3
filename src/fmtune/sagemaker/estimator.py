"""`sagemaker.estimator.Estimator`: the generic container estimator, refused with what to use instead."""

from fmtune.sdk.refused import GenericEstimator as Estimator

__all__ = ["Estimator"]
