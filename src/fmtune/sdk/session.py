"""What notebooks ask of AWS before they train: a Session whose default bucket is the local bucket (fmtune.storage),
an execution role stand-in, unique job names, S3 upload/download/list (the local bucket, or S3 through boto3)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmtune import storage
from fmtune.errors import UserError
from fmtune.storage import LOCAL_BUCKET, LOCAL_ROLE


def _sdk(call: Any, *args: Any) -> Any:
    """Storage errors as the SDK raises bad arguments: ValueError, with the same message."""
    try:
        return call(*args)
    except UserError as err:
        raise ValueError(str(err)) from None


class Session:
    """`sagemaker.Session()`: `default_bucket()` is the local bucket; `upload_data` copies into it."""

    def __init__(self, boto_session: Any = None, sagemaker_client: Any = None, default_bucket: str | None = None,
                 default_bucket_prefix: str | None = None, **ignored: Any) -> None:
        self._bucket = default_bucket or LOCAL_BUCKET
        self.default_bucket_prefix = default_bucket_prefix
        self.boto_region_name = "local"

    def default_bucket(self) -> str:
        return self._bucket

    def get_caller_identity_arn(self) -> str:
        return LOCAL_ROLE

    def upload_data(self, path: str | Path, bucket: str | None = None, key_prefix: str = "data",
                    **ignored: Any) -> str:
        return _sdk(storage.upload, path, f"s3://{bucket or self._bucket}/{key_prefix.strip('/')}")


def get_execution_role(sagemaker_session: Any = None, use_default: bool = False) -> str:
    """There is no IAM here: a fixed local role name, which fmtune ignores wherever a role is passed."""
    return LOCAL_ROLE


def name_from_base(base: str, max_length: int = 63, short: bool = False) -> str:
    """`sagemaker.utils.name_from_base`: BASE-<timestamp>, cut to `max_length` (a valid job or endpoint name)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%y%m%d-%H%M") if short else now.strftime("%Y-%m-%d-%H-%M-%S-%f")[:-3]
    return f"{base[: max_length - len(stamp) - 1]}-{stamp}"


class S3Uploader:
    @staticmethod
    def upload(local_path: str | Path, desired_s3_uri: str, kms_key: str | None = None,
               sagemaker_session: Any = None, **ignored: Any) -> str:
        return _sdk(storage.upload, local_path, desired_s3_uri)


class S3Downloader:
    @staticmethod
    def download(s3_uri: str, local_path: str | Path, kms_key: str | None = None, sagemaker_session: Any = None,
                 **ignored: Any) -> list[str]:
        return _sdk(storage.download, s3_uri, local_path)

    @staticmethod
    def list(s3_uri: str, sagemaker_session: Any = None) -> list[str]:
        return _sdk(storage.list_objects, s3_uri)
