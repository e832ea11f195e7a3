"""Studio's REST API (/api/v1; OpenAPI at /docs). Every error is JSON: {"error": {"status", "message", "problems":
[{key, value, message}]}}, with a 4xx for anything the caller can fix: the form marks each problem on its field."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

import fmtune.studio.datasets as datasets
import fmtune.studio.service as service
from fmtune.errors import ConfigError, UserError
from fmtune.jobs import runner
from fmtune.jobs.store import UnknownJobError
from fmtune.serve.client import EndpointError
from fmtune.studio.errors import StudioError
from fmtune.studio.settings import StudioSettings

Value = str | int | float | bool
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobBody(Body):
    model_id: str = Field(min_length=1, max_length=1000, description="catalog id, local model folder or hub id")
    channels: dict[str, str] = Field(description="{'training': dataset id or local path, 'validation'?: ...}")
    hyperparameters: dict[str, Value] = Field(default_factory=dict, description="JumpStart names, string values")
    job_name: str | None = Field(default=None, max_length=63)
    accept_eula: bool = False
    tiny_random: bool = Field(default=False, description="a tiny randomly initialised model (a pipeline test)")

    def spec(self) -> service.JobSpec:
        return service.JobSpec(self.model_id, self.channels, self.hyperparameters, self.job_name, self.accept_eula,
                               self.tiny_random)


class CloneBody(Body):
    job_name: str | None = Field(default=None, max_length=63)
    hyperparameters: dict[str, Value] = Field(default_factory=dict, description="changed over the job's own")


class MemoryBody(Body):
    hyperparameters: dict[str, Value] = Field(default_factory=dict)


class RegisterBody(Body):
    path: str = Field(min_length=1, max_length=4096)
    name: str | None = Field(default=None, max_length=200)


class DeployBody(Body):
    job: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=1000)
    adapters: dict[str, str] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=63)


class Message(Body):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


class ChatBody(Body):
    messages: list[Message] = Field(min_length=1, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    max_tokens: int = Field(default=128, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)


class CompareBody(Body):
    prompt: str = Field(min_length=1, max_length=100_000)
    models: list[str] = Field(default_factory=list, max_length=8, description="default: every model served")
    max_tokens: int = Field(default=128, ge=1, le=4096)


class ImageBody(Body):
    prompt: str = Field(min_length=1, max_length=10_000)
    model: str | None = Field(default=None, max_length=200)
    size: str | None = Field(default=None, pattern=r"^[0-9]{1,5}x[0-9]{1,5}$", description="default: the trained size")
    steps: int = Field(default=25, ge=1, le=1000)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)


def error_body(status: int, message: str, problems: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message, "problems": problems or []}}, status)


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(ConfigError)
    async def config_error(request: Request, err: ConfigError) -> JSONResponse:
        return error_body(422, str(err), [p.to_dict() for p in err.details])

    @app.exception_handler(UserError)
    async def user_error(request: Request, err: UserError) -> JSONResponse:
        status = getattr(err, "status", 404 if isinstance(err, UnknownJobError) else 400)
        return error_body(status, str(err))

    @app.exception_handler(EndpointError)
    async def endpoint_error(request: Request, err: EndpointError) -> JSONResponse:
        status = err.status if 400 <= err.status < 500 else 502
        return error_body(status, f"the endpoint answered: {err.message}")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = [{"key": ".".join(str(p) for p in e["loc"][1:]) or None, "value": None, "message": e["msg"]}
                    for e in err.errors()]
        return error_body(422, "the request does not match the API: " + "; ".join(
            f"{p['key']}: {p['message']}" for p in problems), problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return error_body(err.status_code, str(err.detail))


def conflict(err: UserError) -> UserError:
    """A job action the job's state does not allow (stop a finished job, resume a running one): 409."""
    if isinstance(err, UnknownJobError):
        return err
    return StudioError(str(err), status=409)


