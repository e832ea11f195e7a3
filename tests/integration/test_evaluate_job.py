"""`fmtune evaluate JOB` and `estimator.evaluate()`: an evaluation is a job of its own (job store, job folder,
report), scoring the session's trained embedded job and its base; its losses are those training measured on the
same rows; bad evaluation data is refused before any model loads, exit code 2."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.store import JobStore
from fmtune.training.stop import JobStopped, StopRequest

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


def _rows(tmp_path: Path, count: int) -> Path:
    """The first `count` rows of the sample instruction data, in a folder of their own."""
    folder = tmp_path / "rows"
    folder.mkdir()
    lines = (SAMPLES / "instruction" / "train" / "data.jsonl").read_text().splitlines(True)[:count]
    (folder / "data.jsonl").write_text("".join(lines))
    return folder


def test_a_model_is_scored_alone_on_data_read_as_its_task_trains_it(trained_embedded_job, tmp_path, capsys):
    from fmtune.catalog import DEFAULT_MODEL_ID

    data = _rows(tmp_path, 3)
    assert main(["evaluate", DEFAULT_MODEL_ID, "--data", str(data), "-H", "instruction_tuned=True", *QUICK,
                 "--job-name", "eval-of-a-model"]) == 0
    capsys.readouterr()
    alone = Path(JobStore().require("eval-of-a-model").job_dir)
    scores = json.loads((alone / "eval" / "metrics.json").read_text())
    assert set(scores) >= {"tuned", "samples"} and "base" not in scores and scores["samples"] == 3
    assert {"eval_loss", "rougeL", "stopped"} <= set(scores["tuned"])
    # the same model, on the same rows, prompted the same way: the base of the job, scored beside it
    assert main(["evaluate", TRAINED_JOB, "--data", str(data), *QUICK, "--job-name", "eval-same-rows"]) == 0
    capsys.readouterr()
    beside = json.loads((Path(JobStore().require("eval-same-rows").job_dir) / "eval" / "metrics.json").read_text())
    assert scores["tuned"]["eval_loss"] == pytest.approx(beside["base"]["eval_loss"], rel=1e-4)
    assert scores["tuned"]["rougeL"] == pytest.approx(beside["base"]["rougeL"])
    page = (alone / "eval" / "report.html").read_text()
    assert "How does the model do?" in page and "Response from non-finetuned model" in page
    # an evaluation job records its progress as training does: steps of a planned total, the last one done
    steps = read_metrics(alone / "steps.jsonl")
    assert steps and steps[-1]["step"] == steps[-1]["total_steps"] == len(steps)


@pytest.mark.parametrize(("args", "says"), [
    (["HuggingFaceTB/SmolLM2-135M-Instruct-nonexistent-folder/x"], "not a job"),
    (["{model}"], "is a model, not a job"),
    (["{model}", "--data", "{data}", "-H", "instruction_tuned=True", "-H", "chat_dataset=True"],
     "the data is one or the other"),
    ([TRAINED_JOB, "-H", "instruction_tuned=True"], "is read as it was trained"),
    (["meta-textgeneration-llama-2-7b", "--data", "{data}"], "requires accepting its end-user license agreement"),
    ([TRAINED_JOB, "-H", "epochs=3"], "epochs: unknown hyperparameter"),
    ([TRAINED_JOB, "-H", "broken"], "expected KEY=VALUE"),
])
def test_what_a_model_evaluation_needs_is_said_before_it_starts(trained_embedded_job, tmp_path, capsys, args, says):
    from fmtune.catalog import DEFAULT_MODEL_ID

    data = _rows(tmp_path, 2)
    filled = [a.format(model=DEFAULT_MODEL_ID, data=data) for a in args]
    assert main(["evaluate", *filled, "--job-name", "never-started"]) == 2
    assert says in capsys.readouterr().err
    assert JobStore().get("never-started") is None


class StopAfter(StopRequest):
    """A stop that arrives once `requested` has been asked `checks` times (after that many evaluation batches)."""

    def __init__(self, checks: int):
        super().__init__()
        self.checks = checks

    @property
    def requested(self) -> bool:
        self.checks -= 1
        if self.checks < 0:
            self.signal_number = signal.SIGTERM
        return self.signal_number != 0


def test_a_stopped_evaluation_resumes_after_the_models_it_scored(trained_embedded_job, tmp_path):
    from fmtune.evaluation.task import evaluation_request
    from fmtune.jobs.start import prepare_job
    from fmtune.recipes.evaluate import run

    job = prepare_job(evaluation_request(TRAINED_JOB, None, {"evaluation_samples": 2, "evaluation_max_new_tokens": 8},
                                         "eval-stop"))
    # the job's 8 validation rows: 2 loss batches and 1 answer batch per model; the stop comes in the base's first
    stopped, plain = JobLayout(tmp_path / "stopped"), JobLayout(tmp_path / "plain")
    for layout in (stopped, plain):
        layout.root.mkdir()
    lines: list[str] = []
    with pytest.raises(JobStopped):
        run(job, stopped, lines.append, StopAfter(4))
    assert (stopped.evaluation / "scored" / "tuned.json").exists()
    assert not (stopped.evaluation / "scored" / "base.json").exists()
    assert not (stopped.evaluation / "metrics.json").exists()
    lines.clear()
    run(job, stopped, lines.append, StopRequest())
    assert any("the tuned model was scored before the stop" in line for line in lines)
    assert not any("the base model was scored before" in line for line in lines)
    run(job, plain, lambda line: None, StopRequest())
    resumed, straight = (json.loads((where.evaluation / "metrics.json").read_text()) for where in (stopped, plain))
    assert resumed == straight
    progress = read_metrics(stopped.steps)
    assert progress[-1]["step"] == progress[-1]["total_steps"] == 6


def test_an_fmtune_endpoint_judges_the_answers(trained_embedded_job, embedded_model_dir, tmp_path, monkeypatch):
    """The judge is any OpenAI-compatible server; here a real fmtune endpoint (a tiny random model: its replies
    carry no rating, which the scores must say rather than hide)."""
    from fmtune.serve.engine import Engine

    from ..serve_support import API_KEY, build_tiny_llama, serving, settings

    judge_dir = build_tiny_llama(tmp_path / "judge", embedded_model_dir, context=1024)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with serving(Engine.load(str(judge_dir), None, settings())) as server:
        assert main(["evaluate", TRAINED_JOB, "--max-samples", "2", "--max-new-tokens", "8", "--judge-url",
                     f"{server.url}/v1", "--job-name", "eval-judged"]) == 0
    folder = Path(JobStore().require("eval-judged").job_dir) / "eval"
    scores = json.loads((folder / "metrics.json").read_text())
    assert scores["judge_model"]  # the server's first model, as none was named
    for which in ("base", "tuned"):
        assert 0.0 <= scores[which]["judge_parsed"] <= 1.0
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    for row in rows:  # each answer was put to the judge and answered (not refused, not an error)
        for which in ("base", "tuned"):
            assert not row[f"{which}_judge"].startswith(("HTTP ", "request failed", "timed out", "unexpected"))
            assert "judge_score" in row[f"{which}_scores"]
    page = (folder / "report.html").read_text()
    assert "answers the judge rated" in page and f"judge: {scores['judge_model']}" in page


def test_an_unreachable_judge_is_refused_before_any_model_loads(trained_embedded_job, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["evaluate", TRAINED_JOB, "--judge-url", f"http://127.0.0.1:{port}/v1", "--job-name", "never"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and f"127.0.0.1:{port}" in err
    assert JobStore().get("never") is None


def _harness_task(folder: Path, rows: Path) -> Path:
    """An lm-evaluation-harness task over local rows (the harness's `dataset_path: json`): greedy answers, exact
    match against the reference."""
    folder.mkdir()
    (folder / "held_out_qa.yaml").write_text(
        "task: held_out_qa\ndataset_path: json\ndataset_kwargs:\n  data_files: " + str(rows) + "\n"
        "test_split: train\noutput_type: generate_until\ndoc_to_text: \"{{instruction}}\\nAnswer:\"\n"
        "doc_to_target: \"{{response}}\"\ngeneration_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 4\n"
        "  do_sample: false\nmetric_list:\n  - metric: exact_match\n    aggregation: mean\n"
        "    higher_is_better: true\n")
    return folder


def test_the_lm_evaluation_harness_runs_local_tasks_for_both_models(trained_embedded_job, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # the task's data is a local file: nothing to fetch
    tasks = _harness_task(tmp_path / "tasks", _rows(tmp_path, 2) / "data.jsonl")
    assert main(["evaluate", TRAINED_JOB, *QUICK, "--lm-eval-include", str(tasks), "--job-name", "eval-harness"]) == 0
    folder = Path(JobStore().require("eval-harness").job_dir) / "eval"
    harness = json.loads((folder / "metrics.json").read_text())["lm_eval"]
    for which in ("base", "tuned"):
        assert set(harness[which]) == {"held_out_qa"}
        assert 0.0 <= harness[which]["held_out_qa"]["exact_match"] <= 1.0
    page = (folder / "report.html").read_text()
    assert "lm-evaluation-harness" in page and "held_out_qa" in page


@pytest.mark.parametrize(("args", "says"), [
    (["--lm-eval-include", "{tmp}/missing"], "is not a folder"),
    (["--lm-eval-include", "{tmp}/tasks", "--lm-eval-tasks", "held_out_qa,nope"], "nope not defined in"),
    (["--lm-eval-tasks", "held_out_qa"], "no lm_eval_include folder"),
])
def test_harness_settings_that_cannot_run_are_refused(trained_embedded_job, tmp_path, capsys, args, says):
    _harness_task(tmp_path / "tasks", tmp_path / "rows.jsonl")
    filled = [a.format(tmp=tmp_path) for a in args]
    assert main(["evaluate", TRAINED_JOB, *filled, "--job-name", "never"]) == 2
    assert says in capsys.readouterr().err and JobStore().get("never") is None
