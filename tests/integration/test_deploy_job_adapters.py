"""Several fine-tunes on one endpoint, named by job: `fmtune deploy BASE --adapter NAME=JOB ...`."""

from __future__ import annotations

import json

import pytest

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.cli.main import main
from fmtune.jobs.artifacts import load_for_generation
from fmtune.models.generate import generate
from fmtune.serve import find_endpoint, stop_endpoint

from ..conftest import SAMPLES, TRAINED_JOB

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

QUESTION = "What does the `json.dumps` function do?"


def train(name: str, learning_rate: str) -> None:
    argv = ["train", "--training", str(SAMPLES / "instruction" / "train"), "-H", "instruction_tuned=True",
            "-H", "epoch=1", "-H", "max_train_samples=4", "-H", "max_val_samples=2", "-H", "max_input_length=96",
            "-H", f"learning_rate={learning_rate}", "--job-name", name]
    assert main(argv) == 0


def test_adapters_named_by_job_serve_what_each_job_learned(trained_embedded_job, capsys):
    train("sql-job", "0.003")  # the other: the session's trained job, on other rows at another rate
    assert main(["deploy", DEFAULT_MODEL_ID, "--adapter", f"support={TRAINED_JOB}", "--adapter", "sql=sql-job",
                 "--name", "two-jobs", "--port", "0", "--detach"]) == 0
    out = capsys.readouterr().out
    key = out.split("API key (made for this endpoint): ")[1].split()[0]
    endpoint = find_endpoint("two-jobs", key)
    assert endpoint is not None
    try:
        client = endpoint.client()
        assert client.models() == [DEFAULT_MODEL_ID, "support", "sql"]
        assert main(["endpoints", "list", "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["adapters"] == ["support", "sql"]
        for adapter, job in (("support", TRAINED_JOB), ("sql", "sql-job")):
            loaded = load_for_generation(job)  # the job's merged model, prompted as it was trained
            expected = generate(loaded, QUESTION, max_new_tokens=8)
            prompt = loaded.prompt_format.render(loaded.tokenizer, QUESTION)
            answer = client.complete(prompt, model=adapter, max_tokens=8, temperature=0)
            assert answer["model"] == adapter
            assert answer["choices"][0]["text"].strip() == expected.strip(), adapter
    finally:
        stop_endpoint(endpoint)


def test_an_adapter_naming_an_unknown_job_is_exit_2(capsys):
    code = main(["deploy", DEFAULT_MODEL_ID, "--adapter", "x=no-such-job", "--port", "0", "--detach"])
    assert code == 2
    assert "adapter 'no-such-job' is neither a folder with adapter_config.json nor a finished job" in \
        capsys.readouterr().err
