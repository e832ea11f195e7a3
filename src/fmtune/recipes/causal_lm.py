"""Fine-tune a decoder-only LM with LoRA: domain adaptation, instruction tuning or chat.

    python -m fmtune.recipes.causal_lm --job-dir DIR      (the runner starts this; DIR/config.json is the job)

setup (data → tokens → model + LoRA) → evaluate → for each epoch: train, evaluate, keep the best →
save the best adapter and the merged model, with the prompt format the model was trained on.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F

from fmtune.catalog.formats import chat_template_for, stop_strings_for
from fmtune.config.hyperparameters import Hyperparameters
from fmtune.config.job import JobConfig
from fmtune.data.batching import collate
from fmtune.data.channels import Splits, cap, data_mode
from fmtune.data.encode import (
    IGNORE_INDEX,
    Encoded,
    cut_blocks,
    document_ids,
    encode_chat,
    encode_in_workers,
    encode_prompt_completion,
)
from fmtune.data.prompting import PromptFormat, end_of_turn_ids
from fmtune.errors import UserError
from fmtune.jobs.layout import JobLayout
from fmtune.models.loading import lora_targets_for, make_trainable
from fmtune.recipes.common import load_base, log_model, read_splits, recipe_main, save_outputs, set_up
from fmtune.training.distributed import shard
from fmtune.training.joblog import JobLog
from fmtune.training.loop import TrainingRun, fit
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
    splits = read_splits(job, hp, mode)
    train_set, val_set = encode_splits(splits, mode, tokenizer, setup.max_length, hp, chat_template, log)
    log(f"data: {mode}; {len(train_set)} training / {len(val_set)} validation sequences "
        f"(validation: {splits.validation_source}); max_input_length={setup.max_length}")

    model = load_base(setup)
    targets = lora_targets_for(model, card.lora_target_modules if card else None)
    model = make_trainable(model, hp, targets)
    log_model(model, hp, targets, log)
    model = shard(model, setup.dist)

    pad_id = tokenizer.pad_token_id
    fit(TrainingRun(
        job_name=job.job_name, model=model, train_set=train_set, val_set=val_set, hp=hp, device=setup.device,
        bf16=setup.bf16, collate=lambda examples: collate(examples, pad_id), loss_sum=causal_loss_sum,
        layout=layout, log=log, stop=stop, dist=setup.dist,
    ), resume=resume)

    prompt_format = PromptFormat(
        mode=mode,
        prompt_template=splits.template.prompt if splits.template else None,
        demarcation=hp.add_input_output_demarcation_key,
        chat_template=chat_template,
        eos_token_ids=end_of_turn_ids(tokenizer, chat_template) if mode == "chat" else [tokenizer.eos_token_id],
        stop_strings=stop_strings_for(card, tokenizer) if mode == "chat" else [],
        base_model=job.model,
    )
    def rebuild() -> Any:  # an unsharded copy to export into, when training ran under FSDP
        return make_trainable(load_base(setup), hp, targets)

    save_outputs(model, setup, prompt_format, layout, log, rebuild)


def encode_splits(
    splits: Splits, mode: str, tokenizer: Any, max_length: int, hp: Hyperparameters,
    chat_template: str | None, log: JobLog,
) -> tuple[list[Encoded], list[Encoded]]:
    workers = hp.preprocessing_num_workers
    encoded = []
    for records in (splits.train, splits.validation):
        if mode == "domain":
            docs, _ = encode_in_workers(document_ids, tokenizer, records, workers)
            encoded.append(cut_blocks(docs, max_length))
            continue
        if mode == "chat":
            examples, stats = encode_in_workers(encode_chat, tokenizer, records, workers, max_length, chat_template)
        else:
            examples, stats = encode_in_workers(encode_prompt_completion, tokenizer, records, workers, max_length)
        if stats.truncated:
            log(f"{stats.truncated} of {stats.examples} examples were longer than max_input_length={max_length} "
                f"and were truncated; {stats.dropped} had no response tokens left and were dropped.")
        encoded.append(examples)
    train, validation = encoded
    if mode == "domain":  # JumpStart caps domain data in blocks, after grouping
        train, validation = cap(train, hp.max_train_samples), cap(validation, hp.max_val_samples)
    if not train or not validation:
        which = "training" if not train else "validation"
        raise UserError(f"No {which} sequences are left after tokenization; add data or raise max_input_length.")
    return train, validation


def causal_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Sum of next-token cross-entropy over target tokens, and their count.

    Mixture-of-experts models (Mixtral) also return the router's load-balancing loss; it is added
    with the model's coefficient (per token, so it survives the division by the token count)."""
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    targets = batch["labels"][:, 1:]
    n_tokens = int((targets != IGNORE_INDEX).sum())
    loss = F.cross_entropy(
        output.logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    aux_loss = getattr(output, "aux_loss", None)
    if aux_loss is not None and model.training:
        loss = loss + model.config.router_aux_loss_coef * aux_loss.float() * n_tokens
    return loss, n_tokens


if __name__ == "__main__":
    sys.exit(main())
