"""`fmtune evaluate JOB` and `estimator.evaluate()`: an evaluation is a job of its own (job store, job folder,
report), scoring the session's trained embedded job and its base; its losses are those training measured on the
same rows; bad evaluation data is refused before any model loads, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.store import JobStore

from ..conftest import SAMPLES, TRAINED_JOB

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]
QUICK = ["--max-samples", "3", "--max-new-tokens", "16"]


def test_an_evaluation_job_scores_the_tuned_model_and_its_base(trained_embedded_job, capsys):
    assert main(["evaluate", TRAINED_JOB, *QUICK, "--job-name", "eval-of-embedded"]) == 0
    report = Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("report: "))
    record = JobStore().require("eval-of-embedded")
    assert record.status == "Completed" and report == Path(record.job_dir) / "eval" / "report.html"
    scores = json.loads((report.parent / "metrics.json").read_text())
    assert scores["samples"] == 3 and {"base", "tuned"} <= set(scores)
    # the loss over the job's own validation rows is the one training logged for them (epoch 0: the base)
    epochs = read_metrics(trained_embedded_job / "metrics.jsonl")
    assert scores["base"]["eval_loss"] == pytest.approx(epochs[0]["eval_loss"], abs=2e-3)
    assert scores["tuned"]["eval_loss"] == pytest.approx(min(e["eval_loss"] for e in epochs[1:]), abs=2e-3)
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 2  # the evaluated job's loss curve, and the score bars
    rows = [json.loads(line) for line in (report.parent / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all({"base", "tuned", "reference"} <= set(r) for r in rows)


def test_other_data_in_the_jobs_format_and_chosen_metrics(trained_embedded_job, tmp_path, capsys):
    data = tmp_path / "more.jsonl"
    data.write_text("".join((SAMPLES / "instruction" / "train" / "data.jsonl").read_text().splitlines(True)[:2]))
    assert main(["evaluate", TRAINED_JOB, "--data", str(data), "--metrics", "rougeL,bleu", "--no-compare-base",
                 *QUICK, "--job-name", "eval-other-data"]) == 0
    capsys.readouterr()
    scores = json.loads((Path(JobStore().require("eval-other-data").job_dir) / "eval" / "metrics.json").read_text())
    assert "base" not in scores and scores["samples"] == 2
    assert set(scores["tuned"]) == {"eval_loss", "perplexity", "rougeL", "bleu", "stopped"}


@pytest.mark.parametrize(("content", "name", "says"), [
    ('{"instruction": "x", "context": "y"}\n', "norefs.jsonl", "has no key 'response'"),
    ("", "empty.jsonl", "no examples found"),
    ("text\nsome words\n", "domain.csv", "unsupported file type '.csv'"),
])
def test_evaluation_data_the_job_cannot_read_is_refused(trained_embedded_job, tmp_path, capsys, content, name,
                                                        says):
    (tmp_path / name).write_text(content)
    assert main(["evaluate", TRAINED_JOB, "--data", str(tmp_path / name), "--job-name", "never"]) == 2
    assert says in capsys.readouterr().err
    assert JobStore().get("never") is None  # nothing started, nothing recorded


@pytest.mark.parametrize(("args", "says"), [
    (["no-such-job"], "is not a job"),
    ([TRAINED_JOB, "--metrics", "rougeL,bogus"], "bogus not known"),
    ([TRAINED_JOB, "--max-samples", "0"], "evaluation_samples='0': out of range"),
])
def test_what_cannot_be_evaluated_says_why(trained_embedded_job, capsys, args, says):
    assert main(["evaluate", *args]) == 2
    assert says in capsys.readouterr().err


def test_the_sdk_evaluates_an_attached_job(trained_embedded_job):
    import fmtune
    from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

    estimator = JumpStartEstimator.attach(TRAINED_JOB)
    scores = estimator.evaluate(max_samples=2, max_new_tokens=8, metrics="rougeL")
    assert scores["samples"] == 2 and "rougeL" in scores["base"] and "rougeL" in scores["tuned"]
    with pytest.raises(ValueError, match="is not a job"):  # fmtune.evaluate(JOB): the same, by job name
        fmtune.evaluate("no-such-job")
