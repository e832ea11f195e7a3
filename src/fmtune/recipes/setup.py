"""A recipe's setup, shared by the text recipes: model source, seed, device and precision, tokenizer, the
memory preflight sized by the data, the base model, and what to log about it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from fmtune.catalog import ModelCard
from fmtune.catalog.formats import stop_strings_for
from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.channels import Mode
from fmtune.data.encode import Encoded
from fmtune.data.prompting import PromptFormat, end_of_turn_ids
from fmtune.data.templates import Template
from fmtune.errors import UserError
from fmtune.jobs.config import JobConfig
from fmtune.models import memory
from fmtune.models.attention import AttentionChoice, AttentionShape, attention_for
from fmtune.models.cpu import use_physical_cores
from fmtune.models.loading import (
    count_parameters,
    effective_max_length,
    load_pretrained,
    load_tokenizer,
    quiet_libraries,
)
from fmtune.models.memory import MemoryPlan, Shape
from fmtune.models.precision import PrecisionChoice, precision_for
from fmtune.models.source import RemoteCode, materialize
from fmtune.training.distributed import Dist, device_for, init_distributed, sum_across
from fmtune.training.joblog import JobLog


@dataclass
class Setup:
    hp: Hyperparameters
    card: ModelCard | None
    device: torch.device
    bf16: bool
    model_dir: Path
    tokenizer: Any
    max_length: int
    remote_code: dict[str, Any]  # trust_remote_code/revision for from_pretrained, when the user asked
    dist: Dist
    gradient_checkpointing: bool = False  # decided by check_memory (gradient_checkpointing=auto)
    bf16_weight_copies: bool = False  # decided by plan_memory (fmtune.models.weight_copies)
    attention: str = "default"  # training's kernel, decided by plan_memory for decoder-only LMs (models.attention)

    # config.json and what is counted from it (on meta models), once per job: precision, attention and the memory
    # plan are all sized from them before any weights load.
    @cached_property
    def model_config(self) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.model_dir, **self.remote_code)

    @cached_property
    def shape(self) -> Shape:
        return Shape.from_config(self.model_config)

    @cached_property
    def trainable_parameters(self) -> int:
        if self.hp.peft_type == "none":
            return self.shape.parameters
        if self.card and self.card.lora_target_modules:
            return memory.lora_parameter_count(self.model_config, list(self.card.lora_target_modules), self.hp.lora_r)
        return memory.approximate_lora_parameters(self.shape, 2, self.hp.lora_r)


def set_up(job: JobConfig, log: JobLog) -> Setup:
    """Resolve the model, seed, device and precision; load the tokenizer; say what is about to happen."""
    quiet_libraries()
    hp = job.hp
    source = job.model_source()
    card = source.card
    random.seed(hp.seed)
    torch.manual_seed(hp.seed)
    d = init_distributed()
    device = device_for(d)
    where = f"{d.world} processes ({'nccl' if device.type == 'cuda' else 'gloo'}), FSDP2" if d.active else device.type
    log(f"fmtune job {job.job_name}: {job.model} on {where}")
    if device.type == "cpu":
        log(f"threads: {use_physical_cores()}")
    if source.kind == "tiny-random" and card:
        log(f"weights: RANDOM (tiny-random test model of the {card.architecture} architecture of "
            f"{card.display_name}); the output is only a test of the pipeline")
    if card and card.notes and card.family == "llama-2" and "Neuron" in card.display_name:
        log(f"note: {card.notes}")
    for notice in job.notices:
        log(f"note: {notice}")
    if hp.enable_fsdp and not d.active:
        log("enable_fsdp=True with a single process: nothing to shard, training unsharded "
            "(`fmtune train --nproc N` starts N processes).")
    if d.active and not hp.enable_fsdp:
        raise UserError(f"{d.world} processes were started but enable_fsdp=False; set enable_fsdp=True.")
    model_dir = materialize(source)
    remote_code = RemoteCode(job.trust_remote_code, job.revision).kwargs()
    tokenizer = load_tokenizer(model_dir, **remote_code)
    max_length = effective_max_length(hp.max_input_length, tokenizer, card.context_length if card else None)
    setup = Setup(hp, card, device, False, model_dir, tokenizer, max_length, remote_code, d)
    setup.bf16 = decide_precision(job, setup, log)  # timed on the shapes the setup reads from config.json
    if hp.max_input_length > max_length:
        log(f"note: max_input_length={hp.max_input_length} is above this model's limit; using {max_length} "
            "(JumpStart's rule: min(max_input_length, model_max_length)).")
    return setup


def decide_precision(job: JobConfig, setup: Setup, log: JobLog) -> bool:
    """bf16 autocast or fp32 for a text model, timed on its own MLP shapes (hidden x intermediate)."""
    def measure() -> PrecisionChoice:
        return precision_for(job.hp.precision, setup.device, (setup.shape.hidden, setup.shape.intermediate))

    return precision_once_per_job(job, measure, log, setup.dist)


def precision_once_per_job(job: JobConfig, measure: Callable[[], PrecisionChoice], log: JobLog,
                           d: Dist | None = None) -> bool:
    """Whether the job trains under bf16 autocast (fmtune.models.precision), decided once per job: a resumed job
    keeps the precision its config.json recorded; all processes of a job use the same one (bf16 only if every one
    measured it faster); the main process records the decision."""
    d = d or Dist()
    if "precision" in job.decided:
        log(f"precision: {job.decided['precision']} (as this job started: {job.decided['precision_reason']})")
        return job.decided["precision"] == "bf16"
    choice = measure()
    bf16 = sum_across(d, float(choice.bf16))[0] == d.world
    if bf16 != choice.bf16:
        choice = PrecisionChoice(False, "auto: fp32, as not every process measured bf16 faster")
    log(f"precision: {'bf16 autocast' if bf16 else 'fp32'} ({choice.reason})")
    if d.is_main:
        job.record_decisions(choice.record())
    return bf16


def plan_memory(setup: Setup, examples: list[Encoded], log: JobLog, job: JobConfig | None = None) -> None:
    """Size the run from its data before any weights load: stop early if it cannot fit, and decide
    gradient_checkpointing=auto. The longest training sequence (padded batches round up to 8) bounds every
    batch, packed or padded, so a short data set with a large max_input_length is not sized for the maximum.
    One decision for all processes: under FSDP, ranks that recompute and ranks that do not would disagree on
    the collectives of the backward pass. Given the `job` (decoder-only LMs), first decide its attention kernel,
    whose memory the plan then counts."""
    longest = max(max(len(e.input_ids), len(e.labels)) for e in examples)
    length = min(setup.max_length, -(-longest // 8) * 8)
    if job is not None:
        setup.attention = decide_attention(job, setup, length, log)
    plan = check_memory(setup, length, log)
    setup.gradient_checkpointing = sum_across(setup.dist, float(plan.checkpointing))[0] > 0
    setup.bf16_weight_copies = wants_weight_copies(setup, plan)
    if setup.bf16_weight_copies:
        log(f"weights: a bf16 copy of the frozen base for training (+{plan.estimate.weights / 2 / 2**30:.2f} GiB; "
            "cast once instead of at every step, as memory is plentiful)")


def wants_weight_copies(setup: Setup, plan: MemoryPlan) -> bool:
    """bf16 autocast on CPU over a frozen, unquantized, unsharded base, where the copies fit with room to spare
    (fmtune.models.weight_copies). On GPUs such a base is loaded in bf16 in the first place."""
    hp = setup.hp
    if not (setup.bf16 and setup.device.type == "cpu" and hp.peft_type == "lora" and not hp.quantization
            and not setup.dist.active):
        return False
    if plan.checkpointing and hp.gradient_checkpointing == "auto":  # memory is short: it goes to activations first
        return False
    return plan.has_room_for(plan.estimate.weights / 2)


def decide_attention(job: JobConfig, setup: Setup, length: int, log: JobLog) -> str:
    """The attention kernel the job trains with (fmtune.models.attention). Under attention=auto, eager where
    measured faster on this machine, unless its probabilities would change the memory plan (need gradient
    checkpointing that the default kernel would not, or take the margin gradient_checkpointing=auto keeps).
    Decided once per job: a resumed job keeps what its config.json recorded."""
    if "attention" in job.decided:
        log(f"attention: {job.decided['attention']} (as this job started: {job.decided['attention_reason']})")
        return job.decided["attention"]
    shape = AttentionShape.from_config(setup.model_config, setup.hp.per_device_train_batch_size, length)
    choice = attention_for(setup.hp.attention, setup.device, shape, setup.bf16, setup.dist.active)
    if choice.eager and setup.hp.attention == "auto":
        with_eager, without = (memory_plan(setup, length, eager) for eager in (True, False))
        if with_eager.checkpointing != without.checkpointing or not with_eager.has_room_for(0):
            needs = ("gradient checkpointing" if with_eager.checkpointing != without.checkpointing else
                     "more of the memory than gradient_checkpointing=auto leaves free")
            choice = AttentionChoice("default", f"default: eager attention measured {choice.speedup:.2f}x as fast, "
                                                f"but its probabilities would need {needs}", choice.speedup)
    log(f"attention: {choice.reason}")
    if setup.dist.is_main:
        job.record_decisions(choice.record())
    return choice.implementation


def check_memory(setup: Setup, sequence_length: int, log: JobLog) -> MemoryPlan:
    """Estimate peak memory from config.json (no weights loaded) and stop early if it cannot fit.

    Returns the plan, with whether to checkpoint activations: gradient_checkpointing=auto turns it on only when
    the run without it may not fit, so that small runs keep full speed and big ones start instead of failing.
    """
    hp = setup.hp
    plan = memory_plan(setup, sequence_length, setup.attention == "eager")
    fmt = weight_format_of(setup)
    first, *rest = plan.notes(hp.gradient_checkpointing)
    log(f"memory: {setup.shape.parameters / 1e6:.1f}M parameters ({fmt}); batch {hp.per_device_train_batch_size} x "
        f"{sequence_length} tokens (the longest sequence); {first}")
    for note in rest:
        log(note)
    if not plan.fits:
        raise UserError("Not enough memory: " + memory.advice(plan.estimate, plan.available, fmt, plan.checkpointing))
    return plan


def memory_plan(setup: Setup, sequence_length: int, eager_attention: bool) -> MemoryPlan:
    """The memory plan of the run, from config.json (no weights loaded)."""
    hp = setup.hp

    def estimate_with(checkpointing: bool) -> memory.MemoryEstimate:
        return memory.estimate(
            setup.shape, trainable=setup.trainable_parameters, batch_size=hp.per_device_train_batch_size,
            sequence_length=sequence_length, weight_format=weight_format_of(setup), bf16_activations=setup.bf16,
            devices=setup.dist.world, device_type=setup.device.type, gradient_checkpointing=checkpointing,
            eager_attention=eager_attention,
        )

    return memory.plan_memory(hp.gradient_checkpointing, estimate_with, setup.device.type)


def weight_format_of(setup: Setup) -> str:
    """How the base's weights are held in training: quantized, bf16 (a frozen base on GPU) or fp32."""
    gpu_bf16 = setup.device.type == "cuda" and setup.bf16 and setup.hp.peft_type == "lora"
    return memory.weight_format(setup.hp.quantization, gpu_bf16)


