"""Fine-tune a decoder-only LM with LoRA: domain adaptation, instruction tuning or chat.

    python -m fmtune.recipes.causal_lm --job-dir DIR      (the runner starts this; DIR/config.json is the job)

setup (data → tokens → model + LoRA) → evaluate → for each epoch: train, evaluate, keep the best →
save the best adapter and the merged model, with the prompt format the model was trained on.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.config.job import JobConfig
from fmtune.data.batching import collate, evaluation_batches, training_batches
from fmtune.data.channels import Splits, cap, data_mode, load_splits
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
from fmtune.models.loading import (
    apply_lora,
    autocast,
    count_parameters,
    effective_max_length,
    load_causal_lm,
    load_tokenizer,
    lora_targets_for,
    quiet_libraries,
    training_device,
    use_bf16,
)
from fmtune.models.source import materialize, resolve_source
from fmtune.training.joblog import JobLog
from fmtune.training.metrics import append_metrics, jumpstart_lines, perplexity
from fmtune.training.progress import Progress

LR_DECAY_PER_EPOCH = 0.85  # llama-recipes' StepLR(gamma=0.85), which JumpStart's Llama 2 training uses
MAX_GRAD_NORM = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fmtune.recipes.causal_lm")
    parser.add_argument("--job-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    layout = JobLayout(args.job_dir)
    job = JobConfig.load(layout.config)
    log = JobLog(layout.logs)
    try:
        run(job, layout, log)
        layout.mark_completed()
        return 0
    except UserError as err:
        log(f"ERROR: {err}")
        layout.mark_failed(str(err))
        return err.exit_code
    except Exception as err:  # a bug or a crash: keep the traceback in the log for the report
        log("".join(traceback.format_exception(err)).rstrip())
        layout.mark_failed(f"{type(err).__name__}: {err}")
        return 1
    finally:
        log.close()


def run(job: JobConfig, layout: JobLayout, log: JobLog) -> None:
    quiet_libraries()
    hp = job.hp
    source = resolve_source(job.model)
    card = source.card
    seed_everything(hp.seed)
    device = training_device()
    bf16 = use_bf16(hp.precision, device)
    log(f"fmtune job {job.job_name}: {job.model} on {device.type} ({'bf16 autocast' if bf16 else 'fp32'})")
    if hp.enable_fsdp:
        log("enable_fsdp=True: this run has a single process, so there is nothing to shard; training unsharded.")

    model_dir = materialize(source)
    tokenizer = load_tokenizer(model_dir)
    context = card.context_length if card else None
    max_length = effective_max_length(hp.max_input_length, tokenizer, context)
    mode = data_mode(hp.instruction_tuned, hp.chat_dataset)
    chat_template = None  # the tokenizer's own chat template
    if mode == "chat" and not tokenizer.chat_template:
        raise UserError(
            f"{job.model}: its tokenizer has no chat template, so chat_dataset=True cannot render "
            "conversations; use instruction_tuned=True with prompt/completion rows instead."
        )
    splits = load_splits(
        {k: Path(v) for k, v in job.channels.items()},
        mode,
        task=job.task,
        demarcation=hp.add_input_output_demarcation_key,
        validation_split_ratio=hp.validation_split_ratio,
        train_data_split_seed=hp.train_data_split_seed,
        max_train_samples=hp.max_train_samples,
        max_val_samples=hp.max_val_samples,
    )
    train_set, val_set = encode_splits(splits, mode, tokenizer, max_length, hp, chat_template, log)
    log(f"data: {mode}; {len(train_set)} training / {len(val_set)} validation sequences "
        f"(validation: {splits.validation_source}); max_input_length={max_length}")

    model = load_causal_lm(model_dir, device)
    targets = lora_targets_for(model, card.lora_target_modules if card else None)
    model = apply_lora(model, hp, targets)
    trainable, total = count_parameters(model)
    log(f"model: {total / 1e6:.1f}M parameters, LoRA r={hp.lora_r} alpha={hp.lora_alpha} on {targets}: "
        f"{trainable / 1e6:.2f}M trainable ({100 * trainable / total:.2f}%)")

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.learning_rate,
                                  weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY_PER_EPOCH)
    pad_id = tokenizer.pad_token_id

    started = time.monotonic()
    with autocast(device, bf16):
        eval_loss = evaluate(model, val_set, hp.per_device_eval_batch_size, pad_id, device)
    record_epoch(layout, log, 0, None, eval_loss, started)
    best_loss, best_epoch, best_state = math.inf, 0, None
    for epoch in range(1, hp.epoch + 1):
        started = time.monotonic()
        with autocast(device, bf16):
            train_loss = train_epoch(model, optimizer, train_set, hp, pad_id, device, epoch)
            eval_loss = evaluate(model, val_set, hp.per_device_eval_batch_size, pad_id, device)
        scheduler.step()
        record_epoch(layout, log, epoch, train_loss, eval_loss, started)
        if eval_loss < best_loss:
            best_loss, best_epoch, best_state = eval_loss, epoch, trainable_state(model)
    if best_state is not None and best_epoch != hp.epoch:
        model.load_state_dict(best_state, strict=False)
    log(f"best epoch: {best_epoch} (eval_epoch_loss={best_loss:.6f})")

    prompt_format = PromptFormat(
        mode=mode,
        prompt_template=splits.template.prompt if splits.template else None,
        demarcation=hp.add_input_output_demarcation_key,
        chat_template=chat_template,
        eos_token_ids=end_of_turn_ids(tokenizer, chat_template) if mode == "chat" else [tokenizer.eos_token_id],
        base_model=job.model,
    )
    save_outputs(model, tokenizer, prompt_format, layout, log)


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


def token_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Sum of next-token cross-entropy over target tokens, and their count."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss, int((targets != IGNORE_INDEX).sum())


def train_epoch(
    model: Any, optimizer: torch.optim.Optimizer, examples: list[Encoded], hp: Hyperparameters,
    pad_id: int, device: torch.device, epoch: int,
) -> float:
    """One pass; gradients are token-weighted across the accumulated micro-batches. Returns mean loss."""
    model.train()
    batches = list(training_batches(examples, hp.per_device_train_batch_size, hp.seed, epoch))
    accumulation = hp.gradient_accumulation_steps
    total_loss, total_tokens = 0.0, 0
    progress = Progress(len(batches), f"epoch {epoch}/{hp.epoch}")
    for group_start in range(0, len(batches), accumulation):
        group = [collate(b, pad_id) for b in batches[group_start : group_start + accumulation]]
        group_tokens = sum(int((g["labels"][:, 1:] != IGNORE_INDEX).sum()) for g in group)
        for batch in group:
            batch = {k: v.to(device) for k, v in batch.items()}
            loss_sum, n_tokens = token_loss_sum(model, batch)
            (loss_sum / max(group_tokens, 1)).backward()
            total_loss += loss_sum.item()
            total_tokens += n_tokens
            progress.step(loss=loss_sum.item() / max(n_tokens, 1), tokens=int(batch["attention_mask"].sum()))
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    progress.close()
    return total_loss / max(total_tokens, 1)


@torch.no_grad()
def evaluate(model: Any, examples: list[Encoded], batch_size: int, pad_id: int, device: torch.device) -> float:
    """Mean next-token loss over all target tokens of the validation set."""
    model.eval()
    total, count = 0.0, 0
    for chunk in evaluation_batches(examples, batch_size):
        batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items()}
        loss_sum, n_tokens = token_loss_sum(model, batch)
        total += loss_sum.item()
        count += n_tokens
    return total / max(count, 1)


def record_epoch(
    layout: JobLayout, log: JobLog, epoch: int, train_loss: float | None, eval_loss: float, started: float
) -> None:
    for line in jumpstart_lines(epoch, train_loss, eval_loss):
        log(line)
    append_metrics(layout.metrics, {
        "epoch": epoch,
        "train_loss": train_loss,
        "eval_loss": eval_loss,
        "eval_ppl": perplexity(eval_loss),
        "seconds": round(time.monotonic() - started, 3),
    })


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def save_outputs(model: Any, tokenizer: Any, prompt_format: PromptFormat, layout: JobLayout, log: JobLog) -> None:
    """adapter/ (PEFT) and model/ (LoRA merged into the base, safetensors), each with the prompt format."""
    model.save_pretrained(layout.adapter, safe_serialization=True)
    tokenizer.save_pretrained(layout.adapter)
    prompt_format.save(layout.adapter)
    merged = model.merge_and_unload()
    merged.config.use_cache = True
    generation = copy.deepcopy(merged.generation_config)
    generation.eos_token_id = prompt_format.eos_token_ids
    generation.pad_token_id = tokenizer.pad_token_id
    merged.generation_config = generation
    merged.save_pretrained(layout.model, safe_serialization=True)
    tokenizer.save_pretrained(layout.model)
    prompt_format.save(layout.model)
    log(f"saved adapter to {layout.adapter} and merged model to {layout.model}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


if __name__ == "__main__":
    sys.exit(main())
