"""Hyperparameter schemas (fmtune.config.schema) and the text tasks' schema (fmtune.config.hyperparameters)."""

from fmtune.config.hyperparameters import (
    HYPERPARAMETER_NAMES,
    SCHEMA_DEFAULTS,
    Hyperparameters,
    describe,
    parse_hyperparameters,
)

__all__ = ["HYPERPARAMETER_NAMES", "SCHEMA_DEFAULTS", "Hyperparameters", "describe", "parse_hyperparameters"]
