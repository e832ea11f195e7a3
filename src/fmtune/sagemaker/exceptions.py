"""`sagemaker.exceptions.UnexpectedStatusException`: what fit()/logs()/attach() raise when a job Failed."""

from fmtune.sdk.errors import UnexpectedStatusException

__all__ = ["UnexpectedStatusException"]
