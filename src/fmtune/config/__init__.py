"""Hyperparameter schema and the JobConfig every front end builds."""

from fmtune.config.hyperparameters import (
    HYPERPARAMETER_NAMES,
    SCHEMA_DEFAULTS,
    Hyperparameters,
    describe,
    parse_hyperparameters,
)
from fmtune.config.job import JobConfig, build_job

__all__ = [
    "HYPERPARAMETER_NAMES",
    "SCHEMA_DEFAULTS",
    "Hyperparameters",
    "JobConfig",
    "build_job",
    "describe",
    "parse_hyperparameters",
]
