"""A remote Studio, driven through its REST API: what `fmtune train/jobs/deploy --server URL` and
`Estimator(..., server=URL)` use to run jobs on another machine (the GPU box, the team's server).

Local data is uploaded first (a folder as one zip); anything else in a channel is passed as it is (a dataset id,
or a path on the server under its --data-root). The server's 4xx errors come back as the same UserError /
ConfigError a local run raises, so front ends print them the same way (exit code 2).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fmtune.errors import ConfigError, Problem, UserError
from fmtune.studio.errors import StudioError
from fmtune.studio.settings import TOKEN_ENV

SERVER_ENV = "FMTUNE_SERVER"


class RemoteStudio:
    def __init__(self, url: str, token: str | None = None, timeout: float = 600.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"--server {url!r}: give Studio's address, e.g. http://gpu-box:8000.")
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # --- jobs
    def create_job(self, model_id: str, channels: Mapping[str, str | Path], hyperparameters: Mapping[str, Any],
                   *, job_name: str | None = None, accept_eula: bool = False, tiny_random: bool = False) -> dict:
        remote = {name: self.channel(where) for name, where in channels.items()}
        body = {"model_id": model_id, "channels": remote,
                "hyperparameters": {k: str(v) for k, v in hyperparameters.items()},
                "accept_eula": accept_eula, "tiny_random": tiny_random}
        if job_name:
            body["job_name"] = job_name
        return self.request("POST", "/api/v1/jobs", body)

    def channel(self, where: str | Path) -> str:
        """A local file or folder is uploaded (its dataset id comes back); anything else is the server's."""
        path = Path(str(where).removeprefix("file://")).expanduser()
        return self.upload(path)["id"] if path.exists() else str(where)

    def upload(self, path: Path) -> dict:
        files = [("data.zip", zipped(path))] if path.is_dir() else [(path.name, path.read_bytes())]
        boundary = f"fmtune-{secrets.token_hex(12)}"
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files
        ) + f"--{boundary}--\r\n".encode()
        query = urllib.parse.urlencode({"name": path.name})
        return self._json(self.send("POST", f"/api/v1/datasets?{query}", body,
                                    {"Content-Type": f"multipart/form-data; boundary={boundary}"}))

    def jobs(self) -> list[dict]:
        return self.request("GET", "/api/v1/jobs")

    def job(self, name: str) -> dict:
        return self.request("GET", f"/api/v1/jobs/{quote(name)}")

    def logs(self, name: str) -> str:
        return self.send("GET", f"/api/v1/jobs/{quote(name)}/logs").decode()

    def events(self, name: str) -> Iterator[tuple[str, Any]]:
        """The job's server-sent events as (event, data), until its `end`."""
        with self._open("GET", f"/api/v1/jobs/{quote(name)}/events", None, {"Accept": "text/event-stream"},
                        timeout=None) as response:
            event, data = "message", []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def follow(self, name: str, out: Any) -> dict:
        """Print the job's log as it runs; its description once it has ended."""
        for event, data in self.events(name):
            if event == "log":
                out.write(data + "\n")
                out.flush()
        return self.job(name)

    def stop(self, name: str) -> dict:
        return self.request("POST", f"/api/v1/jobs/{quote(name)}/stop")

    def resume(self, name: str) -> dict:
        return self.request("POST", f"/api/v1/jobs/{quote(name)}/resume")

    def delete(self, name: str) -> None:
        self.send("DELETE", f"/api/v1/jobs/{quote(name)}")

    # --- endpoints
    def deploy(self, *, job: str | None = None, model: str | None = None, adapters: Mapping[str, str] | None = None,
               name: str | None = None) -> dict:
        body = {"job": job, "model": model, "adapters": dict(adapters or {}), "name": name}
        return self.request("POST", "/api/v1/endpoints", {k: v for k, v in body.items() if v is not None})

    def endpoints(self) -> list[dict]:
        return self.request("GET", "/api/v1/endpoints")

    def delete_endpoint(self, name: str) -> None:
        self.send("DELETE", f"/api/v1/endpoints/{quote(name)}")

    def endpoint_url(self, name: str) -> str:
        """Where the endpoint's own routes (/invocations, /v1/...) answer through Studio."""
        return f"{self.url}/api/v1/endpoints/{quote(name)}"

    # --- HTTP
    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return self._json(self.send(method, path, data, headers))

    def send(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        with self._open(method, path, data, headers or {}) as response:
            return response.read()

    def _open(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
              timeout: float | None = -1.0) -> Any:
        if self.token:
            headers = {**headers, "Authorization": f"Bearer {self.token}"}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            return self._opener.open(req, timeout=self.timeout if timeout == -1.0 else timeout)
        except urllib.error.HTTPError as err:
            raise remote_error(err.code, err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            raise UserError(f"cannot reach Studio at {self.url}: {getattr(err, 'reason', err)}. Is `fmtune studio` "
                            "running there, and is the address right?") from None

    @staticmethod
    def _json(body: bytes) -> Any:
        return json.loads(body) if body else None


def remote_error(status: int, body: bytes) -> UserError:
    """The server's answer as the error a local run raises: per-field problems as a ConfigError."""
    try:
        error = json.loads(body)["error"]
        message, problems = error["message"], error.get("problems") or []
    except (ValueError, KeyError, TypeError):
        return StudioError(f"Studio answered {status}: {body.decode(errors='replace')[:500]}", status)
    if status == 422 and problems:
        return ConfigError([Problem(p["message"], p.get("key"), p.get("value")) for p in problems])
    return StudioError(message, status)


def zipped(folder: Path) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as bundle:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                bundle.write(file, file.relative_to(folder))
    return data.getvalue()


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
