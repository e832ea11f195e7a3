"""Managed endpoints: `start_endpoint` runs `fmtune deploy` as a background process and returns once it
answers /health; `stop_endpoint` ends it. What `Estimator.deploy()` and `predictor.delete_endpoint()` call."""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from fmtune import process
from fmtune.errors import UserError
from fmtune.serve.client import EndpointClient
from fmtune.serve.registry import check_name, endpoints_dir, get_endpoint, store_key, stored_key, unregister
from fmtune.serve.settings import API_KEY_ENV, ServeSettings


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

    def stop(self) -> None:
        stop_endpoint(self)


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
    name = check_name(name or default_name(model))
    if get_endpoint(name) is not None:
        raise UserError(f"an endpoint named '{name}' is already running; stop it first or pick another name.")
    endpoints_dir().mkdir(parents=True, exist_ok=True)
    log_path = endpoints_dir() / f"{name}.log"
    # What to serve travels as a file; the key goes in the environment (never argv), and is kept owner-only
    # for callers by name (fmtune.serve.registry).
    launch = endpoints_dir() / "launch" / f"{name}.json"
    launch.parent.mkdir(parents=True, exist_ok=True)
    plan = {"model": model, "adapters": dict(adapters or {}), "name": name,
            "settings": {k: v for k, v in asdict(settings).items() if k != "api_key"}}
    launch.write_text(json.dumps(plan, indent=2) + "\n")
    store_key(name, key)
    argv = [sys.executable, "-m", "fmtune.serve", str(launch)]
    env = {**os.environ, API_KEY_ENV: key, "FMTUNE_ENDPOINT_LOG": str(log_path)}
    # Its own session: it outlives the notebook, as a JumpStart endpoint does.
    child = process.start(argv, env=env, log=log_path, detach=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.exit_code(child.pid)
        if code is not None:
            unregister(name)
            raise UserError(f"endpoint '{name}' failed to start (exit code {code}):\n{_tail(log_path)}")
        record = get_endpoint(name)
        if record is not None and record.pid == child.pid:
            endpoint = Endpoint(name, record.url, child.pid, model, tuple(record.adapters), key, log_path)
            if endpoint.client().health():
                return endpoint
        time.sleep(0.2)
    process.terminate(process.handle_of(child.pid), 10.0)
    unregister(name)
    raise UserError(f"endpoint '{name}' did not answer within {timeout:.0f} s; log:\n{_tail(log_path)}")


def stop_endpoint(endpoint: Endpoint | str, timeout: float = 30.0) -> bool:
    """Stop a running endpoint (an `Endpoint` or its name). False when it was not running."""
    name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
    record = get_endpoint(name)
    if record is None:
        unregister(name)
        return False
    process.terminate(record.handle, timeout)
    unregister(name, record.pid)
    return True


def find_endpoint(name: str, api_key: str | None = None) -> Endpoint | None:
    """A running endpoint by name (e.g. to bind a Predictor to it later), with its key: the one given, else the
    one stored when fmtune started it, else FMTUNE_API_KEY."""
    record = get_endpoint(name)
    if record is None:
        return None
    key = api_key or stored_key(name) or os.environ.get(API_KEY_ENV)
    return Endpoint(record.name, record.url, record.pid, record.model, tuple(record.adapters), key,
                    Path(record.log) if record.log else None)


def default_name(model: str) -> str:
    """`<model folder or id>-<UTC time>-<4 hex>`: unique enough for endpoints started by name-less calls."""
    path = Path(model)
    base = (path.parent.name if path.name == "model" else path.name) or "endpoint"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', base).strip('-.')[:40] or 'endpoint'}-{stamp}"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
