"""A text-to-image endpoint's engine: one Stable Diffusion pipeline, LoRA adapters loaded on it and chosen
per request, one generation at a time on a worker thread (a pipeline call is not safe to run twice at once),
with a bounded queue in front."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fmtune.models.diffusion import LORA_FILE, trained_size
from fmtune.serve.engine import Overloaded, check_adapter_names, default_served_name
from fmtune.serve.metrics import Metrics
from fmtune.serve.settings import ServeSettings


class OutOfMemory(Exception):
    """A generation ran out of device memory (the request was too big for this machine now)."""


@dataclass(frozen=True)
class ServedImageModel:
    """A name a request can put in its `model` field: the base pipeline, or one LoRA adapter on it."""

    name: str
    adapter: str | None  # None: the base


@dataclass(frozen=True)
class ImageJob:
    prompts: list[str]
    negative_prompts: list[str] | None
    width: int
    height: int
    steps: int
    guidance_scale: float
    per_prompt: int
    seed: int | None  # image i gets seed + i; None: random

    @property
    def count(self) -> int:
        return len(self.prompts) * self.per_prompt


class ImageEngine:
    def __init__(self, pipeline: Any, base: ServedImageModel, adapters: dict[str, ServedImageModel],
                 settings: ServeSettings, default_size: int, metrics: Metrics | None = None) -> None:
        self.pipeline = pipeline
        self.base = base
        self.adapters = adapters
        self.settings = settings
        self.default_size = default_size
        self.metrics = metrics or Metrics()
        self.generated = 0  # images so far (tests and /metrics read it)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fmtune-images")
        self._lock = threading.Lock()
        self._pending = 0
        self.metrics.gauge("fmtune_requests_running", lambda: min(self._pending, 1))
        self.metrics.gauge("fmtune_requests_waiting", lambda: max(self._pending - 1, 0))

    @classmethod
    def load(cls, reference: str, adapters: dict[str, str] | None = None,
             settings: ServeSettings | None = None) -> ImageEngine:
        """Load a text-to-image job, pipeline folder or model id, and each LoRA adapter (name → job or folder)."""
        from fmtune.jobs.artifacts import adapter_dir, model_dir
        from fmtune.models.diffusion import load_pipeline, quiet_diffusers
        from fmtune.models.loading import training_device

        settings = (settings or ServeSettings()).check()
        quiet_diffusers()
        path = model_dir(reference)
        adapter_dirs = {name: adapter_dir(ref, kind="diffusion") for name, ref in (adapters or {}).items()}
        base_name = settings.served_model_name or default_served_name(reference)
        check_adapter_names(base_name, adapter_dirs)
        device = training_device()
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        pipeline = load_pipeline(path, device, dtype)
        for name, folder in adapter_dirs.items():
            load_adapter(pipeline, name, folder)
        served = {name: ServedImageModel(name, name) for name in adapter_dirs}
        return cls(pipeline, ServedImageModel(base_name, None), served, settings, trained_size(path, pipeline))

    def model_names(self) -> list[str]:
        return [self.base.name, *self.adapters]

    def served(self, name: str | None) -> ServedImageModel | None:
        """The base for an empty name or the base's name, an adapter by its name, else None."""
        if not name or name == self.base.name:
            return self.base
        return self.adapters.get(name)

    async def generate(self, served: ServedImageModel, job: ImageJob) -> list[Any]:
        """The job's images (PIL), after those already waiting; Overloaded when the queue is full."""
        with self._lock:
            if self._pending >= 1 + self.settings.max_queue:
                raise Overloaded(f"the endpoint is busy ({self._pending} image requests running or queued, at most "
                                 f"1 + {self.settings.max_queue}); retry later.")
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._generate, served, job)
        finally:
            with self._lock:
                self._pending -= 1

    def _generate(self, served: ServedImageModel, job: ImageJob) -> list[Any]:
        pipeline = self.pipeline
        if self.adapters:  # the adapter this request names, or none of them for the base
            if served.adapter is None:
                pipeline.disable_lora()
            else:
                pipeline.enable_lora()
                pipeline.set_adapters([served.adapter])
        generators = None
        if job.seed is not None:
            generators = [torch.Generator(device="cpu").manual_seed(job.seed + i) for i in range(job.count)]
        try:
            with torch.inference_mode():
                images = pipeline(prompt=job.prompts, negative_prompt=job.negative_prompts, width=job.width,
                                  height=job.height, num_inference_steps=job.steps,
                                  guidance_scale=job.guidance_scale, num_images_per_prompt=job.per_prompt,
                                  generator=generators).images
        except torch.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # the next request starts with the memory this one held
            raise OutOfMemory(f"{job.count} image(s) of {job.width}x{job.height} did not fit in the device's memory "
                              "now; ask for fewer or smaller images.") from None
        self.generated += len(images)
        self.metrics.inc("fmtune_images_generated_total", len(images), model=served.name)
        return list(images)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def load_adapter(pipeline: Any, name: str, folder: Path) -> None:
    """A LoRA in diffusers' format on the pipeline, as adapter `name`; one made for another model is refused."""
    from fmtune.errors import UserError

    try:
        pipeline.load_lora_weights(folder, weight_name=LORA_FILE, adapter_name=name)
    except (ValueError, RuntimeError, KeyError) as err:  # diffusers' and torch's words for mismatched shapes/keys
        raise UserError(f"adapter '{name}' ({folder}): its LoRA does not fit this pipeline ({err}). Was it trained on "
                        "another base model?") from None
