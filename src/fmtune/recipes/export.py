"""A recipe's outputs: adapter/ (PEFT) and model/ (merged safetensors + tokenizer + prompt format),
each written whole or not at all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch.profiler import record_function

from fmtune.atomic import staged_dir
from fmtune.data.encode import Encoded
from fmtune.data.prompting import PromptFormat
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.models.loading import load_pretrained
from fmtune.recipes.setup import Setup
from fmtune.training.checkpoint import TrainState, restore_trainable, trainable_state
from fmtune.training.joblog import JobLog
from fmtune.training.stop import StopRequest

if TYPE_CHECKING:  # the evaluation's modules load only when a job evaluates
    from fmtune.evaluation.run import KnownLosses


@record_function("fmtune: save")
def save_outputs(
    model: Any, setup: Setup, prompt_format: PromptFormat, layout: JobLayout, log: JobLog,
    rebuild: Callable[[], Any], seq2seq: bool = False,
) -> None:
    """model/ (safetensors, tokenizer, generation config, prompt format) and, for LoRA, adapter/ (PEFT).

    LoRA over a quantized base is merged into a freshly loaded full-precision base, so that the exported
    model holds de-quantized weights + the adapter, not a lossy merge into 8/4-bit weights. A model
    sharded with FSDP is gathered and exported from an unsharded copy built by `rebuild`."""
    tokenizer = setup.tokenizer
    if setup.dist.active:
        weights = trainable_state(model)  # collective: every process gathers, the main one exports
        if not setup.dist.is_main:
            return
        model = rebuild()
        restore_trainable(model, weights)
    if setup.hp.peft_type == "lora":
        with staged_dir(layout.adapter, replace=True) as folder:  # whole or absent, also on a full disk
            model.save_pretrained(folder, safe_serialization=True)
            tokenizer.save_pretrained(folder)
            prompt_format.save(folder)
        if setup.hp.quantization:
            from peft import PeftModel

            base = load_pretrained(setup.model_dir, setup.device, seq2seq=seq2seq, **setup.remote_code)
            model = PeftModel.from_pretrained(base, layout.adapter)
        model = merge_lora(model)
    model.config.use_cache = True
    generation = copy.deepcopy(model.generation_config)
    generation.eos_token_id = prompt_format.eos_token_ids
    generation.pad_token_id = tokenizer.pad_token_id
    model.generation_config = generation
    with staged_dir(layout.model, replace=True) as folder:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        prompt_format.save(folder)
    saved = f"adapter to {layout.adapter} and merged model" if setup.hp.peft_type == "lora" else "model"
    log(f"saved {saved} to {layout.model}")


def merge_lora(model: Any) -> Any:
    """peft's merge_and_unload, each LoRA layer's base weight first copied into memory of its own: peft adds the
    update in place, and the base weights are memory-mapped from their safetensors file, where a first write copies
    the weight one 4 KiB page at a time (merging SmolLM2-135M's 210 LoRA layers took 1.0 s that way on a 2-core AMD
    EPYC, 0.3 s with the copies)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            weight = module.get_base_layer().weight
            weight.data = weight.data.clone()
    return model.merge_and_unload()


def training_losses(state: TrainState, layout: JobLayout, rows: list[Encoded], setup: Setup) -> KnownLosses | None:
    """The validation losses training measured that the evaluation would measure again on the same rows: the
    untrained model's (epoch 0) and the kept epoch's. None where they are not the evaluation's numbers: a quantized
    base (training scored its 8/4-bit weights, the evaluation loads full precision) or bf16 validation (GPUs)."""
    from fmtune.evaluation.run import KnownLosses

    if setup.hp.quantization or (setup.bf16 and setup.device.type == "cuda"):
        return None
    base = [r["eval_loss"] for r in read_metrics(layout.metrics)
            if r.get("epoch") == 0 and r.get("eval_loss") is not None]
    return KnownLosses(rows, {"tuned": state.best_loss, **({"base": base[-1]} if base else {})})


@record_function("fmtune: evaluation")
def evaluate_outputs(setup: Setup, records: list, prompt_format: PromptFormat, layout: JobLayout, log: JobLog,
                     stop: StopRequest, chat_template: str | None = None, seq2seq: bool = False,
                     known: KnownLosses | None = None) -> None:
    """After the outputs are saved: the saved model and its base are scored on the held-out rows (fmtune.evaluation),
    into eval/ and eval/report.html. The model is safe on disk first, so a problem here never costs the training.
    `known`: the validation losses training measured (`training_losses`), not computed twice."""
    from fmtune.evaluation.run import Evaluation, evaluate

    hp = setup.hp
    if not hp.evaluation_samples or not setup.dist.is_main:
        return
    if setup.dist.active:
        log("evaluation: not run inside a multi-process (FSDP) job in this version; run `fmtune evaluate JOB` after it")
        return
    plan = Evaluation(layout.model, setup.model_dir, prompt_format.mode, hp.evaluation_samples,
                      hp.evaluation_max_new_tokens, setup.max_length, prompt_format.eos_token_ids,
                      prompt_format.stop_strings, setup.device, seq2seq, chat_template, remote_code=setup.remote_code,
                      known=known)
    evaluate(plan, setup.tokenizer, records, layout, log, stop=stop)
