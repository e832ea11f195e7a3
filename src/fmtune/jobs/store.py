"""The job store: one SQLite file (FMTUNE_HOME/jobs.db) that every front end and every job process shares.

WAL mode lets any number of readers (`fmtune jobs list`, the SDK, the web UI) read while job processes
write; every write is one short transaction and waits (busy_timeout) instead of failing when another
process holds the write lock. A job's process records its own state (through `JobLayout.mark_*`), so a
detached job keeps its row current with no CLI around. A row that says Pending/InProgress whose process
is gone (kill -9, OOM, reboot) is turned into Failed the first time anyone reads it.
"""

from __future__ import annotations

import difflib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmtune.errors import UserError
from fmtune.jobs.layout import JobLayout
from fmtune.paths import fmtune_home
from fmtune.process import process_identity, process_state

ACTIVE = ("Pending", "InProgress")
TERMINAL = ("Completed", "Failed", "Stopped")
# Which status may follow which. The recipe may restart a dead InProgress job or one that Failed/Stopped
# (`--resume`); only the runner puts a job back to Pending (resume). Completed is final.
TRANSITIONS: dict[str | None, set[str]] = {
    None: {"Pending", "InProgress"},
    "Pending": {"InProgress", "Failed", "Stopped"},
    "InProgress": {"InProgress", "Completed", "Failed", "Stopped"},
    "Failed": {"Pending", "InProgress"},
    "Stopped": {"Pending", "InProgress"},
    "Completed": set(),
}
BUSY_TIMEOUT_S = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    updated TEXT NOT NULL,
    failure_reason TEXT,
    pid INTEGER,
    proc_start TEXT,
    job_dir TEXT NOT NULL,
    model TEXT NOT NULL,
    config TEXT NOT NULL
)
"""
COLUMNS = ("name", "status", "created", "started", "ended", "updated", "failure_reason", "pid", "proc_start",
           "job_dir", "model", "config")


class UnknownJobError(UserError):
    """No job of that name (the message suggests the closest names)."""


class InvalidTransitionError(UserError):
    """A status change the job's life cycle does not allow (e.g. resuming a Completed job)."""


@dataclass(frozen=True)
class JobRecord:
    name: str
    status: str
    created: str
    started: str | None
    ended: str | None
    updated: str
    failure_reason: str | None
    pid: int | None
    proc_start: str | None  # "<boot id>:<start ticks>": tells a live job from a reused pid
    job_dir: str
    model: str
    config: dict[str, Any]  # the resolved JobConfig, as saved in config.json

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


DIED = "the training process died unexpectedly"


def died_reason(name: str, detail: str) -> str:
    return (f"{DIED} ({detail}); `fmtune jobs resume {name}` continues from "
            "the last complete checkpoint")


# --- the store -------------------------------------------------------------------------------------------


