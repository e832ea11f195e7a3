"""Text-to-image: DreamBooth fine-tuning of Stable Diffusion on a folder of images of one subject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmtune.config.dreambooth import DreamBoothHyperparameters
from fmtune.data.images import ImageFolder, read_image_folder
from fmtune.errors import Problem, UserError
from fmtune.tasks.registry import JobView, Task, register


def read_images(job: JobView) -> ImageFolder:
    """The job's images and prompts exactly as its recipe reads them: the one call the early check and the
    recipe make."""
    hp = job.hp
    assert isinstance(hp, DreamBoothHyperparameters)
    unknown = sorted(set(job.channels) - {"training"})
    if unknown:
        raise UserError(f"channel(s) {', '.join(unknown)}: Stable Diffusion fine-tuning reads only the `training` "
                        "channel (the images and dataset_info.json; class images in its class_data_dir/).")
    return read_image_folder(Path(job.channels["training"]), resolution=hp.resolution,
                             with_prior_preservation=hp.with_prior_preservation)


def check_images(job: JobView) -> list[str]:
    images = read_images(job)
    if job.hp.compute_fid and len(images.instance_images) < 2:
        raise UserError(f"{job.channels['training']}: compute_fid=True compares the spread of generated and instance "
                        f"images, which needs at least 2 instance images ({len(images.instance_images)} found); add "
                        "images or set compute_fid=False.")
    return list(images.notices)


def preview_images(job: JobView, rows: int) -> dict[str, Any]:
    """The images and prompts as training reads them (names only: the files stay where they are)."""
    images = read_images(job)
    hp = job.hp
    return {
        "mode": "dreambooth",
        "counts": {"instance_images": len(images.instance_images), "class_images": len(images.class_images)},
        "instance_prompt": images.instance_prompt,
        "class_prompt": images.class_prompt,
        "resolution": hp.resolution,
        "with_prior_preservation": hp.with_prior_preservation,
        "rows": [{"origin": path.name, "segments": [{"text": images.instance_prompt, "learned": True}]}
                 for path in images.instance_images[:rows]],
        "notices": list(images.notices),
    }


def dreambooth_rules(hp: DreamBoothHyperparameters, model: str) -> list[Problem]:
    problems = []
    if hp.resolution % 8:
        problems.append(Problem(f"resolution={hp.resolution}: must be a multiple of 8 (the VAE works on 8x8 blocks); "
                                f"e.g. {hp.resolution // 8 * 8}.", key="resolution", value=str(hp.resolution)))
    if hp.clip_model is not None:
        from fmtune.models.clip import check_clip_folder

        wrong = check_clip_folder(hp.clip_model)
        if wrong:
            problems.append(Problem(wrong, key="clip_model", value=hp.clip_model))
    if hp.compute_fid:
        from fmtune.models.fid import missing_inception_message

        missing = missing_inception_message()
        if missing:
            problems.append(Problem(missing, key="compute_fid", value="True"))
    return problems


TEXT_TO_IMAGE = register(Task(
    name="text-to-image",
    description="Stable Diffusion: DreamBooth on a folder of images of one subject",
    schema=DreamBoothHyperparameters,
    recipe="fmtune.recipes.dreambooth",
    check_data=check_images,
    rules=dreambooth_rules,
    outputs=("model", "adapter", "previews"),
    trains_config=lambda config: config.get("_class_name") == "StableDiffusionPipeline",
    preview=preview_images,
))
