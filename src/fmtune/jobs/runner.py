"""Start, stop, resume and delete jobs. A job runs its recipe in its own process (the one code path that
trains); the job store row says where it stands, and the recipe keeps that row current itself."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import time
from pathlib import Path

import fmtune
from fmtune.config.job import JobConfig
from fmtune.errors import UserError
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import DIED, JobRecord, JobStore, died_reason, process_identity, process_state

RECIPES = {"text-generation": "fmtune.recipes.causal_lm", "text2text": "fmtune.recipes.seq2seq"}
STOP_GRACE_S = 120.0  # SageMaker's StopTrainingJob also gives the job 120 s after SIGTERM
POLL_S = 0.5

# Processes this Python process started, so that waiting here can reap them and learn their exit code.
_children: dict[str, subprocess.Popen] = {}


def prepare_job_dir(job: JobConfig) -> JobLayout:
    layout = JobLayout(Path(job.job_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    job.save(layout.config)
    return layout


def recipe_command(job: JobConfig, resume: bool = False) -> list[str]:
    """The recipe as a module; under torchrun (`torch.distributed.run`) when the job spans several processes."""
    recipe = ["-m", RECIPES[job.task], "--job-dir", job.job_dir, *(["--resume"] if resume else [])]
    launch = job.launch
    if not _spans_processes(job):
        return [sys.executable, *recipe]
    rendezvous = ["--standalone"] if launch.nnodes == 1 else [
        f"--nnodes={launch.nnodes}", f"--node-rank={launch.node_rank}",
        f"--master-addr={launch.master_addr}", f"--master-port={launch.master_port}",
    ]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={launch.nproc_per_node}",
            *rendezvous, *recipe]


def submit(job: JobConfig, detach: bool = False) -> int:
    """Register the job (Pending) and start its recipe. Foreground: stream its output here and return its
    exit code. Detached: start it in its own session (it outlives this process; output goes to logs.txt)
    and return 0 at once."""
    store = JobStore()
    store.add(job.job_name, job.job_dir, job.model, _config_dict(job))
    try:
        layout = prepare_job_dir(job)
    except OSError as err:
        store.set_status(job.job_name, "Failed", f"could not create the job folder {job.job_dir}: {err}")
        raise UserError(f"could not create the job folder {job.job_dir}: {err}") from err
    return _launch(job, layout, detach=detach, resume=False)


def resume(name: str, detach: bool = False) -> int:
    """Start a Failed or Stopped job again with `--resume`: the recipe continues from its last complete
    checkpoint. Returns the exit code (foreground) or 0 (detached)."""
    store = JobStore()
    record = store.require(name)
    if record.status == "Completed":
        raise UserError(f"job '{name}' has already completed (its model is in {record.job_dir}/model); "
                        "there is nothing to resume. Start a new job to train further.")
    if record.active:
        raise UserError(f"job '{name}' is still running ({record.status}, pid {record.pid}). Follow it with "
                        f"`fmtune jobs logs {name} --follow`, or stop it first with `fmtune jobs stop {name}`.")
    layout = JobLayout(Path(record.job_dir))
    if not layout.config.exists():
        raise UserError(f"job '{name}': {layout.config} is missing, so the job cannot be resumed.")
    job = JobConfig.load(layout.config)
    store.set_status(name, "Pending")  # atomic: a second resume started meanwhile fails here
    return _launch(job, layout, detach=detach, resume=True)


def stop(name: str, grace: float = STOP_GRACE_S) -> JobRecord:
    """SIGTERM the job (its recipe writes a checkpoint and ends as Stopped); after `grace` seconds, SIGKILL.
    Either way the job ends Stopped and `fmtune jobs resume` continues from its last complete checkpoint."""
    store = JobStore()
    record = store.require(name)
    if not record.active:
        raise UserError(f"job '{name}' is not running (status {record.status}); there is nothing to stop.")
    if record.pid is not None:
        _signal(record.pid, signal.SIGTERM)
        if not _wait_gone(name, record, grace):
            _signal(record.pid, signal.SIGKILL)
            _wait_gone(name, record, 30.0)
    current = store.get(name, reconcile=False)
    killed = current is not None and (
        current.active or (current.status == "Failed" and (current.failure_reason or "").startswith(DIED))
    )
    if killed:  # it ended before recording its own stop (no signal handler yet, or past the grace period)
        store.set_status(name, "Stopped", force=True)
        JobLayout(Path(record.job_dir)).write_status("Stopped", None, record.pid or 0)
    return store.require(name)


def delete(name: str) -> Path:
    """Remove the job's row and its folder. Refuses while the job runs."""
    store = JobStore()
    record = store.require(name)
    if record.active:
        raise UserError(f"job '{name}' is running ({record.status}); stop it first: `fmtune jobs stop {name}`.")
    job_dir = Path(record.job_dir)
    if job_dir.is_dir():
        if not (job_dir / "config.json").exists() and any(job_dir.iterdir()):
            raise UserError(f"{job_dir} does not look like a job folder (no config.json); remove it yourself.")
        shutil.rmtree(job_dir)
    store.delete(name)
    return job_dir


