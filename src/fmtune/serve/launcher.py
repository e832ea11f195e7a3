"""Managed endpoints: `start_endpoint` runs `fmtune deploy` as a background process and returns once it
answers /health; `stop_endpoint` ends it. What `Estimator.deploy()` and `predictor.delete_endpoint()` call."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from fmtune.errors import UserError
from fmtune.serve.client import EndpointClient
from fmtune.serve.registry import check_name, endpoints_dir, get_endpoint, process_alive, unregister
from fmtune.serve.settings import API_KEY_ENV, ServeSettings

_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this interpreter started, reaped when stopped


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str  # e.g. http://127.0.0.1:41234; OpenAI clients use url + "/v1"
    pid: int
    model: str
    adapters: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    def client(self, timeout: float = 300.0) -> EndpointClient:
        return EndpointClient(self.url, self.api_key, timeout)


def start_endpoint(
    model: str,
    *,
    adapters: Mapping[str, str] | None = None,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    settings: ServeSettings | None = None,
    timeout: float = 300.0,
) -> Endpoint:
    """Serve `model` (job name or folder, model folder, or model id) with optional LoRA `adapters`
    (name → adapter folder or job) in a background process; return when it answers.

    Without `api_key` (and FMTUNE_API_KEY) a random key is made: the endpoint is never left open by
    accident, and `Endpoint.api_key` / `Endpoint.client()` carry it. Port 0 picks a free port."""
    key = api_key or os.environ.get(API_KEY_ENV) or secrets.token_urlsafe(24)
    settings = replace(settings or ServeSettings(), host=host, port=port, api_key=key).check()
    name = check_name(name or _default_name(model))
    if get_endpoint(name) is not None:
        raise UserError(f"an endpoint named '{name}' is already running; stop it first or pick another name.")
    endpoints_dir().mkdir(parents=True, exist_ok=True)
    log_path = endpoints_dir() / f"{name}.log"
    argv = [sys.executable, "-m", "fmtune.serve", model, "--name", name, *settings_flags(settings)]
    for adapter_name, reference in (adapters or {}).items():
        argv += ["--adapter", f"{adapter_name}={reference}"]
    env = {**os.environ, API_KEY_ENV: key, "FMTUNE_ENDPOINT_LOG": str(log_path)}  # the key stays out of argv
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)  # outlives the notebook, as a JumpStart endpoint does
    _CHILDREN[process.pid] = process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            raise UserError(f"endpoint '{name}' failed to start (exit code {process.returncode}):\n"
                            f"{_tail(log_path)}")
        record = get_endpoint(name)
        if record is not None and record.pid == process.pid:
            endpoint = Endpoint(name, record.url, process.pid, model, tuple(record.adapters), key, log_path)
            if endpoint.client().health():
                return endpoint
        time.sleep(0.2)
    _terminate(process.pid, 10.0)
    raise UserError(f"endpoint '{name}' did not answer within {timeout:.0f} s; log:\n{_tail(log_path)}")


def stop_endpoint(endpoint: Endpoint | str, timeout: float = 30.0) -> bool:
    """Stop a running endpoint (an `Endpoint` or its name). False when it was not running."""
    name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
    record = get_endpoint(name)
    if record is None:
        unregister(name)
        return False
    _terminate(record.pid, timeout)
    unregister(name, record.pid)
    return True


def find_endpoint(name: str, api_key: str | None = None) -> Endpoint | None:
    """A running endpoint by name (e.g. to bind a Predictor to it later); the key is not stored, so pass it
    (or set FMTUNE_API_KEY)."""
    record = get_endpoint(name)
    if record is None:
        return None
    return Endpoint(record.name, record.url, record.pid, record.model, tuple(record.adapters),
                    api_key or os.environ.get(API_KEY_ENV), Path(record.log) if record.log else None)


def settings_flags(settings: ServeSettings) -> list[str]:
    """The `fmtune deploy` flags that reproduce these settings (never the API key)."""
    flags = ["--host", settings.host, "--port", str(settings.port),
             "--max-body-bytes", str(settings.max_body_bytes),
             "--max-new-tokens-cap", str(settings.max_new_tokens_cap),
             "--default-max-new-tokens", str(settings.default_max_new_tokens),
             "--max-batch-size", str(settings.max_batch_size), "--max-queue", str(settings.max_queue),
             "--batch-wait-ms", str(settings.batch_wait_ms)]
    if settings.max_model_len is not None:
        flags += ["--max-model-len", str(settings.max_model_len)]
    if settings.served_model_name:
        flags += ["--served-model-name", settings.served_model_name]
    return flags


def _default_name(model: str) -> str:
    path = Path(model)
    base = (path.parent.name if path.name == "model" else path.name) or "endpoint"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', base).strip('-.')[:40] or 'endpoint'}-{stamp}"


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (graceful: in-flight requests end), then SIGKILL after `timeout`."""
    child = _CHILDREN.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
