"""`from fmtune import boto3`: `boto3.client("sagemaker-runtime")` for the endpoints running on this machine
(fmtune.sdk.runtime). Other services are the real boto3's."""

from fmtune.sdk.runtime import ClientError, client

__all__ = ["ClientError", "client"]