def wait(name: str, poll: float = POLL_S) -> JobRecord:
    """Block until the job ends; returns its final record."""
    store = JobStore()
    while True:
        settle_child(name)
        record = store.require(name)
        if not record.active:
            return record
        time.sleep(poll)


def check_job_data(job: JobConfig) -> JobConfig:
    """Parse every channel the way the recipe will, so bad data fails before any model loads. Returns the job
    with what the data check noticed added to its notices (the recipe logs them)."""
    notices = [n for n in job.read_splits().notices if n not in job.notices]
    return dataclasses.replace(job, notices=[*job.notices, *notices])


# --- internals -------------------------------------------------------------------------------------------


def _launch(job: JobConfig, layout: JobLayout, *, detach: bool, resume: bool) -> int:
    store = JobStore()
    command = recipe_command(job, resume=resume)
    try:
        if _spans_processes(job):
            prepare_model(job)
    except UserError as err:
        store.set_status(job.job_name, "Failed", str(err))
        raise
    try:
        if detach:
            with layout.logs.open("ab") as log:  # the recipe logs itself; stderr catches crashes before that
                child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                         env=_child_env(), start_new_session=True)
        else:
            child = subprocess.Popen(command, env=_child_env())
    except OSError as err:
        store.set_status(job.job_name, "Failed", f"could not start the training process: {err}")
        raise UserError(f"could not start the training process for '{job.job_name}': {err}") from err
    store.set_process(job.job_name, child.pid, process_identity(child.pid))
    _children[job.job_name] = child
    if detach:
        return 0
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the recipe got the Ctrl-C too: let it write its checkpoint and stop
        child.send_signal(signal.SIGINT)
        code = child.wait()
    settle_child(job.job_name)
    return code


def prepare_model(job: JobConfig) -> None:
    """Fill the model cache (GGUF conversion, tiny-random build, download) once, here, before torchrun starts
    the ranks, so that every rank finds it complete. On several machines each node's launcher does this for its
    own FMTUNE_HOME (on a shared one, the first fills it and the others wait on its lock)."""
    from fmtune.models.source import materialize, resolve_source

    materialize(resolve_source(job.model, tiny_random=job.tiny_random))


def _spans_processes(job: JobConfig) -> bool:
    return job.launch.nproc_per_node > 1 or job.launch.nnodes > 1


def settle_child(name: str) -> None:
    """If a process we started has exited without recording an end, record why (with its exit code)."""
    child = _children.get(name)
    if child is None or child.poll() is None:
        return
    del _children[name]
    store = JobStore()
    record = store.get(name, reconcile=False)
    if record is None or not record.active or record.pid != child.pid:
        return
    code = child.returncode
    if code == 0:  # a worker node of a multi-node job: it trained its share; node rank 0 records the job
        store.set_status(name, "Completed", force=True)
        return
    detail = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    store.set_status(name, "Failed", died_reason(name, f"{detail} before it recorded a result; see logs.txt"))


def _wait_gone(name: str, record: JobRecord, timeout: float) -> bool:
    assert record.pid is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = _children.get(name)
        if child is not None:
            child.poll()  # reap it if it is ours, so it does not linger as a zombie
        if process_state(record.pid, record.proc_start) != "alive":
            return True
        time.sleep(0.1)
    return False


def _signal(pid: int, sig: signal.Signals) -> None:
    """The whole process group when the job leads one (detached jobs do), else the process alone
    (a foreground job shares the group of the terminal that started it)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _child_env() -> dict[str, str]:
    """The recipe imports this same fmtune, also when it is used from a source tree (PYTHONPATH=src)."""
    env = dict(os.environ)
    package_root = str(Path(fmtune.__file__).resolve().parents[1])
    if package_root not in {str(Path(p).resolve()) for p in site.getsitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _config_dict(job: JobConfig) -> dict:
    return json.loads(job.to_json())
