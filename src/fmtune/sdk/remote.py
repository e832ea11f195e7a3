"""`Estimator(..., server=URL)`: the job and its endpoint on a remote Studio, behind the same SDK calls. The
training job and the endpoint handles here mirror the local ones (describe/wait/stop; client/stop)."""

from __future__ import annotations

import sys
from typing import Any

from fmtune.sdk.errors import UnexpectedStatusException
from fmtune.serve.client import EndpointClient
from fmtune.studio.remote import RemoteStudio


class RemoteTrainingJob:
    def __init__(self, remote: RemoteStudio, name: str):
        self.remote, self.name = remote, name

    @property
    def job_name(self) -> str:
        return self.name

    def describe(self) -> dict[str, Any]:
        return self.remote.job(self.name)

    def wait(self, logs: Any = True) -> dict[str, Any]:
        """Until the job ends (printing its log when `logs`); raises UnexpectedStatusException if it Failed."""
        out = sys.stdout if logs not in (False, None, "None") else _Discard()
        job = self.remote.follow(self.name, out)
        if job["status"] == "Failed":
            raise UnexpectedStatusException(self.name, job["status"], job.get("failure_reason"))
        return job

    def stop(self) -> None:
        self.remote.stop(self.name)


class RemoteEndpoint:
    """An endpoint on the remote Studio's machine, reached through Studio's proxy routes with Studio's token."""

    def __init__(self, remote: RemoteStudio, name: str):
        self.remote, self.name = remote, name

    def client(self, timeout: float = 300.0) -> EndpointClient:
        return EndpointClient(self.remote.endpoint_url(self.name), self.remote.token, timeout)

    def stop(self) -> None:
        self.remote.delete_endpoint(self.name)


class _Discard:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
