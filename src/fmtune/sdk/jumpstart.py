"""`JumpStartEstimator` and JumpStart's `hyperparameters.retrieve_default/validate`, for JumpStart model ids.

Notebook code written for `sagemaker.jumpstart.estimator.JumpStartEstimator` runs with the import changed
to `fmtune.sagemaker.jumpstart.estimator`. Model ids come from fmtune's catalog (`fmtune models`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fmtune.catalog import ModelCard, find_card, unknown_model_message
from fmtune.errors import UserError
from fmtune.sdk.estimator import Estimator
from fmtune.sdk.notices import notice_ignored
from fmtune.tasks import get_task

log = logging.getLogger("fmtune.sdk")


def jumpstart_card(model_id: str | None, model_version: str | None = None) -> ModelCard:
    """The catalog card for a JumpStart id; ValueError (as JumpStart) for an unknown one."""
    if not model_id:
        raise ValueError("model_id is required, e.g. model_id='meta-textgeneration-llama-2-7b' (`fmtune models`).")
    card = find_card(model_id)
    if card is None:
        raise ValueError(unknown_model_message(model_id))
    if model_version not in (None, "*"):
        log.warning("fmtune: model_version=%r is ignored: fmtune has one version of %s.", model_version, model_id)
    return card


class JumpStartEstimator(Estimator):
    def __init__(self, model_id: str | None = None, model_version: str | None = None,
                 hyperparameters: Mapping[str, Any] | None = None, environment: Mapping[str, Any] | None = None,
                 output_path: str | None = None, instance_count: int | None = None, **kwargs: Any):
        jumpstart_card(model_id, model_version)
        assert model_id is not None
        super().__init__(model_id, hyperparameters=hyperparameters, environment=environment, output_path=output_path,
                         instance_count=instance_count, **kwargs)
        self.model_version = model_version or "*"

    @classmethod
    def attach(cls, training_job_name: str, model_id: str | None = None, model_version: str | None = None,
               **cloud_only: Any) -> JumpStartEstimator:
        notice_ignored("attach", cloud_only)
        if model_version not in (None, "*"):
            log.warning("fmtune: model_version=%r is ignored.", model_version)
        estimator = super().attach(training_job_name, model_id=model_id)
        assert isinstance(estimator, JumpStartEstimator)
        return estimator


def retrieve_default(region: str | None = None, model_id: str | None = None, model_version: str | None = None,
                     include_container_hyperparameters: bool = False, **cloud_only: Any) -> dict[str, str]:
    """The model's default hyperparameters as JumpStart strings (= `fmtune hyperparameters MODEL_ID --json`)."""
    notice_ignored("retrieve_default", cloud_only)
    return dict(jumpstart_card(model_id, model_version).default_hyperparameters)


def validate(region: str | None = None, model_id: str | None = None, model_version: str | None = None,
             hyperparameters: Mapping[str, Any] | None = None, validation_mode: Any = None,
             **cloud_only: Any) -> None:
    """Raise ValueError naming every invalid hyperparameter (the model's defaults fill the rest)."""
    notice_ignored("validate", cloud_only)
    if hyperparameters is None:
        raise ValueError("validate() needs hyperparameters={...}")
    card = jumpstart_card(model_id, model_version)
    try:
        schema, defaults = get_task(card.task).schema, card.default_hyperparameters
        schema.resolve(schema.changed_values(hyperparameters, defaults), defaults)
    except UserError as err:
        raise ValueError(str(err)) from None
