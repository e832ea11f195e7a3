"""A local stand-in for the S3 bucket notebooks write to: `Session().default_bucket()` is `fmtune-local`, whose
objects are files under `$FMTUNE_HOME/s3/fmtune-local/`. `s3://fmtune-local/KEY` works wherever fmtune takes a
path (channels, `S3Uploader`, `S3Downloader`); any other bucket is in S3, which fmtune does not reach yet, and
is refused with what to do instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from fmtune.paths import fmtune_home

LOCAL_BUCKET = "fmtune-local"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/fmtune-local"  # what get_execution_role() stands in with


def bucket_root() -> Path:
    return fmtune_home() / "s3" / LOCAL_BUCKET


def local_object(uri: str, what: str) -> Path:
    """The file or folder behind `s3://fmtune-local/KEY`; a ValueError for any other bucket or a key that
    leaves the bucket."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if bucket != LOCAL_BUCKET:
        raise ValueError(
            f"{what}: {uri} is in S3, and fmtune trains on local files. Copy it first "
            f"(`aws s3 sync {uri} ./data`) and pass the local folder (or file:///absolute/path), or write it to "
            f"the local bucket s3://{LOCAL_BUCKET}/ (Session().default_bucket(), S3Uploader.upload)."
        )
    parts = PurePosixPath(key).parts
    if ".." in parts:
        raise ValueError(f"{what}: {uri}: '..' is not allowed in a key of the local bucket.")
    return bucket_root().joinpath(*parts)


def upload(local_path: str | Path, uri: str) -> str:
    """Copy a file or a folder into the local bucket under `uri` (a folder prefix, as S3Uploader.upload)."""
    source = Path(local_path).expanduser()
    if not source.exists():
        raise ValueError(f"S3Uploader.upload: {source} does not exist.")
    target = local_object(uri.rstrip("/"), "S3Uploader.upload")
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        return uri.rstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / source.name)
    return f"{uri.rstrip('/')}/{source.name}"


def download(uri: str, local_path: str | Path) -> list[str]:
    """Copy the object (or every object under the prefix) at `uri` into `local_path`; the paths written."""
    source = local_object(uri.rstrip("/"), "S3Downloader.download")
    target = Path(local_path).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        return [str(shutil.copy2(source, target / source.name))]
    if not source.is_dir():
        raise ValueError(f"S3Downloader.download: nothing at {uri} in the local bucket ({source}).")
    shutil.copytree(source, target, dirs_exist_ok=True)
    return sorted(str(target / p.relative_to(source)) for p in source.rglob("*") if p.is_file())


def list_objects(uri: str) -> list[str]:
    """The s3:// URIs of the objects under the prefix `uri`, as S3Downloader.list gives them."""
    source = local_object(uri.rstrip("/"), "S3Downloader.list")
    if source.is_file():
        return [uri]
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []
    return [f"s3://{LOCAL_BUCKET}/{p.relative_to(bucket_root()).as_posix()}" for p in files]
