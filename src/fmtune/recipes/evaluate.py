"""Score a finished text job (`fmtune evaluate JOB`): its saved model and its base on held-out rows.

    python -m fmtune.recipes.evaluate --job-dir DIR      (the runner starts this; DIR/config.json is the job)
"""

from __future__ import annotations

import sys

from fmtune.data.prompting import PromptFormat
from fmtune.evaluation.run import Evaluation, evaluate
from fmtune.evaluation.task import evaluation_records, trained_job
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.models.loading import effective_max_length, load_tokenizer, quiet_libraries, training_device
from fmtune.models.source import RemoteCode, materialize
from fmtune.recipes.lifecycle import recipe_main
from fmtune.tasks import get_task
from fmtune.training.joblog import JobLog
from fmtune.training.stop import StopRequest


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, "fmtune.recipes.evaluate", argv)


def run(job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, resume: bool = False) -> None:
    quiet_libraries()
    hp = job.hp
    trained, folder = trained_job(job.model)
    log(f"fmtune evaluation {job.job_name}: job {trained.job_name} ({trained.model}), "
        f"{job.channels.get('validation', 'its own validation rows')}")
    records = evaluation_records(job)
    source = trained.model_source()
    remote_code = RemoteCode(trained.trust_remote_code, trained.revision).kwargs()
    fmt = PromptFormat.load(folder.model)
    tokenizer = load_tokenizer(folder.model, **remote_code)
    max_length = effective_max_length(trained.hp.max_input_length, tokenizer,
                                      source.card.context_length if source.card else None)
    plan = Evaluation(
        folder.model, materialize(source) if hp.compare_base else None, fmt.mode if fmt else "domain",
        hp.evaluation_samples, hp.evaluation_max_new_tokens, max_length,
        fmt.eos_token_ids if fmt else [tokenizer.eos_token_id], fmt.stop_strings if fmt else [], training_device(),
        get_task(trained.task).seq2seq, fmt.chat_template if fmt else None, hp.metric_names(), remote_code,
    )
    evaluate(plan, tokenizer, records, layout, log)


if __name__ == "__main__":
    sys.exit(main())
