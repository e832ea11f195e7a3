"""Fine-tune an encoder-decoder (text2text) model such as Flan-T5 with LoRA on prompt → completion pairs.

    python -m fmtune.recipes.seq2seq --job-dir DIR      (the runner starts this for text2text models)

The prompt goes to the encoder, the completion (+ EOS) is the decoder's target. Domain adaptation on
raw text has no encoder-decoder objective here: the text2text task's rules (fmtune.tasks.text) refuse it
before this runs.
"""

from __future__ import annotations

import sys
from typing import Any

from fmtune.data.batching import collate_seq2seq
from fmtune.data.encode import encode_split
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.models.loading import lora_targets_for, make_trainable
from fmtune.recipes.export import evaluate_outputs, save_outputs, training_losses
from fmtune.recipes.lifecycle import recipe_main
from fmtune.recipes.setup import load_base, log_model, plan_memory, prompt_format_for, set_up
from fmtune.tasks.text import read_splits
from fmtune.training.distributed import shard
from fmtune.training.joblog import JobLog
from fmtune.training.loop import TrainingRun, fit
from fmtune.training.losses import seq2seq_loss_sum
from fmtune.training.stop import StopRequest


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, "fmtune.recipes.seq2seq", argv)


def run(job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, resume: bool = False) -> None:
    setup = set_up(job, log)
    hp, card, tokenizer = setup.hp, setup.card, setup.tokenizer
    splits = read_splits(job, "instruction")
    encoded = []
    for records in (splits.train, splits.validation):
        examples, stats = encode_split(records, "instruction", tokenizer, setup.max_length,
                                       workers=hp.preprocessing_num_workers, seq2seq=True)
        if stats.truncated:
            log(f"{stats.truncated} of {stats.examples} examples had a prompt or completion longer than "
                f"max_input_length={setup.max_length} and were truncated.")
        encoded.append(examples)
    train_set, val_set = encoded
    log(f"data: prompt → completion; {len(train_set)} training / {len(val_set)} validation pairs "
        f"(validation: {splits.validation_source}); max_input_length={setup.max_length}")
    plan_memory(setup, train_set, log)

    model = load_base(setup, seq2seq=True)
    targets = lora_targets_for(model, card.lora_target_modules if card else None)
    model = make_trainable(model, hp, targets, task_type="SEQ_2_SEQ_LM",
                           gradient_checkpointing=setup.gradient_checkpointing)
    log_model(model, hp, targets, log, setup.gradient_checkpointing)
    model = shard(model, setup.dist)

    pad_id = tokenizer.pad_token_id
    state = fit(TrainingRun(
        job_name=job.job_name, model=model, train_set=train_set, val_set=val_set, hp=hp, device=setup.device,
        bf16=setup.bf16, collate=lambda examples: collate_seq2seq(examples, pad_id), loss_sum=seq2seq_loss_sum,
        layout=layout, log=log, stop=stop, dist=setup.dist,
        bf16_weight_copies=setup.bf16_weight_copies,
    ), resume=resume)

    prompt_format = prompt_format_for("instruction", splits.template, hp.add_input_output_demarcation_key, None,
                                      tokenizer, card, job.model)
    def rebuild() -> Any:  # an unsharded copy to export into, when training ran under FSDP
        return make_trainable(load_base(setup, seq2seq=True), hp, targets, task_type="SEQ_2_SEQ_LM")

    save_outputs(model, setup, prompt_format, layout, log, rebuild, seq2seq=True)
    del model  # evaluation loads the saved model and the base, one at a time
    evaluate_outputs(setup, splits.validation, prompt_format, layout, log, stop, seq2seq=True,
                     known=training_losses(state, layout, val_set, setup))


if __name__ == "__main__":
    sys.exit(main())
