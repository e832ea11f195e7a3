"""Score a finished text job's saved model and its base — or a model as it is — on held-out rows
(`fmtune evaluate JOB|MODEL`).

    python -m fmtune.recipes.evaluate --job-dir DIR      (the runner starts this; DIR/config.json is the job)
"""

from __future__ import annotations

import sys
from typing import Any

from fmtune.catalog.formats import chat_template_for
from fmtune.data.channels import data_mode
from fmtune.data.prompting import PromptFormat
from fmtune.errors import UserError
from fmtune.evaluation.judge import JudgeSettings, check_judge
from fmtune.evaluation.run import Evaluation, evaluate
from fmtune.evaluation.task import Subject, evaluation_splits, evaluation_subject
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.models.loading import effective_max_length, load_tokenizer, quiet_libraries, training_device
from fmtune.models.source import RemoteCode, materialize
from fmtune.recipes.lifecycle import recipe_main
from fmtune.recipes.setup import prompt_format_for
from fmtune.tasks import get_task
from fmtune.training.joblog import JobLog
from fmtune.training.stop import StopRequest


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, "fmtune.recipes.evaluate", argv)


def run(job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, resume: bool = False) -> None:
    quiet_libraries()
    hp = job.hp
    subject = evaluation_subject(job)
    view = subject.view
    what = f"job {view.job_name} ({view.model})" if subject.saved else view.job_name
    log(f"fmtune evaluation {job.job_name}: {what}, {job.channels.get('validation', 'its own validation rows')}")
    splits = evaluation_splits(job)
    source = view.model_source()
    remote_code = RemoteCode(view.trust_remote_code, view.revision).kwargs()
    model_dir = materialize(source)
    seq2seq = get_task(view.task).seq2seq
    tokenizer = load_tokenizer(subject.saved.model if subject.saved else model_dir, **remote_code)
    fmt = prompt_format(subject, tokenizer, splits.template, seq2seq)
    max_length = effective_max_length(view.hp.max_input_length, tokenizer,
                                      source.card.context_length if source.card else None)
    if subject.saved is None:
        log(f"{view.model} is a model, not a job: scored alone, on the data read as its task trains it ({fmt.mode})")
    plan = Evaluation(
        subject.saved.model if subject.saved else model_dir,
        model_dir if subject.saved and hp.compare_base else None, fmt.mode, hp.evaluation_samples,
        hp.evaluation_max_new_tokens, max_length, fmt.eos_token_ids, fmt.stop_strings, training_device(),
        seq2seq, fmt.chat_template, hp.metric_names(), remote_code, judge_settings(hp.judge_url, hp.judge_model),
        (hp.lm_eval_include, hp.harness_tasks()) if hp.lm_eval_include else None,
    )
    evaluate(plan, tokenizer, splits.validation, layout, log, stop=stop, steps=layout.steps)


def prompt_format(subject: Subject, tokenizer: Any, template: Any, seq2seq: bool) -> PromptFormat:
    """A job's model is prompted as it was trained (its fmtune_format.json); a model as its task would train it."""
    if subject.saved is not None:
        saved = PromptFormat.load(subject.saved.model)
        if saved is None:
            raise UserError(f"{subject.saved.model}: no fmtune_format.json, so how the model was prompted in training "
                            "is unknown; evaluate the folder as a model instead (`fmtune evaluate "
                            f"{subject.saved.model} --data PATH`).")
        return saved
    view = subject.view
    hp = view.hp
    mode = "instruction" if seq2seq else data_mode(hp.instruction_tuned, hp.chat_dataset)
    card = view.model_source().card
    chat_template = None if seq2seq else chat_template_for(card, tokenizer)
    if mode == "chat" and not chat_template:
        raise UserError(f"{view.model}: its tokenizer has no chat template and the catalog has no chat format for it, "
                        "so conversations cannot be rendered; give prompt/completion rows (-H instruction_tuned=True).")
    return prompt_format_for(mode, template, hp.add_input_output_demarcation_key, chat_template, tokenizer, card,
                             view.model)


def judge_settings(url: str | None, model: str | None) -> JudgeSettings | None:
    """The judge the settings name; its model, when none is named, is the first the server lists."""
    if url is None:
        return None
    served = check_judge(JudgeSettings(url, model or ""))
    if model is None and not served:
        raise UserError(f"judge_url={url!r}: the server lists no models under /models; name one with --judge-model.")
    return JudgeSettings(url, model or served[0])


if __name__ == "__main__":
    sys.exit(main())
