"""`s3://` locations: data channels, `S3Uploader` / `S3Downloader`.

Two kinds of bucket:
- `fmtune-local` (`Session().default_bucket()`): a local stand-in, the folder `$FMTUNE_HOME/s3/fmtune-local/`;
  nothing to install, nothing leaves the machine.
- any other bucket: S3 itself, or any S3-compatible store (MinIO, Ceph; `AWS_ENDPOINT_URL`), through boto3
  (`pip install 'fmtune[s3]'`) and the usual AWS credentials. A channel is downloaded once into a
  content-addressed cache (`$FMTUNE_HOME/cache/s3/<digest of keys, sizes and ETags>/`), so a job reads local
  files, a second job on the same data downloads nothing, and changed data is a new folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from fmtune.atomic import fill_once
from fmtune.errors import UserError
from fmtune.paths import fmtune_home

LOCAL_BUCKET = "fmtune-local"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/fmtune-local"  # what get_execution_role() stands in with
MANIFEST = ".fmtune-s3.json"  # written last into a cache folder: the folder is complete


def is_s3(location: object) -> bool:
    return str(location).startswith("s3://")


def split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise UserError(f"{uri}: an S3 URI is s3://BUCKET/KEY.")
    if ".." in PurePosixPath(key).parts:
        raise UserError(f"{uri}: '..' is not allowed in an S3 key here.")
    return bucket, key


def local_bucket_root() -> Path:
    return fmtune_home() / "s3" / LOCAL_BUCKET


def _local(key: str) -> Path:
    return local_bucket_root().joinpath(*PurePosixPath(key).parts)


def fetch(uri: str) -> Path:
    """A local path holding what `uri` names: a file for an object, a folder for a prefix."""
    bucket, key = split(uri)
    if bucket == LOCAL_BUCKET:
        return _local(key.rstrip("/"))
    client = _client(uri)
    objects = _objects(client, bucket, key, uri)
    single = len(objects) == 1 and objects[0]["Key"] == key
    digest = hashlib.sha256(json.dumps([bucket, key, [(o["Key"], o["Size"], o.get("ETag")) for o in objects]])
                            .encode()).hexdigest()[:32]
    target = fmtune_home() / "cache" / "s3" / digest

    base = key if not key or key.endswith("/") else key + "/"

    def build(staging: Path) -> None:
        for item in objects:
            relative = PurePosixPath(item["Key"]).name if single else item["Key"][len(base):]
            path = staging.joinpath(*PurePosixPath(relative).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            _call(uri, client.download_file, bucket, item["Key"], str(path))
        (staging / MANIFEST).write_text(json.dumps({"uri": uri, "objects": len(objects)}))

    folder = fill_once(target, build, lambda t: (t / MANIFEST).exists())
    return folder / PurePosixPath(key).name if single else folder


def upload(local_path: str | Path, uri: str) -> str:
    """Copy a file or a folder under the prefix `uri` (as S3Uploader.upload); the URI of what was written."""
    source = Path(local_path).expanduser()
    if not source.exists():
        raise UserError(f"S3Uploader.upload: {source} does not exist.")
    prefix = uri.rstrip("/")
    bucket, key = split(prefix)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    names = [p.relative_to(source).as_posix() if source.is_dir() else source.name for p in files]
    if bucket == LOCAL_BUCKET:
        for path, name in zip(files, names, strict=True):
            target = _local(f"{key}/{name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    else:
        client = _client(uri)
        for path, name in zip(files, names, strict=True):
            _call(uri, client.upload_file, str(path), bucket, f"{key}/{name}".lstrip("/"))
    return prefix if source.is_dir() else f"{prefix}/{source.name}"


def download(uri: str, local_path: str | Path) -> list[str]:
    """Copy the object, or every object under the prefix, into the folder `local_path`; the paths written."""
    source = fetch(uri.rstrip("/"))
    target = Path(local_path).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        return [str(shutil.copy2(source, target / source.name))]
    if not source.is_dir():
        raise UserError(f"S3Downloader.download: nothing at {uri}.")
    files = [p for p in source.rglob("*") if p.is_file() and p.name != MANIFEST]
    for path in files:
        (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.relative_to(source))
    return sorted(str(target / p.relative_to(source)) for p in files)


def list_objects(uri: str) -> list[str]:
    """The s3:// URIs of the objects under the prefix `uri` (S3Downloader.list)."""
    bucket, key = split(uri)
    if bucket == LOCAL_BUCKET:
        source = _local(key.rstrip("/"))
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file()) \
            if source.is_dir() else []
        return [f"s3://{LOCAL_BUCKET}/{p.relative_to(local_bucket_root()).as_posix()}" for p in files]
    return [f"s3://{bucket}/{o['Key']}" for o in _objects(_client(uri), bucket, key, uri, allow_empty=True)]


# --- boto3 --------------------------------------------------------------------------------------------------

def _client(uri: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise UserError(
            f"{uri}: reading S3 needs boto3: `pip install 'fmtune[s3]'` (or `pip install boto3`). Without it, "
            f"copy the data locally, or use the local bucket s3://{LOCAL_BUCKET}/ (Session().default_bucket())."
        ) from None
    # A new session each time: credentials and AWS_ENDPOINT_URL (MinIO, Ceph, ...) as the environment has them now.
    return boto3.session.Session().client("s3")


def _objects(client: Any, bucket: str, key: str, uri: str, allow_empty: bool = False) -> list[dict[str, Any]]:
    def listing() -> list[dict[str, Any]]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        return [o for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]

    objects = _call(uri, listing)
    exact = [o for o in objects if o["Key"] == key]
    if exact:
        return exact
    under = [o for o in objects if not key or key.endswith("/") or o["Key"].startswith(key + "/")]
    if not under and not allow_empty:
        raise UserError(f"{uri}: no objects there (nothing is at that key or under that prefix).")
    return under


def _call(uri: str, action: Any, *args: Any) -> Any:
    """Run a boto3 call; what goes wrong becomes a UserError that says what to set or check."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return action(*args)
    except NoCredentialsError:
        raise UserError(
            f"{uri}: no AWS credentials found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); "
            "for an S3-compatible store (MinIO, Ceph) also AWS_ENDPOINT_URL."
        ) from None
    except ClientError as err:
        error = err.response.get("Error", {})
        raise UserError(f"{uri}: S3 said {error.get('Code', '?')}: {error.get('Message', err)}.") from None
    except BotoCoreError as err:
        raise UserError(f"{uri}: {err} (check AWS_ENDPOINT_URL and the network).") from None
