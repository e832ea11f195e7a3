"""`sagemaker.session`: a local Session (default bucket = the local bucket) and the execution role stand-in."""

from fmtune.sdk.session import Session, get_execution_role

__all__ = ["Session", "get_execution_role"]
