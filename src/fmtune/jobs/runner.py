"""Start, stop, resume and delete jobs. A job runs its recipe in its own process (the one code path that
trains); the job store row says where it stands, and the recipe keeps that row current itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import sys
import time
from pathlib import Path

import fmtune
from fmtune import process
from fmtune.errors import UserError
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import DIED, JobRecord, JobStore, died_reason
from fmtune.tasks import get_task

STOP_GRACE_S = 120.0  # SageMaker's StopTrainingJob also gives the job 120 s after SIGTERM
POLL_S = 0.5

def prepare_job_dir(job: JobConfig) -> JobLayout:
    layout = JobLayout(Path(job.job_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    job.save(layout.config)
    layout.write_status("Pending", None, os.getpid())  # marks the folder as a job's from the start
    return layout


def recipe_command(job: JobConfig, resume: bool = False) -> list[str]:
    """The recipe as a module; under torchrun (`torch.distributed.run`) when the job spans several processes."""
    recipe = ["-m", get_task(job.task).recipe, "--job-dir", job.job_dir, *(["--resume"] if resume else [])]
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
        process.terminate(process.Handle(record.pid, record.proc_start), grace)
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
        if not JobLayout(job_dir).is_job() and any(job_dir.iterdir()):
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
    try:  # detached: the recipe writes logs.txt itself; its stderr (a crash before that) lands there too
        child = process.start(command, env=_child_env(), detach=detach, log=layout.logs, log_stdout=False)
    except OSError as err:
        store.set_status(job.job_name, "Failed", f"could not start the training process: {err}")
        raise UserError(f"could not start the training process for '{job.job_name}': {err}") from err
    store.set_process(job.job_name, child.pid, process.process_identity(child.pid))
    if detach:
        return 0
    try:
        code = process.wait(child.pid)
    except KeyboardInterrupt:  # the recipe got the Ctrl-C too: let it write its checkpoint and stop
        child.send_signal(signal.SIGINT)
        code = child.wait()
    _record_exit(job.job_name, child.pid, code)
    return code


def prepare_model(job: JobConfig) -> None:
    """Fill the model cache (GGUF conversion, tiny-random build, download) once, here, before torchrun starts
    the ranks, so that every rank finds it complete. On several machines each node's launcher does this for its
    own FMTUNE_HOME (on a shared one, the first fills it and the others wait on its lock)."""
    from fmtune.models.source import materialize

    materialize(job.model_source())


def _spans_processes(job: JobConfig) -> bool:
    return job.launch.nproc_per_node > 1 or job.launch.nnodes > 1


def settle_child(name: str) -> None:
    """If a process we started for this job has exited without recording an end, record why (before a read
    of the store would call it "died unexpectedly")."""
    record = JobStore().get(name, reconcile=False)
    code = process.exit_code(record.pid) if record is not None and record.pid is not None else None
    if code is not None:
        _record_exit(name, record.pid, code)


def _record_exit(name: str, pid: int, code: int) -> None:
    store = JobStore()
    record = store.get(name, reconcile=False)
    if record is None or not record.active or record.pid != pid:
        return  # the recipe recorded its own end (the usual case)
    if code == 0:  # a worker node of a multi-node job: it trained its share; node rank 0 records the job
        store.set_status(name, "Completed", force=True)
        return
    detail = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    store.set_status(name, "Failed", died_reason(name, f"{detail} before it recorded a result; see logs.txt"))


def _child_env() -> dict[str, str]:
    """The recipe imports this same fmtune, also when it is used from a source tree (PYTHONPATH=src)."""
    env = dict(os.environ)
    package_root = str(Path(fmtune.__file__).resolve().parents[1])
    if package_root not in {str(Path(p).resolve()) for p in site.getsitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _config_dict(job: JobConfig) -> dict:
    return json.loads(job.to_json())
