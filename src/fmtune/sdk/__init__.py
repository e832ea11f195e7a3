"""The Python SDK: `Estimator` (fit / attach / logs / deploy), `JumpStartModel` (deploy a catalog model as it
is), `Predictor` (bound to an endpoint by name), serializers, `TrainingJobAnalytics`, `evaluate` (score a finished job).

`fmtune.sagemaker` offers the same under SageMaker's import paths (`sagemaker.jumpstart.estimator`,
`sagemaker.jumpstart.model`, `sagemaker.predictor`, `sagemaker.serializers`, ...).
"""

from fmtune.sdk.analytics import TrainingJobAnalytics
from fmtune.sdk.errors import UnexpectedStatusException
from fmtune.sdk.estimator import Estimator, TrainingJob, evaluate
from fmtune.sdk.jumpstart import JumpStartEstimator
from fmtune.sdk.model import JumpStartModel
from fmtune.sdk.predictor import ModelError, Predictor

__all__ = ["Estimator", "JumpStartEstimator", "JumpStartModel", "ModelError", "Predictor", "TrainingJob",
           "TrainingJobAnalytics", "UnexpectedStatusException", "evaluate"]
