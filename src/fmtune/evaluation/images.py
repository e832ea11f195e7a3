"""Did the DreamBooth fine-tune help? The base pipeline and the tuned one draw the same prompts with the same
seeds — the instance prompt, the validation prompt, the subject in other settings (does it generalise, or only
copy the photos?) and the class prompt (does the class keep its look?) — side by side in eval/report.html.

Scores, each when its network is on this machine (fmtune downloads nothing):
- `clip_score`: CLIP's agreement of each image with its prompt, 100 · max(cos(image, text), 0) — the definition
  torchmetrics' CLIPScore uses — from a local CLIP folder in transformers layout (`clip_model`).
- `fid_score`: FID of the instance prompt's images against the instance images (compute_fid, fmtune.models.fid),
  for the base too, so that "closer to the subject" is a number; the tuned one is also JumpStart's log line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fmtune.atomic import write_file_atomically
from fmtune.data.images import load_training_image
from fmtune.evaluation.report import write_report
from fmtune.jobs.layout import JobLayout
from fmtune.models.clip import clip_scorer
from fmtune.models.diffusion import generate, load_pipeline, png_bytes
from fmtune.models.fid import frechet_distance, inception_features, load_inception
from fmtune.models.loading import free_memory

SETTINGS = ("on a beach", "as an oil painting")  # the subject where the instance images never showed it
SEED_OFFSET = 2000  # apart from the previews' seeds (seed + i) and FID's (seed + 1000 + i)
FID_SEED_OFFSET = 1000


def evaluation_prompts(instance_prompt: str, validation_prompt: str | None, class_prompt: str | None) -> list[str]:
    prompts = [instance_prompt]
    if validation_prompt and validation_prompt != instance_prompt:
        prompts.append(validation_prompt)
    prompts += [f"{instance_prompt} {setting}" for setting in SETTINGS]
    if class_prompt:
        prompts.append(class_prompt)
    return prompts


@dataclass(frozen=True)
class ImageEvaluation:
    instance_prompt: str
    tuned_dir: Path
    base_dir: Path | None
    prompts: list[str]
    seeds: list[int]  # each prompt is drawn once per seed
    resolution: int
    device: torch.device
    clip_dir: Path | None = None
    instance_images: tuple[Path, ...] = ()  # with compute_fid: the real images FID compares against
    fid_seed: int = 0


def evaluate_images(plan: ImageEvaluation, out: JobLayout, log: Callable[[str], None]) -> dict[str, Any]:
    """Draw every prompt with each pipeline (one in memory at a time) into eval/images/; score; write eval/ and
    the report; the scores."""
    models = {"tuned": plan.tuned_dir, **({"base": plan.base_dir} if plan.base_dir is not None else {})}
    folder = out.evaluation / "images"
    folder.mkdir(parents=True, exist_ok=True)
    work = [f"draw {len(plan.prompts)} prompts x {len(plan.seeds)} seeds"] if plan.prompts else []
    work += ["FID against the instance images"] if plan.instance_images else []
    log(f"evaluation of the {' and '.join(models)} pipelines: {'; '.join(work)}")
    drawn: dict[str, dict[tuple[int, int], Path]] = {}
    fid: dict[str, float] = {}
    real = inception = None
    if plan.instance_images:
        inception = load_inception(plan.device)
        real = inception_features(inception, [load_training_image(p, plan.resolution, center_crop=True,
                                                                  rng=random.Random(0))
                                              for p in plan.instance_images], plan.device)
    for which, model_dir in models.items():
        pipeline = load_pipeline(model_dir, plan.device)
        try:
            drawn[which] = {}
            for p, prompt in enumerate(plan.prompts):
                for seed, image in zip(plan.seeds, generate(pipeline, prompt, plan.seeds, plan.resolution),
                                       strict=True):
                    path = folder / f"{which}-prompt-{p}-seed-{seed}.png"
                    write_file_atomically(path, png_bytes(image))
                    drawn[which][(p, seed)] = path
            if inception is not None and real is not None:
                seeds = [plan.fid_seed + FID_SEED_OFFSET + i for i in range(len(plan.instance_images))]
                images = generate(pipeline, plan.instance_prompt, seeds, plan.resolution)
                fid[which] = frechet_distance(inception_features(inception, images, plan.device), real)
        finally:
            del pipeline
            free_memory()
    clip = clip_scorer(plan.clip_dir, plan.device) if plan.clip_dir is not None else None
    rows = []
    for p, prompt in enumerate(plan.prompts):
        for seed in plan.seeds:
            row: dict[str, Any] = {"prompt": prompt, "seed": seed}
            for which in models:
                path = drawn[which][(p, seed)]
                row[f"{which}_image"] = str(path.relative_to(out.evaluation))
                row[f"{which}_scores"] = {"clip_score": clip(path, prompt)} if clip else {}
            rows.append(row)
    scores: dict[str, Any] = {"kind": "images", "samples": len(rows), "prompts": plan.prompts}
    for which in models:
        mine = {}
        if clip is not None and rows:
            mine["clip_score"] = sum(r[f"{which}_scores"]["clip_score"] for r in rows) / len(rows)
        if which in fid:
            mine["fid_score"] = fid[which]
        scores[which] = mine
    write_file_atomically(out.evaluation / "predictions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    write_file_atomically(out.evaluation / "metrics.json", (json.dumps(scores, indent=2) + "\n").encode())
    write_report(out)
    log(f"evaluation report: {out.report}")
    return scores


def fid_log_line(scores: dict[str, Any]) -> str | None:
    """JumpStart's `fid_score=` line for the tuned pipeline (its notebooks' metric regex reads it)."""
    value = scores.get("tuned", {}).get("fid_score")
    return None if value is None else f"fid_score={value:.6f}"


def seeds_for(seed: int, count: int) -> Sequence[int]:
    return [seed + SEED_OFFSET + i for i in range(count)]