def api_router(settings: StudioSettings) -> APIRouter:
    roots = settings.data_roots
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["studio"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # --- models
    @api.get("/models", tags=["models"])
    def models(search: str | None = Query(default=None, max_length=200),
               task: str | None = Query(default=None, max_length=100)) -> list[dict[str, Any]]:
        return service.list_models(search, task)

    @api.get("/models/{model_id}", tags=["models"])
    def model(model_id: str) -> dict[str, Any]:
        return service.model_detail(model_id)

    @api.post("/models/{model_id}/memory", tags=["models"])
    def memory(model_id: str, body: MemoryBody) -> dict[str, Any]:
        return service.memory_estimate(model_id, body.hyperparameters)

    # --- datasets
    @api.get("/datasets", tags=["datasets"])
    def list_datasets() -> list[dict[str, Any]]:
        return [d.to_dict() for d in datasets.list_datasets()]

    @api.post("/datasets", status_code=201, tags=["datasets"], openapi_extra=UPLOAD_SCHEMA)
    async def upload(request: Request, name: str | None = Query(default=None, max_length=200)) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + (1 << 20):
            raise StudioError(f"the upload ({int(length) / (1 << 20):.1f} MB) is larger than this Studio's "
                                       f"limit of {settings.max_upload_bytes / (1 << 20):g} MB.", status=413)
        dataset = await datasets.receive_upload(request.stream(), request.headers.get("content-type", ""),
                                                settings.max_upload_bytes, name)
        return dataset.to_dict()

    @api.post("/datasets/register", status_code=201, tags=["datasets"])
    def register(body: RegisterBody) -> dict[str, Any]:
        return datasets.register_path(body.path, roots, body.name).to_dict()

    @api.post("/datasets/preview", tags=["datasets"])
    def preview(body: JobBody, rows: int = Query(default=service.PREVIEW_ROWS, ge=1, le=50)) -> dict[str, Any]:
        return service.preview_data(body.spec(), roots, rows)

    @api.get("/datasets/{dataset_id}", tags=["datasets"])
    def dataset(dataset_id: str) -> dict[str, Any]:
        return datasets.get_dataset(dataset_id).to_dict()

    @api.delete("/datasets/{dataset_id}", status_code=204, tags=["datasets"])
    def delete_dataset(dataset_id: str) -> None:
        datasets.delete_dataset(dataset_id)

    # --- jobs
    @api.get("/jobs", tags=["jobs"])
    def jobs() -> list[dict[str, Any]]:
        return service.list_jobs()

    @api.post("/jobs", status_code=201, tags=["jobs"])
    def create(body: JobBody) -> dict[str, Any]:
        return service.create_job(body.spec(), roots)

    @api.post("/jobs/command", tags=["jobs"])
    def command(body: JobBody) -> dict[str, str]:
        """The `fmtune train` command and the SDK code that start this job."""
        return service.equivalent_code(body.spec(), roots)

    @api.get("/jobs/{name}", tags=["jobs"])
    def job(name: str) -> dict[str, Any]:
        return service.get_job(name)

    @api.get("/jobs/{name}/logs", response_class=PlainTextResponse, tags=["jobs"])
    def logs(name: str) -> str:
        from fmtune.jobs.views import log_lines

        return "".join(line + "\n" for line in log_lines(name))

    @api.get("/jobs/{name}/metrics", tags=["jobs"])
    def metrics(name: str) -> dict[str, Any]:
        return service.job_metrics(name)

    @api.get("/jobs/{name}/events", tags=["jobs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
    def events(name: str) -> StreamingResponse:
        service.get_job(name)  # an unknown job is a 404 before the stream starts
        return StreamingResponse(sse(service.job_events(name)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.post("/jobs/{name}/stop", tags=["jobs"])
    def stop(name: str) -> dict[str, Any]:
        try:
            runner.stop(name)
        except UserError as err:
            raise conflict(err) from None
        return service.get_job(name)

    @api.post("/jobs/{name}/resume", tags=["jobs"])
    def resume(name: str) -> dict[str, Any]:
        try:
            runner.resume(name, detach=True)
        except UserError as err:
            raise conflict(err) from None
        return service.get_job(name)

    @api.delete("/jobs/{name}", status_code=204, tags=["jobs"])
    def delete(name: str) -> None:
        try:
            runner.delete(name)
        except UserError as err:
            raise conflict(err) from None

    @api.get("/jobs/{name}/spec", tags=["jobs"])
    def spec(name: str) -> dict[str, Any]:
        found = service.job_spec(name)
        return {**vars(found), "channels": dict(found.channels), "hyperparameters": dict(found.hyperparameters)}

    @api.post("/jobs/{name}/clone", status_code=201, tags=["jobs"])
    def clone(name: str, body: CloneBody) -> dict[str, Any]:
        base = service.job_spec(name)
        spec = service.JobSpec(base.model_id, base.channels, {**base.hyperparameters, **body.hyperparameters},
                               body.job_name, base.accept_eula, base.tiny_random)
        return service.create_job(spec, roots)

    @api.get("/jobs/{name}/artifacts/{kind}", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"application/zip": {}, "text/html": {}}}})
    def artifact(name: str, kind: str) -> FileResponse:
        path = service.artifact_path(name, kind)
        if path.is_file():  # the report: a page to look at
            return FileResponse(path, filename=f"{name}-{path.name}", content_disposition_type="inline")
        archive = zip_folder(path)
        return FileResponse(archive, media_type="application/zip", filename=f"{name}-{kind}.zip",
                            background=BackgroundTask(archive.unlink, missing_ok=True))

    @api.get("/jobs/{name}/previews/{file}", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"image/png": {}}}})
    def preview_image(name: str, file: str) -> FileResponse:
        return FileResponse(service.preview_file(name, file))

    # --- endpoints
    @api.get("/endpoints", tags=["endpoints"])
    def endpoints() -> list[dict[str, Any]]:
        return service.list_endpoints()

    @api.post("/endpoints", status_code=201, tags=["endpoints"])
    def deploy(body: DeployBody) -> dict[str, Any]:
        return service.deploy(body.job, body.model, body.adapters, body.name)

    @api.get("/endpoints/{name}", tags=["endpoints"])
    def endpoint(name: str) -> dict[str, Any]:
        return service.endpoint_summary(name)

    @api.delete("/endpoints/{name}", status_code=204, tags=["endpoints"])
    def delete_endpoint(name: str) -> None:
        service.delete_endpoint(name)

    @api.post("/endpoints/{name}/chat", tags=["endpoints"])
    def chat(name: str, body: ChatBody) -> dict[str, Any]:
        return service.endpoint_client(name).chat([m.model_dump() for m in body.messages], model=body.model,
                                                  max_tokens=body.max_tokens, temperature=body.temperature)

    @api.post("/endpoints/{name}/compare", tags=["endpoints"])
    def compare(name: str, body: CompareBody) -> dict[str, Any]:
        models = body.models or service.endpoint_summary(name)["models"]
        return {"prompt": body.prompt, "answers": service.compare(name, body.prompt, models, body.max_tokens)}

    @api.post("/endpoints/{name}/images", tags=["endpoints"])
    def images(name: str, body: ImageBody) -> dict[str, Any]:
        payload = {"prompt": body.prompt, "model": body.model, "size": body.size, "num_inference_steps": body.steps,
                   "seed": body.seed, "response_format": "b64_json"}
        return service.endpoint_client(name).request("POST", "/v1/images/generations",
                                                     {k: v for k, v in payload.items() if v is not None})

    # The endpoint's own routes through Studio (endpoints listen on the server's loopback): what a remote SDK
    # Predictor and `fmtune deploy --server` clients call. Answers are passed back whole (no streaming).
    @api.post("/endpoints/{name}/invocations", tags=["endpoints"], openapi_extra=RAW_BODY)
    async def invocations(name: str, request: Request) -> Response:
        headers = {k: request.headers[k] for k in PASSED_HEADERS if k in request.headers}
        body = await bounded_body(request)
        answer, kind = await run_in_threadpool(service.endpoint_client(name).send, "POST", "/invocations", body,
                                               headers)
        return Response(answer, media_type=kind or None)

    @api.post("/endpoints/{name}/v1/{route:path}", tags=["endpoints"], openapi_extra=RAW_BODY)
    async def openai_route(name: str, route: str, request: Request) -> Response:
        if route not in OPENAI_ROUTES:
            raise StudioError(f"/v1/{route}: not an endpoint route; use one of {', '.join(OPENAI_ROUTES)}.", 404)
        body = await bounded_body(request)
        answer, kind = await run_in_threadpool(service.endpoint_client(name).send, "POST", f"/v1/{route}", body,
                                               {"Content-Type": "application/json"})
        return Response(answer, media_type=kind or None)

    @api.get("/endpoints/{name}/v1/models", tags=["endpoints"])
    def served_models(name: str) -> dict[str, Any]:
        return service.endpoint_client(name).request("GET", "/v1/models")

    return api


PASSED_HEADERS = ("content-type", "accept", "x-amzn-sagemaker-custom-attributes")
OPENAI_ROUTES = ("chat/completions", "completions", "images/generations")
MAX_PROXIED_BYTES = 20 << 20  # the image endpoint's own body limit
RAW_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


async def bounded_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PROXIED_BYTES:
            raise StudioError(f"request body above {MAX_PROXIED_BYTES >> 20} MB; send less.", status=413)
    return body


UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


def sse(events: Iterator[tuple[str, Any]]) -> Iterator[bytes]:
    for event, data in events:
        yield f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def zip_folder(folder: Path) -> Path:
    """The folder as a zip in a temp file (stored, not compressed: weights do not shrink), deleted once sent."""
    with tempfile.NamedTemporaryFile(prefix="fmtune-studio-", suffix=".zip", delete=False) as handle, \
            zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as bundle:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and not file.is_symlink():
                bundle.write(file, file.relative_to(folder.parent))
    return Path(handle.name)

