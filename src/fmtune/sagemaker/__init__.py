"""SageMaker's import paths, backed by fmtune: change `sagemaker` to `fmtune.sagemaker` in the import lines.

    from fmtune.sagemaker import hyperparameters
    from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
"""

from fmtune.sagemaker import hyperparameters
from fmtune.sdk import Estimator, JumpStartEstimator, Predictor, TrainingJobAnalytics, UnexpectedStatusException

__all__ = ["Estimator", "JumpStartEstimator", "Predictor", "TrainingJobAnalytics", "UnexpectedStatusException",
           "hyperparameters"]
