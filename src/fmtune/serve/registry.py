"""Endpoints that are running on this machine: one JSON file each in FMTUNE_HOME/endpoints. The API key of an
endpoint that fmtune started is kept beside it, readable by its owner only (endpoints/keys/NAME.key, folder 0700),
so that a Predictor or `invoke_endpoint` in another process can call it by name; it goes when the endpoint does."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fmtune.atomic import write_file_atomically
from fmtune.errors import UserError
from fmtune.paths import fmtune_home
from fmtune.process import Handle

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # used with fullmatch: "$" would accept a trailing newline


@dataclass(frozen=True)
class EndpointRecord:
    name: str
    url: str
    pid: int
    model: str  # what was deployed: job name, model folder or model id
    adapters: list[str] = field(default_factory=list)
    started: str = ""
    log: str | None = None  # the managed process's log file, when started by `start_endpoint`
    auth: bool = False  # whether an API key is required
    proc_start: str | None = None  # the process's identity (fmtune.process): tells it from a reused pid

    @property
    def handle(self) -> Handle:
        return Handle(self.pid, self.proc_start)


def endpoints_dir() -> Path:
    return fmtune_home() / "endpoints"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UserError(
            f"endpoint name {name!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return name


def register(record: EndpointRecord) -> Path:
    """Atomic write, so `fmtune endpoints list` never reads half a record."""
    directory = endpoints_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{check_name(record.name)}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{record.name}-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, target)
    return target


def unregister(name: str, pid: int | None = None) -> None:
    """Remove the record (only this process's record when `pid` is given)."""
    path = endpoints_dir() / f"{name}.json"
    record = _read(path)
    if record is not None and pid is not None and record.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    _key_file(name).unlink(missing_ok=True)


def _key_file(name: str) -> Path:
    return endpoints_dir() / "keys" / f"{check_name(name)}.key"


def store_key(name: str, key: str) -> None:
    folder = _key_file(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    write_file_atomically(_key_file(name), key.encode())  # a temp file made by mkstemp: mode 0600


def stored_key(name: str) -> str | None:
    try:
        return _key_file(name).read_text().strip() or None
    except FileNotFoundError:
        return None


def get_endpoint(name: str) -> EndpointRecord | None:
    record = _read(endpoints_dir() / f"{check_name(name)}.json")
    return record if record is not None and record.handle.alive() else None


def list_endpoints() -> list[EndpointRecord]:
    """Live endpoints; records of processes that died (kill -9, reboot) are removed."""
    records = []
    directory = endpoints_dir()
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        record = _read(path)
        if record is None:
            continue
        if record.handle.alive():
            records.append(record)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return records


def _read(path: Path) -> EndpointRecord | None:
    try:
        return EndpointRecord(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
