"""eval/report.html from a job folder's files: every section, escaped text, embedded plots, a plain-text summary,
`fmtune report`, and no torch or transformers imported to draw it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fmtune.cli.main import main
from fmtune.evaluation.metrics import sample_scores
from fmtune.evaluation.report import render, summary, write_report
from fmtune.jobs.layout import JobLayout


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def job_folder(root: Path, with_rows: bool = True) -> JobLayout:
    """A finished job's files as training and evaluation write them."""
    layout = JobLayout(root)
    (root / "eval").mkdir(parents=True)
    layout.config.write_text(json.dumps({"job_name": "my-job", "model": "some-model", "task": "text-generation"}))
    write_lines(layout.steps, [{"epoch": 1, "step": s, "total_steps": 4, "loss": 3 - s / 4, "time": s}
                               for s in range(1, 5)])
    write_lines(layout.metrics, [{"epoch": 0, "train_loss": None, "eval_loss": 3.4}, {"epoch": 1, "train_loss": 2.9,
                                                                                      "eval_loss": 2.9}])
    rows = [{"origin": f"v.jsonl:{i}", "input": f"<script>alert({i})</script> question {i}", "reference": "the answer",
             "base": "no idea", "tuned": "the answer" if i else "an answer", "base_stopped": False,
             "tuned_stopped": True, "base_scores": sample_scores("no idea", "the answer"),
             "tuned_scores": sample_scores("the answer" if i else "an answer", "the answer")} for i in range(4)]
    write_lines(layout.evaluation / "predictions.jsonl", rows if with_rows else [])
    scores = {"samples": 4 if with_rows else 0, "max_new_tokens": 64,
              "base": {"eval_loss": 3.4, "perplexity": 30.0, **({"rougeL": 0.0, "bleu": 0.0, "stopped": 0.0}
                                                                  if with_rows else {})},
              "tuned": {"eval_loss": 2.9, "perplexity": 18.2, **({"rougeL": 0.9, "bleu": 70.0, "stopped": 1.0}
                                                                   if with_rows else {})}}
    (layout.evaluation / "metrics.json").write_text(json.dumps(scores))
    return layout


def test_the_report_has_every_section_with_the_inputs_escaped(tmp_path):
    page = render(job_folder(tmp_path / "job"))
    for section in ("Did the fine-tune help?", "<h2>Training</h2>", "Scores: base and tuned", "Side by side",
                    "Best 3", "Worst 3", "Inputs", "Ground Truth", "Response from non-finetuned model",
                    "Response from fine-tuned model", "How it is computed"):
        assert section in page, section
    assert page.count("data:image/png;base64,") == 2  # the loss curve and the score bars
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "3.4000 → <b>2.9000</b>" in page  # the headline: validation loss base → tuned
    assert "hit the length cap" in page  # the base never stopped by itself


def test_a_job_without_references_reports_its_losses(tmp_path):
    page = render(job_folder(tmp_path / "job", with_rows=False))
    assert "No generations" in page and "validation loss" in page and "Side by side" not in page


def test_the_summary_is_the_gist_in_plain_text(tmp_path):
    text = summary(job_folder(tmp_path / "job"), rows=2)
    lines = text.splitlines()
    assert lines[0].split() == ["base", "tuned"]
    assert any(line.split()[-2:] == ["0.000", "0.900"] for line in lines if line.startswith("ROUGE-L"))
    assert text.count("reference: the answer") == 2


def test_drawing_a_report_imports_neither_torch_nor_transformers(tmp_path):
    layout = job_folder(tmp_path / "job")
    code = ("import sys; from pathlib import Path; from fmtune.evaluation.report import write_report; "
            "from fmtune.jobs.layout import JobLayout; "
            f"write_report(JobLayout(Path({str(layout.root)!r}))); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert layout.report.stat().st_size > 10_000


def test_fmtune_report_prints_the_path_and_redraws_it(tmp_path, capsys):
    layout = job_folder(tmp_path / "job")
    layout.status_file.write_text(json.dumps({"status": "Completed"}))
    assert main(["report", str(layout.root)]) == 0
    assert capsys.readouterr().out.strip() == str(layout.report)
    assert "Did the fine-tune help?" in layout.report.read_text()


@pytest.mark.parametrize("made", [False, True])
def test_fmtune_report_without_an_evaluation_says_why(tmp_path, capsys, made):
    folder = tmp_path / "job"
    if made:  # a job folder, but no eval/ yet
        folder.mkdir()
        JobLayout(folder).status_file.write_text(json.dumps({"status": "InProgress"}))
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert ("has no evaluation yet" if made else "is not a job") in err


def test_write_report_replaces_the_file_whole(tmp_path):
    layout = job_folder(tmp_path / "job")
    first = write_report(layout).read_text()
    assert write_report(layout).read_text().split("written")[0] == first.split("written")[0]
