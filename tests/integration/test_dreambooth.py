"""DreamBooth for real on the tiny Stable Diffusion 2.x pipeline (`--tiny-random`): LoRA and full-UNet training,
prior preservation with generated and cached class images, previews, the outputs WebUIs and diffusers load,
kill -9 → resume, and the checks that refuse a run before any weights load."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from fmtune.cli.main import main
from fmtune.jobs.layout import JobLayout
from fmtune.models.source import resolve_source
from fmtune.training.checkpoint import COMPLETE_MARKER

from ..conftest import SAMPLES
from ..jobs_support import build_job

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"
DATA = SAMPLES / "dreambooth"
FAST = ["-H", "resolution=64", "-H", "num_validation_images=1", "-H", "evaluation_images=0"]
# AUTOMATIC1111's names for diffusers-style kohya keys (its convert_diffusers_name_to_compvis patterns)
WEBUI_UNET_KEY = re.compile(
    r"lora_unet_(down_blocks_\d+_(attentions|resnets)_\d+|mid_block_(attentions|resnets)_\d+|"
    r"up_blocks_\d+_(attentions|resnets)_\d+)_[a-z0-9_]+\.(lora_down\.weight|lora_up\.weight|alpha)")


def train(tmp_path: Path, name: str, *settings: str, data: Path = DATA, model: str = SD,
          tiny: bool = True) -> Path:
    job_dir = tmp_path / name
    code = main(["train", model, *(["--tiny-random"] if tiny else []), "--training", str(data),
                 "--job-name", name, "--output-dir", str(job_dir), *FAST, *settings])
    assert code == 0, (job_dir / "logs.txt").read_text() if (job_dir / "logs.txt").exists() else code
    return job_dir


def base_pipeline_dir() -> Path:
    return Path(resolve_source(SD, tiny_random=True).location)


def step_losses(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"step=\d+/\d+, loss=([0-9.naninf]+)", log)]


def build_tiny_clip(target: Path) -> Path:
    """A CLIP model with random weights (safetensors) and the tiny pipeline's own tokenizer: clip_model's layout."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(base_pipeline_dir() / "tokenizer")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16)
    CLIPModel(config).save_pretrained(target, safe_serialization=True)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def lora_job(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dreambooth")
    return train(root, "lora", "-H", "peft_type=lora", "-H", "max_steps=4", "-H", "validation_steps=2",
                 "-H", "learning_rate=0.001", "-H", "evaluation_images=2",
                 "-H", f"clip_model={build_tiny_clip(root / 'clip')}")


def test_the_base_and_the_tuned_pipeline_draw_the_same_prompts_and_seeds(lora_job):
    from fmtune.models.diffusion import generate, load_pipeline

    evaluation = lora_job / "eval"
    scores = json.loads((evaluation / "metrics.json").read_text())
    prompt = "a photo of a Chelsea cat"
    # the subject as trained, where its photos never showed it, and its class (dataset_info.json's class_prompt)
    assert scores["prompts"] == [prompt, f"{prompt} on a beach", f"{prompt} as an oil painting", "a photo of a cat"]
    assert scores["samples"] == 8  # 4 prompts x 2 seeds
    for which in ("base", "tuned"):
        assert 0.0 <= scores[which]["clip_score"] <= 100.0
    rows = [json.loads(line) for line in (evaluation / "predictions.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["seed"]) for r in rows] == [(p, s) for p in scores["prompts"] for s in (2000, 2001)]
    # each image is what that pipeline draws for that prompt and seed, alone
    first = rows[0]
    for which, folder in (("base", base_pipeline_dir()), ("tuned", lora_job / "model")):
        drawn = Image.open(evaluation / first[f"{which}_image"])
        alone = generate(load_pipeline(folder, torch.device("cpu")), first["prompt"], [first["seed"]], 64)[0]
        assert drawn.size == (64, 64) and list(drawn.convert("RGB").getdata()) == list(alone.getdata())
    assert rows[0]["base_image"] != rows[0]["tuned_image"]
    page = (evaluation / "report.html").read_text()
    assert "Fine-tuned pipeline" in page and page.count("class='drawn'") == 16 and "CLIP score" in page
    assert "src='data:image/png;base64," in page and "file://" not in page  # one file, nothing linked


def test_lora_trains_with_finite_losses_and_logs_jumpstart_lines(lora_job):
    log = (lora_job / "logs.txt").read_text()
    losses = step_losses(log)
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert "epoch=1, train_epoch_loss=" in log and "prediction_type=epsilon" in log
    assert "memory: UNet" in log and "estimated peak" in log
    assert JobLayout(lora_job).status()["status"] == "Completed"


def test_lora_weights_moved_from_their_initialisation(lora_job):
    lora = load_file(lora_job / "adapter" / "pytorch_lora_weights.safetensors")
    assert lora and all(k.startswith("unet.") and ".lora." in k for k in lora)
    ups = [v for k, v in lora.items() if "lora.up" in k]
    assert ups and all(v.abs().sum() > 0 for v in ups)  # gaussian init starts every up-projection at zero


def test_previews_are_written_and_named_in_the_log(lora_job):
    log = (lora_job / "logs.txt").read_text()
    previews = sorted((lora_job / "previews").glob("*.png"))
    assert [p.name for p in previews] == ["step-000002-seed-0.png", "step-000004-seed-0.png"]
    for path in previews:
        assert str(path) in log
        assert Image.open(path).size == (64, 64)


def test_the_kohya_file_has_the_keys_webuis_load(lora_job):
    kohya = lora_job / "adapter" / "lora.kohya.safetensors"
    with safe_open(kohya, "pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
        alphas = {k: f.get_tensor(k) for k in keys if k.endswith(".alpha")}
    assert keys and all(WEBUI_UNET_KEY.fullmatch(k) for k in keys), sorted(keys)[:5]
    modules = {k.rsplit(".", 2)[0] if not k.endswith(".alpha") else k[: -len(".alpha")] for k in keys}
    for module in modules:  # every module has its pair and its alpha (= rank: scale 1, as trained)
        assert {f"{module}.lora_down.weight", f"{module}.lora_up.weight", f"{module}.alpha"} <= keys
    assert all(float(a) == 4.0 for a in alphas.values())
    assert metadata["ss_network_dim"] == "4" and metadata["ss_v2"] == "True"  # SD 2.x (OpenCLIP: gelu)
    assert metadata["ss_v_parameterization"] == "False"
    assert metadata["modelspec.architecture"] == "stable-diffusion-v2-512/lora"
    diffusers_keys = load_file(lora_job / "adapter" / "pytorch_lora_weights.safetensors").keys()
    assert len(modules) * 2 == len(diffusers_keys)


def test_the_merged_pipeline_reloads_with_diffusers_and_generates(lora_job):
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(lora_job / "model", use_safetensors=True)
    image = pipeline("a photo of a Chelsea cat", height=64, width=64, num_inference_steps=2,
                     generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)
    base = load_file(base_pipeline_dir() / "unet" / "diffusion_pytorch_model.safetensors")
    merged = load_file(lora_job / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    assert base.keys() == merged.keys()  # the LoRA is fused in: no adapter weights left in the UNet
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all(re.search(r"\.to_(q|k|v|out\.0)\.weight$", k) for k in changed)
    record = json.loads((lora_job / "model" / "fmtune_model.json").read_text())
    assert record == {"task": "text-to-image", "base_model": SD, "instance_prompt": "a photo of a Chelsea cat",
                      "resolution": 64, "peft_type": "lora"}
    assert not list((lora_job / "model").rglob("*.bin"))


def test_full_unet_dreambooth_changes_the_unet_and_leaves_the_rest(tmp_path):
    job = train(tmp_path, "full", "-H", "max_steps=2", "-H", "learning_rate=0.0001", "-H", "num_validation_images=0")
    assert not (job / "adapter").exists() and not (job / "previews").exists()
    base, tuned = base_pipeline_dir(), job / "model"
    for part, changes in (("unet", True), ("vae", False)):
        before = load_file(base / part / "diffusion_pytorch_model.safetensors")
        after = load_file(tuned / part / "diffusion_pytorch_model.safetensors")
        assert any(not torch.equal(before[k], after[k]) for k in before) is changes, part
    before, after = load_file(base / "text_encoder" / "model.safetensors"), load_file(
        tuned / "text_encoder" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert "full UNet" in (job / "logs.txt").read_text()


def test_training_the_text_encoder_with_lora_saves_its_layers_in_both_files(tmp_path):
    job = train(tmp_path, "te", "-H", "peft_type=lora", "-H", "train_text_encoder=True", "-H", "max_steps=1",
                "-H", "num_validation_images=0")
    keys = load_file(job / "adapter" / "pytorch_lora_weights.safetensors").keys()
    assert any(k.startswith("text_encoder.") for k in keys) and any(k.startswith("unet.") for k in keys)
    with safe_open(job / "adapter" / "te.kohya.safetensors", "pt") as f:
        kohya = list(f.keys())
    assert any(k.startswith("lora_te_text_model_encoder_layers_") for k in kohya), kohya[:5]


def test_prior_preservation_generates_class_images_once_and_caches_them(tmp_path):
    settings = ["-H", "with_prior_preservation=True", "-H", "num_class_images=2", "-H", "max_steps=1",
                "-H", "num_validation_images=0", "-H", "peft_type=lora"]
    first = train(tmp_path, "prior1", *settings)
    log = (first / "logs.txt").read_text()
    assert "2 to generate with the base model ('a photo of a cat')" in log
    cache = Path(re.search(r"cached in (\S+),", log).group(1))
    made = sorted(cache.glob("class-*.png"))
    assert len(made) == 2 and all(Image.open(p).size == (64, 64) for p in made)
    stamps = [p.stat().st_mtime_ns for p in made]
    assert "2 class images ('a photo of a cat')" in log

    second = train(tmp_path, "prior2", *settings)
    assert "2 cached in" in (second / "logs.txt").read_text() and "0 to generate" in (second / "logs.txt").read_text()
    assert [p.stat().st_mtime_ns for p in sorted(cache.glob("class-*.png"))] == stamps

    own = tmp_path / "with-class-dir"
    shutil.copytree(DATA, own)
    (own / "class_data_dir").mkdir()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(own / "class_data_dir" / "cat.png")
    third = train(tmp_path, "prior3", *settings, data=own)
    assert "1 from class_data_dir/, 1 cached in" in (third / "logs.txt").read_text()


def test_a_local_diffusers_folder_trains_as_text_to_image(tmp_path):
    folder = tmp_path / "my-sd"
    shutil.copytree(base_pipeline_dir(), folder, ignore=shutil.ignore_patterns("fmtune_source.json"))
    job = train(tmp_path, "local", "-H", "peft_type=lora", "-H", "max_steps=1", "-H", "num_validation_images=0",
                model=str(folder), tiny=False)
    assert (job / "adapter" / "pytorch_lora_weights.safetensors").exists()
    assert json.loads((job / "config.json").read_text())["task"] == "text-to-image"


def test_a_v_prediction_scheduler_trains_on_the_velocity(tmp_path):
    folder = tmp_path / "sd-v"
    shutil.copytree(base_pipeline_dir(), folder, ignore=shutil.ignore_patterns("fmtune_source.json"))
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "prediction_type": "v_prediction"}))
    job = train(tmp_path, "vpred", "-H", "peft_type=lora", "-H", "max_steps=2", "-H", "num_validation_images=0",
                model=str(folder), tiny=False)
    log = (job / "logs.txt").read_text()
    assert "prediction_type=v_prediction" in log and len(step_losses(log)) == 2


def test_the_catalog_id_loads_its_weights_from_the_hugging_face_cache(tmp_path, monkeypatch):
    """`fmtune train model-txt2img-...` without --tiny-random: stabilityai/stable-diffusion-2-1-base in diffusers
    layout from the local cache, offline (here the tiny pipeline's files stand in for the real ones)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--stabilityai--stable-diffusion-2-1-base"
    shutil.copytree(base_pipeline_dir(), repo / "snapshots" / ("b" * 40),
                    ignore=shutil.ignore_patterns("fmtune_source.json"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    job = train(tmp_path, "from-cache", "-H", "peft_type=lora", "-H", "max_steps=1", "-H", "num_validation_images=0",
                tiny=False)
    assert "RANDOM" not in (job / "logs.txt").read_text() and (job / "model" / "model_index.json").exists()


def test_a_local_pipeline_with_pickled_weights_is_refused(tmp_path, capsys):
    folder = tmp_path / "pickled"
    shutil.copytree(base_pipeline_dir(), folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    assert main(["train", str(folder), "--training", str(DATA)]) == 2
    err = capsys.readouterr().err
    assert "unet" in err and "safetensors" in err and "Traceback" not in err


@pytest.mark.parametrize(("settings", "env", "message"), [
    (["-H", "precision=fp16"], {}, "precision=fp16 needs a CUDA GPU"),
    (["-H", "resolution=512", "-H", "gradient_checkpointing=True"], {"FMTUNE_MEMORY_GIB": "0.2"},
     "Not enough memory: the estimated peak"),
])
def test_a_run_that_cannot_work_here_fails_before_training(tmp_path, monkeypatch, capsys, settings, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    job_dir = tmp_path / "refused"
    code = main(["train", SD, "--tiny-random", "--training", str(DATA), "--output-dir", str(job_dir),
                 "-H", "max_steps=1", *settings])
    log = (job_dir / "logs.txt").read_text()
    assert code == 2 and message in log and "step=" not in log and "Traceback" not in log


def test_a_clip_model_that_is_not_one_is_refused_before_the_job_starts(tmp_path, capsys):
    (tmp_path / "not-clip").mkdir()
    (tmp_path / "not-clip" / "config.json").write_text('{"model_type": "llama"}')
    for folder, says in ((tmp_path / "missing", "has no config.json"), (tmp_path / "not-clip", "is not a CLIP model")):
        code = main(["train", SD, "--tiny-random", "--training", str(DATA), "--output-dir", str(tmp_path / "job"),
                     "-H", f"clip_model={folder}"])
        err = capsys.readouterr().err
        assert code == 2 and f"clip_model={str(folder)!r}" in err and says in err and "Traceback" not in err
        assert not (tmp_path / "job").exists()


class FeatureStandIn(torch.nn.Module):
    """What the FID network file is to fmtune: TorchScript taking uint8 NCHW images and `return_features`. The real
    Inception weights cannot be had offline; this stand-in pools colours into 48 features."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4)
        return pooled.flatten(1)


def test_compute_fid_logs_jumpstarts_fid_score(tmp_path, monkeypatch):
    weights = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(FeatureStandIn()).save(str(weights))
    monkeypatch.setenv("FMTUNE_INCEPTION_WEIGHTS", str(weights))
    job = train(tmp_path, "fid", "-H", "peft_type=lora", "-H", "max_steps=1", "-H", "num_validation_images=0",
                "-H", "compute_fid=True")
    log = (job / "logs.txt").read_text()
    score = float(re.search(r"fid_score=([-+]?\d\.?\d*)", log).group(0).split("=")[1])  # JumpStart's metric regex
    assert score >= 0 and "(4 generated vs 4 instance images; the base: " in log
    assert json.loads((job / "metrics.jsonl").read_text().splitlines()[-1])["fid_score"] == pytest.approx(score)
    scores = json.loads((job / "eval" / "metrics.json").read_text())  # the base's FID too, in the report
    assert scores["tuned"]["fid_score"] == pytest.approx(score, abs=1e-6) and scores["base"]["fid_score"] >= 0
    assert "FID vs instance images" in (job / "eval" / "report.html").read_text()


class NoFeatures(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def test_a_network_that_gives_no_features_fails_before_training(tmp_path, monkeypatch):
    weights = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(NoFeatures()).save(str(weights))
    monkeypatch.setenv("FMTUNE_INCEPTION_WEIGHTS", str(weights))
    job_dir = tmp_path / "no-features"
    assert main(["train", SD, "--tiny-random", "--training", str(DATA), "--output-dir", str(job_dir),
                 "-H", "compute_fid=True", "-H", "with_prior_preservation=True", *FAST]) == 2
    log = (job_dir / "logs.txt").read_text()
    assert "does not turn images into features" in log and "class images" not in log and "step=" not in log


def test_a_stop_while_class_images_are_made_keeps_those_made(tmp_path):
    from fmtune.config.dreambooth import DreamBoothHyperparameters
    from fmtune.data.images import read_image_folder
    from fmtune.recipes.class_images import ensure_class_images
    from fmtune.recipes.dreambooth import Precision
    from fmtune.training.stop import JobStopped, StopRequest

    hp, _ = DreamBoothHyperparameters.resolve({"with_prior_preservation": "True", "num_class_images": "2",
                                               "resolution": "64", "seed": "77"})
    images = read_image_folder(DATA, resolution=64, with_prior_preservation=True)
    stop = StopRequest()
    stop.signal_number = signal.SIGTERM
    lines: list[str] = []
    with pytest.raises(JobStopped, match=r"while generating class images \(0 of 2 made and cached\)"):
        ensure_class_images(base_pipeline_dir(), images, hp, torch.device("cpu"), Precision(None), stop, lines.append)


def test_warmup_raises_the_learning_rate_over_its_steps(tmp_path):
    job = train(tmp_path, "warmup", "-H", "peft_type=lora", "-H", "max_steps=3", "-H", "num_validation_images=0",
                "-H", "lr_scheduler=constant_with_warmup", "-H", "lr_warmup_steps=2", "-H", "learning_rate=0.001")
    rates = [json.loads(line)["learning_rate"] for line in (job / "steps.jsonl").read_text().splitlines()]
    assert rates == pytest.approx([0.0, 0.0005, 0.001])  # diffusers' warmup: linear from 0


def test_a_damaged_fid_network_fails_before_training(tmp_path, monkeypatch):
    weights = tmp_path / "inception-2015-12-05.pt"
    weights.write_bytes(b"not torchscript")
    monkeypatch.setenv("FMTUNE_INCEPTION_WEIGHTS", str(weights))
    job_dir = tmp_path / "bad-fid"
    assert main(["train", SD, "--tiny-random", "--training", str(DATA), "--output-dir", str(job_dir),
                 "-H", "compute_fid=True", *FAST]) == 2
    log = (job_dir / "logs.txt").read_text()
    assert "not a TorchScript Inception network that can be loaded" in log and "step=" not in log


# kill -9 and resume: the recipe in its own process, as the runner starts it.
RESUME_SETTINGS = {"peft_type": "lora", "max_steps": "30", "checkpoint_steps": "2", "resolution": "64",
                   "num_validation_images": "0", "learning_rate": "0.001", "batch_size": "2",
                   "with_prior_preservation": "True", "num_class_images": "2"}


def new_job(root: Path, name: str) -> Path:
    job = build_job(SD, {"training": DATA}, RESUME_SETTINGS, job_name=name, output_dir=root / name,
                    tiny_random=True)
    Path(job.job_dir).mkdir(parents=True)
    job.save(JobLayout(Path(job.job_dir)).config)
    return Path(job.job_dir)


def run_recipe(job_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fmtune.recipes.dreambooth", "--job-dir", str(job_dir), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def recipe(argv: list[str]) -> int:
    """The recipe's main in this process; it installs its own stop handlers, pytest's come back after."""
    from fmtune.recipes.dreambooth import main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return main(argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_kill_9_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    straight = new_job(tmp_path, "straight")
    assert recipe(["--job-dir", str(straight)]) == 0, (straight / "logs.txt").read_text()

    killed = new_job(tmp_path, "killed")
    process = run_recipe(killed)
    deadline = time.monotonic() + 300
    while not any((p / COMPLETE_MARKER).exists() for p in (killed / "checkpoints").glob("step-*")):
        assert process.poll() is None and time.monotonic() < deadline, (killed / "logs.txt").read_text()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert not (killed / "model").exists(), "the job finished before it could be killed"
    assert recipe(["--job-dir", str(killed), "--resume"]) == 0, (killed / "logs.txt").read_text()
    assert "resumed from step-" in (killed / "logs.txt").read_text()

    expected = load_file(straight / "adapter" / "pytorch_lora_weights.safetensors")
    actual = load_file(killed / "adapter" / "pytorch_lora_weights.safetensors")
    assert expected.keys() == actual.keys()
    worst = max((expected[k] - actual[k]).abs().max().item() for k in expected)
    assert worst <= 1e-6, f"the resumed LoRA differs by {worst}"
    losses = [json.loads(line)["train_loss"] for line in (straight / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(line)["train_loss"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert resumed == pytest.approx(losses, abs=1e-6)
    straight_steps = [json.loads(line) for line in (straight / "steps.jsonl").read_text().splitlines()]
    resumed_steps = [json.loads(line) for line in (killed / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_steps] == list(range(1, 31)) == [r["step"] for r in straight_steps]
    assert [r["loss"] for r in resumed_steps] == pytest.approx([r["loss"] for r in straight_steps], abs=1e-6)
