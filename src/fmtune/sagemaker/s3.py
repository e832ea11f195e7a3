"""`sagemaker.s3`: S3Uploader / S3Downloader on the local bucket (s3://fmtune-local/...)."""

from fmtune.sdk.session import S3Downloader, S3Uploader

__all__ = ["S3Downloader", "S3Uploader"]