def load_base(setup: Setup, seq2seq: bool = False) -> Any:
    """The base model as training needs it: quantized when asked; bf16 weights on GPU only for a frozen base."""
    hp = setup.hp
    return load_pretrained(
        setup.model_dir, setup.device, seq2seq=seq2seq, bf16=setup.bf16 and hp.peft_type == "lora",
        quantization=hp.quantization, **setup.remote_code,
    )


def log_model(model: Any, hp: Hyperparameters, targets: list[str], log: JobLog, gradient_checkpointing: bool) -> None:
    trainable, total = count_parameters(model)
    what = "full fine-tuning" if hp.peft_type == "none" else f"LoRA r={hp.lora_r} alpha={hp.lora_alpha} on {targets}"
    weights = {"int8": "8-bit base", "nf4": "4-bit NF4 base"}.get(hp.quantization or "", "")
    checkpointing = ", gradient checkpointing" if gradient_checkpointing else ""
    log(f"model: {total / 1e6:.1f}M parameters{', ' + weights if weights else ''}, {what}: "
        f"{trainable / 1e6:.2f}M trainable ({100 * trainable / total:.2f}%){checkpointing}")




def prompt_format_for(mode: Mode, template: Template | None, demarcation: bool, chat_template: str | None,
                      tokenizer: Any, card: ModelCard | None, base_model: str) -> PromptFormat:
    """How a model is prompted in `mode`: what a trained model's fmtune_format.json records, and how a model
    that fmtune did not train is prompted for its evaluation. A chat turn ends at the template's end-of-turn token
    or the format's stop strings; every other mode at EOS."""
    chat = mode == "chat"
    return PromptFormat(
        mode=mode,
        prompt_template=template.prompt if template else None,
        demarcation=demarcation,
        chat_template=chat_template,
        eos_token_ids=end_of_turn_ids(tokenizer, chat_template) if chat else [tokenizer.eos_token_id],
        stop_strings=stop_strings_for(card, tokenizer) if chat else [],
        base_model=base_model,
    )
