"""`sagemaker.jumpstart.utils`: JumpStart's content bucket is the local bucket here."""

from typing import Any

from fmtune.storage import LOCAL_BUCKET


def get_jumpstart_content_bucket(region: str | None = None, **ignored: Any) -> str:
    return LOCAL_BUCKET


__all__ = ["get_jumpstart_content_bucket"]
