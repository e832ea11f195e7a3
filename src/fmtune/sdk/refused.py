"""SageMaker calls with no local meaning here, refused with what to use instead (before anything runs): the
generic container path (`image_uris` / `model_uris` / `script_uris.retrieve`, an Estimator built from an image
and an entry point) and the hyperparameter tuner."""

from __future__ import annotations

from typing import Any

CONTAINER_PATH = (
    "fmtune does not run SageMaker training containers or their entry-point scripts; it trains catalog models "
    "itself. Use JumpStartEstimator(model_id={model_id!r}, hyperparameters=...) instead of retrieving the "
    "container's image, model and script URIs (`fmtune models` lists the model ids)."
)


def refuse_container_path(what: str, model_id: str | None = None) -> ValueError:
    return ValueError(f"{what}: " + CONTAINER_PATH.format(model_id=model_id or "<model id>"))


def retrieve(what: str) -> Any:
    """`image_uris.retrieve`, `model_uris.retrieve`, `script_uris.retrieve`: refused, naming the model."""

    def refused(*args: Any, model_id: str | None = None, **kwargs: Any) -> Any:
        raise refuse_container_path(f"{what}.retrieve", model_id)

    return refused


class GenericEstimator:
    """`sagemaker.estimator.Estimator(image_uri=..., entry_point=..., source_dir=...)`: refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise refuse_container_path("sagemaker.estimator.Estimator(image_uri=..., entry_point=...)",
                                    kwargs.get("model_id"))


class HyperparameterTuner:
    """`sagemaker.tuner.HyperparameterTuner`: not offered yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ValueError(
            "HyperparameterTuner: fmtune has no hyperparameter tuner yet. Start one job per setting to compare "
            "(`estimator.fit(...)` with set_hyperparameters, or `fmtune train -H NAME=VALUE --detach`) and read "
            "their eval_epoch_loss with `fmtune jobs list` / TrainingJobAnalytics(job_name).dataframe()."
        )
