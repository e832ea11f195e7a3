"""Many readers while jobs write: two job processes write their status over and over (and register more
jobs) while `fmtune jobs list` runs in a loop in other processes. Nobody may see "database is locked"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fmtune.jobs.store import JobStore

SRC = Path(__file__).parents[2] / "src"
ROUNDS = 60

WRITER = """
import json, sys, time
from pathlib import Path
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import JobStore, mark

job_dir, go, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
layout, store = JobLayout(job_dir), JobStore()
for i in range(rounds):
    mark(layout, "InProgress")          # what the recipe does: status.json + its store row
    with layout.metrics.open("a") as f:
        f.write(json.dumps({"epoch": i, "eval_loss": 1.0 / (i + 1)}) + "\\n")
    mark(layout, "Stopped")
    store.add(f"{job_dir.name}-extra-{i}", str(job_dir.parent / f"x{i}"), "m", {"job_name": "x"})
mark(layout, "InProgress")
mark(layout, "Completed")
"""

READER = """
import contextlib, io, json, sys, time
from pathlib import Path
from fmtune.cli.main import main

go, done = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
runs = 0
while not done.exists() or runs < 5:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["jobs", "list", "--json"])
    assert code == 0, code
    json.loads(out.getvalue())
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["jobs", "describe", "writer-a"]) == 0
    runs += 1
print(runs)
"""


def python(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "FMTUNE_HOME": str(home), "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_writers_and_concurrent_jobs_list_readers_never_see_a_locked_database(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("FMTUNE_HOME", str(home))
    store = JobStore()
    job_dirs = []
    for name in ("writer-a", "writer-b"):
        job_dir = tmp_path / "jobs" / name
        job_dir.mkdir(parents=True)
        (job_dir / "config.json").write_text(json.dumps({"job_name": name, "model": "m"}))
        store.add(name, str(job_dir), "m", {"job_name": name})
        job_dirs.append(job_dir)
    # A job whose process is gone: the first reader to see it writes Failed (readers write too).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    store.add("dead", str(tmp_path / "jobs" / "dead"), "m", {})
    store.set_process("dead", dead.pid, None)

    go, done = tmp_path / "go", tmp_path / "done"
    writers = [python(home, "-c", WRITER, str(d), str(go), str(ROUNDS)) for d in job_dirs]
    readers = [python(home, "-c", READER, str(go), str(done)) for _ in range(2)]
    time.sleep(1.0)  # let every process import fmtune, so that they all start together
    go.touch()
    cli_runs = []
    while any(w.poll() is None for w in writers):  # and the real command, start to end, meanwhile
        cli_runs.append(subprocess.run([sys.executable, "-m", "fmtune.cli.main", "jobs", "list"],
                                       env={**os.environ, "FMTUNE_HOME": str(home), "PYTHONPATH": str(SRC)},
                                       capture_output=True, text=True, timeout=60))
    done.touch()
    results = [(p, *p.communicate(timeout=120)) for p in writers + readers]

    for process, _out, err in results:
        assert "locked" not in err and "Traceback" not in err, err
        assert process.returncode == 0, err
    for run in cli_runs:
        assert run.returncode == 0 and "locked" not in run.stderr, run.stderr
    reader_rounds = [int(out.split()[-1]) for _, out, _ in results[2:]]
    assert min(reader_rounds) >= 5 and cli_runs, (reader_rounds, len(cli_runs))

    records = {r.name: r for r in store.list_jobs()}
    assert len(records) == 3 + 2 * ROUNDS
    assert records["writer-a"].status == records["writer-b"].status == "Completed"
    assert records["dead"].status == "Failed" and "died unexpectedly" in records["dead"].failure_reason
