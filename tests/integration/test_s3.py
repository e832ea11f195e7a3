"""s3:// for real: channels, S3Uploader/S3Downloader against a local S3-compatible server (moto's server mode
on 127.0.0.1, reached through AWS_ENDPOINT_URL as MinIO or Ceph would be), the content-addressed download cache,
and the clear errors without credentials or without boto3."""

from __future__ import annotations

import socket
import sys

import pytest

from fmtune import storage
from fmtune.cli.main import main
from fmtune.errors import UserError
from fmtune.sagemaker.s3 import S3Downloader, S3Uploader

from ..conftest import SAMPLES

pytestmark = pytest.mark.usefixtures("recipes_in_process")

BUCKET = "notebook-data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, home):
    for name, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    import boto3

    client = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


def test_upload_list_download_round_trip(s3, tmp_path):
    uri = S3Uploader.upload(str(SAMPLES / "instruction" / "train"), f"s3://{BUCKET}/round/train")
    assert uri == f"s3://{BUCKET}/round/train"
    assert S3Downloader.list(uri) == [f"s3://{BUCKET}/round/train/data.jsonl"]
    written = S3Downloader.download(uri, tmp_path / "back")
    assert written == [str(tmp_path / "back" / "data.jsonl")]
    assert (tmp_path / "back" / "data.jsonl").read_bytes() == (SAMPLES / "instruction" / "train" /
                                                               "data.jsonl").read_bytes()


def test_a_channel_is_fetched_once_into_a_content_addressed_cache(s3, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("text\nfirst version\n")
    S3Uploader.upload(str(source), f"s3://{BUCKET}/cache")
    first = storage.fetch(f"s3://{BUCKET}/cache/data.csv")
    assert first.read_text() == "text\nfirst version\n" and first.is_relative_to(home_cache())
    stamp = first.stat().st_mtime_ns
    assert storage.fetch(f"s3://{BUCKET}/cache/data.csv") == first and first.stat().st_mtime_ns == stamp
    source.write_text("text\nsecond version, longer\n")
    S3Uploader.upload(str(source), f"s3://{BUCKET}/cache")
    second = storage.fetch(f"s3://{BUCKET}/cache/data.csv")
    assert second != first and second.read_text().endswith("longer\n")


def home_cache():
    from fmtune.paths import fmtune_home

    return fmtune_home() / "cache" / "s3"


def test_train_on_an_s3_channel(s3, tmp_path, capsys):
    uri = S3Uploader.upload(str(SAMPLES / "instruction-template" / "train"), f"s3://{BUCKET}/job/train")
    job = tmp_path / "job"
    code = main(["train", "meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula", "--training", uri,
                 "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=8",
                 "-H", "max_input_length=64", "--output-dir", str(job)])
    assert code == 0, (job / "logs.txt").read_text()
    assert (job / "model" / "model.safetensors").exists()


def test_a_missing_prefix_is_a_clear_exit_2(s3, tmp_path, capsys):
    code = main(["train", "--training", f"s3://{BUCKET}/nothing-here/", "--output-dir", str(tmp_path / "j")])
    assert code == 2
    assert f"s3://{BUCKET}/nothing-here/: no objects there" in capsys.readouterr().err
    assert not (tmp_path / "j").exists()


def test_without_credentials_the_error_says_what_to_set(s3_server, monkeypatch, home, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(UserError, match="no AWS credentials found. Set AWS_ACCESS_KEY_ID"):
        storage.fetch(f"s3://{BUCKET}/x")
    with pytest.raises(ValueError, match="no AWS credentials found"):
        S3Downloader.list(f"s3://{BUCKET}/x")


def test_without_boto3_the_error_says_what_to_install(monkeypatch, home):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` sees when it is not installed
    with pytest.raises(UserError, match=r"needs boto3: `pip install 'fmtune\[s3\]'`"):
        storage.fetch("s3://some-bucket/train/")
    assert storage.fetch("s3://fmtune-local/train") == storage.local_bucket_root() / "train"  # no boto3 needed
