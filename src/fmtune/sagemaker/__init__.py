"""SageMaker's import paths, backed by fmtune: change `sagemaker` to `fmtune.sagemaker` in the import lines.

    from fmtune.sagemaker import hyperparameters, serializers, deserializers, content_types
    from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
    from fmtune.sagemaker.jumpstart.model import JumpStartModel
    from fmtune.sagemaker.predictor import Predictor
"""

from fmtune.sagemaker import content_types, deserializers, hyperparameters, serializers
from fmtune.sagemaker.session import Session, get_execution_role
from fmtune.sdk import (
    Estimator,
    JumpStartEstimator,
    JumpStartModel,
    Predictor,
    TrainingJobAnalytics,
    UnexpectedStatusException,
)

__all__ = ["Estimator", "JumpStartEstimator", "JumpStartModel", "Predictor", "Session", "TrainingJobAnalytics",
           "UnexpectedStatusException", "content_types", "deserializers", "get_execution_role", "hyperparameters",
           "serializers"]