class JobStore:
    """All job rows. Cheap to create: each call opens a short-lived connection (safe across fork)."""

    _ready: set[Path] = set()

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else fmtune_home() / "jobs.db"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self.path not in JobStore._ready or not self.path.exists():
            self._create()
        with self._readable(), closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        ) as conn:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            yield conn

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A read. Reading creates nothing: without a jobs.db there are simply no jobs yet."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """A damaged jobs.db is the user's to inspect: say which file and what to do, never overwrite it."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.IntegrityError | sqlite3.OperationalError) and "malformed" not in str(err):
                raise
            raise UserError(
                f"{self.path} is not a readable job store ({err}). fmtune leaves it as it is. The job folders in "
                f"{self.path.parent / 'jobs'} are not affected: move the damaged file aside (`mv {self.path} "
                f"{self.path}.damaged`) and fmtune starts a new, empty store (jobs started before are then no "
                "longer listed), or restore it from a backup."
            ) from None

    def _create(self) -> None:
        """Create the file in WAL mode once per process. Retries: switching to WAL needs a moment alone."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._readable(), closing(
                    sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                ) as conn:
                    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(SCHEMA)
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        JobStore._ready.add(self.path)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; IMMEDIATE takes the write lock up front so it never deadlocks."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # --- writes --------------------------------------------------------------------------------------

    def add(self, name: str, job_dir: str, model: str, config: dict[str, Any], status: str = "Pending") -> JobRecord:
        """Register a new job. A name is unique across all jobs, finished or not."""
        stamp = now()
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO jobs (name, status, created, updated, job_dir, model, config) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, status, stamp, stamp, job_dir, model, json.dumps(config)),
                )
        except sqlite3.IntegrityError:
            existing = self._fetch(name)
            where = f" ({existing.status}, {existing.job_dir})" if existing else ""
            raise UserError(
                f"a job named '{name}' already exists{where}; choose another job name, or remove it with "
                f"`fmtune jobs delete {name}`."
            ) from None
        record = self._fetch(name)
        assert record is not None
        return record

    def set_process(self, name: str, pid: int, proc_start: str | None) -> None:
        with self._write() as conn:
            conn.execute("UPDATE jobs SET pid = ?, proc_start = ?, updated = ? WHERE name = ?",
                         (pid, proc_start, now(), name))

    def set_status(
        self,
        name: str,
        status: str,
        failure_reason: str | None = None,
        *,
        pid: int | None = None,
        proc_start: str | None = None,
        job_dir: str | None = None,
        force: bool = False,
    ) -> JobRecord:
        """Move a job to `status` (checked against TRANSITIONS unless `force`). With `job_dir`, only the
        row of that folder is touched, so a job never overwrites another job's row that has its name."""
        with self._write() as conn:
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM jobs")]
                raise UnknownJobError(self._unknown_message(name, names))
            current = _record(row)
            if job_dir is not None and os.path.realpath(current.job_dir) != os.path.realpath(job_dir):
                raise UserError(f"job name '{name}' belongs to {current.job_dir}, not {job_dir}")
            if not force and status not in TRANSITIONS[current.status]:
                raise InvalidTransitionError(f"job '{name}' is {current.status}; it cannot become {status}.")
            stamp = now()
            updates: dict[str, Any] = {"status": status, "updated": stamp}
            if status in TERMINAL:
                updates |= {"ended": stamp, "failure_reason": failure_reason if status == "Failed" else None}
            else:
                updates |= {"ended": None, "failure_reason": None}
            if status == "InProgress" and current.started is None:
                updates["started"] = stamp
            if status == "Pending":  # about to be started again: the old process says nothing any more
                updates |= {"pid": None, "proc_start": None}
            if pid is not None:
                updates |= {"pid": pid, "proc_start": proc_start}
            sets = ", ".join(f"{key} = ?" for key in updates)
            conn.execute(f"UPDATE jobs SET {sets} WHERE name = ?", (*updates.values(), name))
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE name = ?", (name,)).fetchone()
        return _record(row)

    def record_own_status(self, job_dir: Path, config: dict[str, Any], status: str, reason: str | None) -> None:
        """What `JobLayout.mark_*` calls from inside the job process: register the job if it was started
        without the runner (e.g. `python -m fmtune.recipes.causal_lm`), then record its status and pid."""
        name = config["job_name"]
        pid = os.getpid()
        if self._fetch(name) is None:
            with suppress(UserError):  # registered by someone else meanwhile
                self.add(name, str(job_dir), config.get("model", ""), config, status="InProgress")
        self.set_status(name, status, reason, pid=pid, proc_start=process_identity(pid), job_dir=str(job_dir))

    def delete(self, name: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM jobs WHERE name = ?", (name,))

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, name: str, reconcile: bool = True) -> JobRecord | None:
        """The job's row; with `reconcile`, a dead process's Pending/InProgress is replaced by what happened."""
        record = self._fetch(name)
        return self._reconcile(record) if record is not None and reconcile else record

    def require(self, name: str) -> JobRecord:
        record = self.get(name)
        if record is None:
            raise UnknownJobError(self._unknown_message(name, [row[0] for row in self._rows("SELECT name FROM jobs")]))
        return record

    def list_jobs(self) -> list[JobRecord]:
        """All jobs, newest first."""
        rows = self._rows(f"SELECT {', '.join(COLUMNS)} FROM jobs ORDER BY created DESC, name")
        return [self._reconcile(_record(row)) for row in rows]

    def _fetch(self, name: str) -> JobRecord | None:
        rows = self._rows(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE name = ?", (name,))
        return _record(rows[0]) if rows else None

    def _unknown_message(self, name: str, names: list[str]) -> str:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"No job named '{name}'.{hint} `fmtune jobs list` shows all jobs."

    def _reconcile(self, record: JobRecord) -> JobRecord:
        """A Pending/InProgress row whose process is gone becomes what the job last recorded itself
        (status.json, when that came from the same process) or Failed ("died unexpectedly")."""
        if not record.active or record.pid is None:
            return record
        state = process_state(record.pid, record.proc_start)
        if state == "alive":
            return record
        status, reason = "Failed", died_reason(
            record.name,
            f"pid {record.pid} is no longer running" if state == "gone"
            else f"pid {record.pid} now belongs to another process",
        )
        own = JobLayout(Path(record.job_dir)).status()
        if own.get("pid") == record.pid and own.get("status") in TERMINAL:
            status, reason = own["status"], own.get("failure_reason")
        stamp = now()
        with self._write() as conn:  # only if nobody changed the row meanwhile
            conn.execute(
                "UPDATE jobs SET status = ?, failure_reason = ?, ended = ?, updated = ? "
                "WHERE name = ? AND status = ? AND pid = ?",
                (status, reason if status == "Failed" else None, stamp, stamp, record.name, record.status,
                 record.pid),
            )
        fresh = self._fetch(record.name)
        return fresh if fresh is not None else record


def _record(row: tuple) -> JobRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["config"] = json.loads(values["config"])
    return JobRecord(**values)


def mark(layout: JobLayout, status: str, reason: str | None = None) -> None:
    """Called by the job's own process: status.json first (always possible), then the job store row, so
    `fmtune jobs list` is current even when no CLI is attached. A store problem never fails a job."""
    layout.write_status(status, reason, os.getpid())
    try:
        JobStore().record_own_status(layout.root, json.loads(layout.config.read_text()), status, reason)
    except Exception as err:  # the job's result matters more than its listing
        print(f"fmtune: could not record status {status} in the job store: {err}", file=sys.stderr)
