"""Fine-tune a decoder-only LM with LoRA: domain adaptation, instruction tuning or chat.

    python -m fmtune.recipes.causal_lm --job-dir DIR      (the runner starts this; DIR/config.json is the job)

setup (data → tokens → model + LoRA) → evaluate → for each epoch: train, evaluate, keep the best →
save the best adapter and the merged model, with the prompt format the model was trained on.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch

from fmtune.catalog.formats import chat_template_for
from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.batching import collate
from fmtune.data.channels import Splits, cap, data_mode
from fmtune.data.encode import Encoded, encode_split
from fmtune.data.packing import collate_packing, keeps_examples_apart, pack_examples
from fmtune.data.token_cache import cached, fingerprint
from fmtune.errors import UserError
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.models.attention import training_kernel
from fmtune.models.loading import lora_targets_for, make_trainable
from fmtune.models.model_checks import check_once
from fmtune.recipes.export import evaluate_outputs, save_outputs, training_losses
from fmtune.recipes.lifecycle import recipe_main
from fmtune.recipes.setup import load_base, log_model, plan_memory, prompt_format_for, set_up
from fmtune.tasks.text import read_splits
from fmtune.training.distributed import shard
from fmtune.training.joblog import JobLog
from fmtune.training.loop import TrainingRun, fit
from fmtune.training.losses import causal_loss_sum, head_loss_matches
from fmtune.training.stop import StopRequest


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, "fmtune.recipes.causal_lm", argv)


def run(job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, resume: bool = False) -> None:
    setup = set_up(job, log)
    hp, card, tokenizer = setup.hp, setup.card, setup.tokenizer
    mode = data_mode(hp.instruction_tuned, hp.chat_dataset)
    chat_template = chat_template_for(card, tokenizer)
    if mode == "chat" and not (tokenizer.chat_template or chat_template):
        raise UserError(
            f"{job.model}: its tokenizer has no chat template and the catalog has no chat format for it, so "
            "chat_dataset=True cannot render conversations; use instruction_tuned=True with prompt/completion rows."
        )
    splits = read_splits(job, mode)
    train_set, val_set = encode_splits(splits, mode, tokenizer, setup.max_length, hp, chat_template, log,
                                       setup.model_dir)
    log(f"data: {mode}; {len(train_set)} training / {len(val_set)} validation sequences "
        f"(validation: {splits.validation_source}); max_input_length={setup.max_length}")
    plan_memory(setup, train_set, log, job)

    model = load_base(setup)
    targets = lora_targets_for(model, card.lora_target_modules if card else None)
    model = make_trainable(model, hp, targets, gradient_checkpointing=setup.gradient_checkpointing)
    log_model(model, hp, targets, log, setup.gradient_checkpointing)
    with training_kernel(model, setup.attention):  # packing is checked with the kernel that will train
        packed = use_packing(model, mode, hp, setup.device, log)
    # The output layer runs chunk by chunk outside the model's forward, which FSDP's root does not unshard for.
    head_chunks = not setup.dist.active and check_once(head_loss_matches, model, setup.device)[0]
    log("loss: " + ("from the last hidden states in chunks (no full logits tensor)" if head_chunks else
                    "over the full logits (this model's logits are not a plain projection, or FSDP)"))
    model = shard(model, setup.dist)

    pad_id, max_length = tokenizer.pad_token_id, setup.max_length
    val_rows = val_set
    if packed:
        # Training packs each batch's own examples, so steps and gradients are those of padded batches.
        # Evaluation packs the whole set into rows of max_input_length: the same loss in far fewer passes.
        val_set = pack_examples(val_set, max_length)
        collate_batch = partial(collate_packing, pad_id=pad_id, max_length=max_length)
    else:
        collate_batch = partial(collate, pad_id=pad_id)
    state = fit(TrainingRun(
        job_name=job.job_name, model=model, train_set=train_set, val_set=val_set, hp=hp, device=setup.device,
        bf16=setup.bf16, collate=collate_batch, loss_sum=partial(causal_loss_sum, head_chunks=head_chunks),
        layout=layout, log=log, stop=stop, dist=setup.dist,
        bf16_weight_copies=setup.bf16_weight_copies, group_by_length=not packed and mode != "domain",
        attention=setup.attention,
    ), resume=resume)

    prompt_format = prompt_format_for(mode, splits.template, hp.add_input_output_demarcation_key, chat_template,
                                      tokenizer, card, job.model)
    def rebuild() -> Any:  # an unsharded copy to export into, when training ran under FSDP
        return make_trainable(load_base(setup), hp, targets)

    save_outputs(model, setup, prompt_format, layout, log, rebuild)
    del model  # evaluation loads the saved model and the base, one at a time
    evaluate_outputs(setup, splits.validation, prompt_format, layout, log, stop, chat_template,
                     known=training_losses(state, layout, val_rows, setup))


def encode_splits(
    splits: Splits, mode: str, tokenizer: Any, max_length: int, hp: Hyperparameters,
    chat_template: str | None, log: JobLog, tokenizer_dir: Path,
) -> tuple[list[Encoded], list[Encoded]]:
    """Token ids and labels of both splits, from the token cache when the same data was encoded the same way."""
    settings = {"mode": mode, "max_length": max_length, "chat_template": chat_template, "template": splits.template,
                "max_train_samples": hp.max_train_samples, "max_val_samples": hp.max_val_samples}
    key = fingerprint(tokenizer_dir, settings, splits.train, splits.validation)
    (train, validation), notes, from_cache = cached(
        key, lambda: encode_records(splits, mode, tokenizer, max_length, hp, chat_template)
    )
    for note in notes:
        log(note)
    if from_cache:
        log(f"tokens: from the cache ({key[:12]}: same data, tokenizer and settings as an earlier run)")
    if not train or not validation:
        which = "training" if not train else "validation"
        raise UserError(f"No {which} sequences are left after tokenization; add data or raise max_input_length.")
    return train, validation


def encode_records(
    splits: Splits, mode: str, tokenizer: Any, max_length: int, hp: Hyperparameters, chat_template: str | None,
) -> tuple[tuple[list[Encoded], list[Encoded]], list[str]]:
    """Tokenize both splits (in `preprocessing_num_workers` processes); also return what is worth logging."""
    encoded, notes = [], []
    for records in (splits.train, splits.validation):
        examples, stats = encode_split(records, mode, tokenizer, max_length, workers=hp.preprocessing_num_workers,
                                       chat_template=chat_template)
        if stats.truncated:
            notes.append(f"{stats.truncated} of {stats.examples} examples were longer than max_input_length="
                         f"{max_length} and were truncated; {stats.dropped} had no response tokens left and were "
                         "dropped.")
        encoded.append(examples)
    train, validation = encoded
    if mode == "domain":  # JumpStart caps domain data in blocks, after grouping
        train, validation = cap(train, hp.max_train_samples), cap(validation, hp.max_val_samples)
    return (train, validation), notes


def use_packing(model: Any, mode: str, hp: Hyperparameters, device: torch.device, log: JobLog) -> bool:
    """packing=True where it is exact: examples (not domain blocks, which are full already) and a model
    checked to keep packed examples apart."""
    if not hp.packing or mode == "domain":
        return False
    apart, cached = check_once(keeps_examples_apart, model, device)
    if apart:
        checked = "checked before on this model and these libraries" if cached else "checked"
        log(f"packing: on (each batch's examples share rows; {checked}: packed examples keep their own logits)")
        return True
    log(f"packing: off: {model.config.model_type} does not keep packed examples apart (its attention mask "
        "ignores position ids), so batches are padded, grouped by length")
    return False


if __name__ == "__main__":
    sys.exit(main())
