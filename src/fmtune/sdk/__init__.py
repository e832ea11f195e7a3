"""The Python SDK: `Estimator` (fit / attach / logs / deploy), `Predictor`, `TrainingJobAnalytics`.

`fmtune.sagemaker` offers the same under SageMaker's import paths (`JumpStartEstimator`, `hyperparameters`).
"""

from fmtune.sdk.analytics import TrainingJobAnalytics
from fmtune.sdk.errors import UnexpectedStatusException
from fmtune.sdk.estimator import Estimator, TrainingJob
from fmtune.sdk.jumpstart import JumpStartEstimator
from fmtune.sdk.predictor import Predictor

__all__ = ["Estimator", "JumpStartEstimator", "Predictor", "TrainingJob", "TrainingJobAnalytics",
           "UnexpectedStatusException"]
