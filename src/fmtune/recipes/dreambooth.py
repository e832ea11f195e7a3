"""DreamBooth: fine-tune Stable Diffusion on a few images of one subject (JumpStart's text-to-image task).

    python -m fmtune.recipes.dreambooth --job-dir DIR [--resume]   (the runner starts this)

check the images → with prior preservation, the class images (generated once by the base model in a pass of
its own, cached) → memory preflight → load the pipeline; LoRA on the UNet's attention or the whole UNet →
train on the noise-prediction loss, with checkpoints, previews and JumpStart-style log lines → save: the
LoRA (diffusers and kohya files), the merged pipeline, the previews.

A resumed run gives the same weights as an uninterrupted one: the order of the images depends only on
(seed, epoch), each crop on (seed, epoch, image) and each step's noise and timesteps on (seed, step).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fmtune.atomic import write_file_atomically
from fmtune.config.dreambooth import DreamBoothHyperparameters
from fmtune.data.images import ImageFolder, crop_training_image, resized_training_image
from fmtune.errors import UserError
from fmtune.evaluation.images import ImageEvaluation, evaluate_images, evaluation_prompts, fid_log_line, seeds_for
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics, record_metrics, record_step, start_records
from fmtune.models.cpu import use_physical_cores
from fmtune.models.diffusion import (
    DiffusionParts,
    encode_prompts,
    generate,
    hash_seed,
    load_parts,
    make_trainable,
    pipeline_of,
    png_bytes,
    quiet_diffusers,
)
from fmtune.models.fid import probe_inception
from fmtune.models.loading import free_memory, quiet_libraries, training_device
from fmtune.models.precision import precision_for
from fmtune.models.source import is_pipeline, materialize
from fmtune.recipes.class_images import ensure_class_images
from fmtune.recipes.diffusion_export import save_diffusion_outputs
from fmtune.recipes.diffusion_memory import plan_diffusion_memory
from fmtune.recipes.lifecycle import recipe_main
from fmtune.recipes.setup import precision_once_per_job
from fmtune.tasks.text_to_image import read_images
from fmtune.training.checkpoint import TrainState, latest_checkpoint, load_checkpoint, load_extra, save_checkpoint
from fmtune.training.distributed import init_distributed
from fmtune.training.joblog import JobLog
from fmtune.training.progress import Progress
from fmtune.training.stop import JobStopped, StopRequest


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, "fmtune.recipes.dreambooth", argv)


@dataclass(frozen=True)
class Precision:
    """Compute precision: autocast dtype (None: fp32). Trained weights and the loss stay fp32."""

    dtype: torch.dtype | None

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self, device: torch.device) -> Any:
        import contextlib

        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def choose_precision(job: JobConfig, device: torch.device, model_dir: Path, log: JobLog) -> Precision:
    """fp16 on request (GPUs only); else bf16 or fp32 as fmtune.models.precision decides, timed on the shapes of
    the UNet's second block (its transformer's feed-forward is 4x wider), decided once per job."""
    setting = job.hp.precision
    if setting == "fp16":
        if device.type != "cuda":
            raise UserError("precision=fp16 needs a CUDA GPU (CPUs compute fp16 slowly or not at all); on this "
                            "machine use precision=bf16 or fp32 (or auto).")
        return Precision(torch.float16)
    channels = json.loads((model_dir / "unet" / "config.json").read_text())["block_out_channels"]
    width = channels[min(1, len(channels) - 1)]
    bf16 = precision_once_per_job(job, lambda: precision_for(setting, device, (width, 4 * width)), log)
    return Precision(torch.bfloat16 if bf16 else None)


def run(job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, resume: bool = False) -> None:
    quiet_libraries()
    quiet_diffusers()
    hp = job.hp
    assert isinstance(hp, DreamBoothHyperparameters)
    if init_distributed().active:
        raise UserError("Stable Diffusion fine-tuning runs in one process (drop --nproc / --nnodes).")
    images = read_images(job)
    device = training_device()
    source = job.model_source()
    log(f"fmtune job {job.job_name}: {job.model} (text-to-image, DreamBooth, "
        f"{'LoRA r=' + str(hp.lora_r) if hp.peft_type == 'lora' else 'full UNet'}) on {device.type}")
    if source.kind == "tiny-random":
        log("weights: RANDOM (tiny-random test pipeline shaped like Stable Diffusion 2.x); the images are only a "
            "test of the pipeline")
    for notice in job.notices:  # the data's notices among them (start_job read the images)
        log(f"note: {notice}")
    model_dir = materialize(source)
    if not is_pipeline(model_dir):
        raise UserError(f"{model_dir}: no model_index.json, so it is not a diffusers pipeline folder "
                        "(Stable Diffusion in diffusers layout: unet/, vae/, text_encoder/, tokenizer/, scheduler/).")
    if device.type == "cpu":
        log(f"threads: {use_physical_cores()}")
    precision = choose_precision(job, device, model_dir, log)
    # Everything that can refuse the run comes before any expensive work (class images, training).
    targets = _unet_targets(job)
    checkpointing = plan_diffusion_memory(model_dir, hp, device, targets, precision.dtype is not None, log)
    if hp.compute_fid:
        probe_inception(device)
    class_images = ensure_class_images(model_dir, images, hp, device, precision, stop, log) \
        if hp.with_prior_preservation else ()

    parts = load_parts(model_dir, device)
    torch.manual_seed(hp.seed)  # LoRA's initial weights; every later draw has a generator of its own
    trainable = make_trainable(parts, hp.peft_type, hp.lora_r, targets, hp.train_text_encoder)
    if checkpointing:
        parts.unet.enable_gradient_checkpointing()
    total = sum(p.numel() for p in parts.unet.parameters())
    log(f"model: UNet {total / 1e6:.1f}M parameters; {sum(p.numel() for p in trainable) / 1e6:.3f}M trainable"
        f"{' (text encoder too)' if hp.train_text_encoder else ''}; prediction_type={parts.prediction_type}"
        f"{', gradient checkpointing' if checkpointing else ''}")
    examples = Examples(images, class_images, hp)
    log(f"data: {len(images.instance_images)} instance images ('{images.instance_prompt}')"
        + (f", {len(class_images)} class images ('{images.class_prompt}')" if class_images else "")
        + f"; {examples.steps_per_epoch} steps per epoch, {examples.total_steps} steps in all; resolution "
          f"{hp.resolution}")
    training = DreamBoothTraining(job, layout, log, stop, parts, trainable, examples, device, precision)
    steps = training.run(resume)
    # the trained weights are saved first: a failure in what follows (out of memory, a stop) loses nothing
    save_diffusion_outputs(job, model_dir, parts, images.instance_prompt, layout, log)
    training.previews(steps, final=True)
    del training, parts, trainable  # evaluation loads the saved pipeline and the base, one at a time
    free_memory()
    evaluate_pipelines(model_dir, images, hp, device, layout, log)


def evaluate_pipelines(model_dir: Path, images: ImageFolder, hp: DreamBoothHyperparameters, device: torch.device,
                       layout: JobLayout, log: JobLog) -> None:
    """Base vs tuned on the same prompts and seeds (fmtune.evaluation.images); with compute_fid, JumpStart's
    fid_score= line and metrics record for the tuned pipeline."""
    if not hp.evaluation_images and not hp.compute_fid:
        return
    prompts = evaluation_prompts(images.instance_prompt, hp.validation_prompt, images.class_prompt)
    plan = ImageEvaluation(images.instance_prompt, layout.model, model_dir, prompts if hp.evaluation_images else [],
                           list(seeds_for(hp.seed, hp.evaluation_images)), hp.resolution, device,
                           Path(hp.clip_model).expanduser() if hp.clip_model else None,
                           images.instance_images if hp.compute_fid else (), hp.seed)
    scores = evaluate_images(plan, layout, log)
    line = fid_log_line(scores)
    if line is not None:
        last = read_metrics(layout.metrics)[-1]
        record_metrics(layout.metrics, {**last, "fid_score": scores["tuned"]["fid_score"]})
        count = len(images.instance_images)
        log(f"{line} ({count} generated vs {count} instance images; the base: {scores['base']['fid_score']:.6f})")


RESIZED_CACHE_BYTES = 256 << 20  # beyond it (hundreds of class images at 1024 px) images are decoded each step


def _unet_targets(job: JobConfig) -> tuple[str, ...]:
    from fmtune.catalog.models import SD_ATTENTION

    card = job.model_source().card
    return card.lora_target_modules if card and card.lora_target_modules else SD_ATTENTION


class Examples:
    """What each step trains on. As diffusers' DreamBooth does, an epoch is max(instance, class) examples,
    the i-th pairing instance image i % n with class image i % m."""

    def __init__(self, images: ImageFolder, class_images: tuple[Path, ...], hp: DreamBoothHyperparameters):
        self.images, self.class_images, self.hp = images, class_images, hp
        # each file decoded and resized once (crops differ by epoch), up to RESIZED_CACHE_BYTES of pixels
        self._resized: dict[Path, Any] = {}
        self._cached_bytes = 0
        self.length = max(len(images.instance_images), len(class_images))
        batches = math.ceil(self.length / hp.batch_size)
        self.steps_per_epoch = math.ceil(batches / hp.gradient_accumulation_steps)
        self.total_steps = hp.max_steps or hp.epochs * self.steps_per_epoch
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)

    def step_groups(self, epoch: int) -> list[list[list[int]]]:
        """The epoch's optimizer steps, each a list of micro-batches of example indices (seeded by epoch)."""
        order = list(range(self.length))
        random.Random(f"{self.hp.seed}-order-{epoch}").shuffle(order)
        size, accumulation = self.hp.batch_size, self.hp.gradient_accumulation_steps
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        return [batches[i : i + accumulation] for i in range(0, len(batches), accumulation)]

    def _resized_image(self, path: Path) -> Any:
        if path in self._resized:
            return self._resized[path]
        image = resized_training_image(path, self.hp.resolution)
        size = image.width * image.height * 3
        if self._cached_bytes + size <= RESIZED_CACHE_BYTES:
            self._resized[path] = image
            self._cached_bytes += size
        return image

    def pixels(self, indices: list[int], epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Instance (and class) images of a micro-batch as [-1, 1] tensors."""
        def load(paths: tuple[Path, ...], kind: str) -> torch.Tensor:
            tensors = []
            for i in indices:
                rng = random.Random(f"{self.hp.seed}-{kind}-{epoch}-{i}")
                image = crop_training_image(self._resized_image(paths[i % len(paths)]), self.hp.resolution,
                                            center_crop=self.hp.center_crop, rng=rng)
                tensors.append(_to_tensor(image))
            return torch.stack(tensors)

        instance = load(self.images.instance_images, "instance")
        return instance, (load(self.class_images, "class") if self.class_images else None)


def _to_tensor(image: Any) -> torch.Tensor:
    import numpy as np

    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class DreamBoothTraining:
    def __init__(self, job: JobConfig, layout: JobLayout, log: JobLog, stop: StopRequest, parts: DiffusionParts,
                 trainable: list[torch.nn.Parameter], examples: Examples, device: torch.device,
                 precision: Precision):
        from diffusers.optimization import get_scheduler

        self.job, self.layout, self.log, self.stop = job, layout, log, stop
        self.parts, self.trainable, self.examples, self.device, self.precision = (
            parts, trainable, examples, device, precision)
        hp = self.hp = examples.hp
        self.optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, betas=(hp.adam_beta1, hp.adam_beta2),
                                           weight_decay=hp.adam_weight_decay, eps=hp.adam_epsilon)
        self.scheduler = get_scheduler(hp.lr_scheduler, self.optimizer, num_warmup_steps=hp.lr_warmup_steps,
                                       num_training_steps=examples.total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if precision.dtype == torch.float16 else None
        self.model = parts.modules()  # what checkpoints save and restore: the trainable weights under it
        self.prompts = self._prompt_embeddings()

    def _prompt_embeddings(self) -> dict[str, torch.Tensor] | None:
        """With a frozen text encoder the two prompts' embeddings never change: encoded once."""
        if self.hp.train_text_encoder:
            return None
        images = self.examples.images
        with torch.no_grad():
            found = {"instance": encode_prompts(self.parts, [images.instance_prompt], self.device)}
            if self.examples.class_images:
                found["class"] = encode_prompts(self.parts, [images.class_prompt or ""], self.device)
        return found

    def run(self, resume: bool) -> int:
        """Train to the last step (or from the last checkpoint to it); return the steps done."""
        state = TrainState()
        checkpoint = latest_checkpoint(self.layout.checkpoints) if resume else None
        if checkpoint is not None:
            state, _ = load_checkpoint(checkpoint, self.model, self.optimizer, self.scheduler)
            if self.scaler is not None and "scaler" in (extra := load_extra(checkpoint)):
                self.scaler.load_state_dict(extra["scaler"])  # fp16: the loss scale goes on where it was
            self.log(f"resumed from {checkpoint.name}: step {state.global_step} of {self.examples.total_steps}")
        elif resume:
            self.log("no complete checkpoint yet: starting from the beginning")
        start_records(self.layout.metrics, self.layout.steps,
                      (state.epoch, state.global_step) if checkpoint is not None else None)
        if self.stop.requested:
            raise JobStopped(self.stop, "stopped before the first training step")
        hp = self.hp
        # state.step > 0 at the total: resumed after the last step, before its epoch was recorded.
        while state.global_step < self.examples.total_steps or state.step > 0:
            started = time.monotonic()
            self._train_epoch(state)
            record_metrics(self.layout.metrics, {
                "epoch": state.epoch, "train_loss": state.loss_sum / max(state.loss_tokens, 1),
                "step": state.global_step, "seconds": round(time.monotonic() - started, 3)})
            self.log(f"epoch={state.epoch}, train_epoch_loss={state.loss_sum / max(state.loss_tokens, 1):.6f}")
            state.epoch, state.step, state.loss_sum, state.loss_tokens = state.epoch + 1, 0, 0.0, 0
        if hp.checkpoint_steps == -1 or state.global_step % hp.checkpoint_steps:
            self._save(state, "end of training")
        return state.global_step

    def _train_epoch(self, state: TrainState) -> None:
        groups = self.examples.step_groups(state.epoch)
        todo = groups[state.step :][: self.examples.total_steps - state.global_step]
        progress = Progress(len(groups), f"epoch {state.epoch}/{self.examples.epochs}", done=state.step)
        self._train_mode()
        for group in todo:
            lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses (the scheduler moves it after)
            loss = self._step(group, state)
            state.loss_sum += loss
            state.loss_tokens += 1  # the epoch's loss is the mean of its steps' losses
            state.step += 1
            state.global_step += 1
            progress.step(loss=loss, tokens=0)
            self.log(f"step={state.global_step}/{self.examples.total_steps}, loss={loss:.6f}, lr={lr:.3g}")
            record_step(self.layout.steps, {"epoch": state.epoch, "step": state.global_step,
                                            "total_steps": self.examples.total_steps, "loss": loss,
                                            "learning_rate": lr})
            self._after_step(state)
        progress.close()

    def _step(self, group: list[list[int]], state: TrainState) -> float:
        """One optimizer step over its micro-batches; the mean loss of the step."""
        total = 0.0
        for micro, indices in enumerate(group):
            generator = torch.Generator(device="cpu").manual_seed(
                hash_seed(self.hp.seed, state.global_step, micro))
            instance, prior = self.examples.pixels(indices, state.epoch)
            with self.precision.autocast(self.device):
                loss = self._loss(instance, prior, generator) / len(group)
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            total += loss.item()
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.trainable, self.hp.max_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def _loss(self, instance: torch.Tensor, prior: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Noise-prediction MSE at random timesteps (v-prediction models predict the velocity instead); with
        prior preservation, + prior_loss_weight × the class images' MSE."""
        parts, device = self.parts, self.device
        pixels = instance if prior is None else torch.cat([instance, prior])
        with torch.no_grad():
            encoded = parts.vae.encode(pixels.to(device)).latent_dist
            noise_for_latents = torch.randn(encoded.mean.shape, generator=generator).to(device)
            latents = (encoded.mean + encoded.std * noise_for_latents) * parts.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(device)
        steps = parts.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator).to(device)
        noisy = parts.noise_scheduler.add_noise(latents, noise, timesteps)
        condition = self._conditioning(len(instance), prior is not None)
        predicted = parts.unet(noisy, timesteps, condition).sample.float()
        if parts.prediction_type == "epsilon":
            target = noise
        elif parts.prediction_type == "v_prediction":
            target = parts.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            raise UserError(f"the scheduler's prediction_type={parts.prediction_type!r} is not trained by fmtune "
                            "(epsilon and v_prediction are).")
        target = target.float()
        if prior is None:
            return torch.nn.functional.mse_loss(predicted, target)
        predicted, predicted_prior = predicted.chunk(2)
        target, target_prior = target.chunk(2)
        return (torch.nn.functional.mse_loss(predicted, target)
                + self.hp.prior_loss_weight * torch.nn.functional.mse_loss(predicted_prior, target_prior))

    def _conditioning(self, count: int, with_prior: bool) -> torch.Tensor:
        if self.prompts is not None:
            parts = [self.prompts["instance"].expand(count, -1, -1)]
            if with_prior:
                parts.append(self.prompts["class"].expand(count, -1, -1))
            return torch.cat(parts)
        images = self.examples.images
        prompts = [images.instance_prompt] * count + ([images.class_prompt or ""] * count if with_prior else [])
        return encode_prompts(self.parts, prompts, self.device)

    def _after_step(self, state: TrainState) -> None:
        hp = self.hp
        if self.stop.requested:
            self._save(state, "stop requested")
            raise JobStopped(self.stop, f"checkpoint saved at step {state.global_step}; "
                                        f"`fmtune jobs resume {self.job.job_name}` continues from it")
        if hp.checkpoint_steps != -1 and state.global_step % hp.checkpoint_steps == 0:
            self._save(state, f"every {hp.checkpoint_steps} steps")
        done = state.global_step == self.examples.total_steps
        if hp.validation_steps != -1 and state.global_step % hp.validation_steps == 0 and not done:
            self.previews(state.global_step)

    def _train_mode(self) -> None:
        self.model.eval()  # the frozen parts stay in eval mode
        self.parts.unet.train()
        if self.hp.train_text_encoder:
            self.parts.text_encoder.train()

    def _save(self, state: TrainState, reason: str) -> None:
        extra = {"scaler": self.scaler.state_dict()} if self.scaler is not None else None
        path = save_checkpoint(self.layout.checkpoints, state, self.model, self.optimizer, self.scheduler, None,
                               extra=extra)
        self.log(f"checkpoint {path.name} ({reason})")

    def previews(self, step: int, final: bool = False) -> None:
        """num_validation_images images of validation_prompt (the instance prompt by default), fixed seeds, so
        that previews of successive steps compare; into previews/ and named in the log."""
        hp = self.hp
        if hp.num_validation_images == 0:
            return
        prompt = hp.validation_prompt or self.examples.images.instance_prompt
        self.model.eval()
        seeds = [hp.seed + i for i in range(hp.num_validation_images)]
        with self.precision.autocast(self.device):
            images = generate(pipeline_of(self.parts, "preview"), prompt, seeds, hp.resolution)
        paths = []
        for seed, image in zip(seeds, images, strict=True):
            path = self.layout.previews / f"step-{step:06d}-seed-{seed}.png"
            write_file_atomically(path, png_bytes(image))
            paths.append(path)
        self._train_mode()
        label = "final previews" if final else "previews"
        self.log(f"{label} at step {step} ('{prompt}'): " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    sys.exit(main())
