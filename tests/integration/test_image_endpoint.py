"""A text-to-image endpoint over a DreamBooth job of the tiny SD 2.x pipeline: JumpStart's /invocations contract
(both content types, both accepts), OpenAI's /v1/images/generations, a LoRA adapter chosen per request on one
base, every limit answered with a 4xx, and the API key; then the SD notebook's flow through JumpStartEstimator."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace

import httpx
import numpy as np
import pytest
from PIL import Image

from fmtune.cli.main import main
from fmtune.models.source import resolve_source
from fmtune.sagemaker import hyperparameters
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
from fmtune.sagemaker.jumpstart.model import JumpStartModel
from fmtune.sagemaker.jumpstart.utils import get_jumpstart_content_bucket
from fmtune.sagemaker.s3 import S3Uploader
from fmtune.serve.image_engine import ImageEngine
from fmtune.serve.registry import get_endpoint
from fmtune.serve.server import ServerThread
from fmtune.serve.settings import ServeSettings

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process", "endpoints_in_process")]

SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SETTINGS = ServeSettings(api_key=KEY, max_image_side=256, max_inference_steps=8, max_images=3,
                         max_body_bytes=4096)
FAST = {"num_inference_steps": 2}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    job_dir = tmp_path_factory.mktemp("sd-endpoint") / "cat"
    assert main(["train", SD, "--tiny-random", "--training", str(SAMPLES / "dreambooth"), "--output-dir",
                 str(job_dir), "-H", "peft_type=lora", "-H", "max_steps=2", "-H", "resolution=64",
                 "-H", "learning_rate=0.01", "-H", "num_validation_images=0"]) == 0
    return job_dir


@pytest.fixture(scope="module")
def endpoint(job):
    engine = ImageEngine.load(str(job), settings=SETTINGS)
    with ServerThread(engine) as server:
        yield server.url
    engine.close()


@pytest.fixture(scope="module")
def with_adapter(job):
    """The base pipeline with the job's LoRA loaded on it as the adapter `cat`."""
    base = resolve_source(SD, tiny_random=True).location
    engine = ImageEngine.load(base, {"cat": str(job)}, replace(SETTINGS, served_model_name="base"))
    with ServerThread(engine) as server:
        yield server.url
    engine.close()


def post(url: str, path: str, body: bytes | dict, content_type: str = "application/json",
         accept: str = "application/json", headers: dict | None = None) -> httpx.Response:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return httpx.post(url + path, content=data, timeout=120,
                      headers={"Content-Type": content_type, "Accept": accept, **AUTH, **(headers or {})})


def jpeg(encoded: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(encoded.encode())))
    assert image.format == "JPEG"
    return image.convert("RGB")


def test_a_plain_text_prompt_gets_one_image_as_rgb_arrays_at_the_trained_size(endpoint):
    answer = post(endpoint, "/invocations", b"a photo of a Chelsea cat", "application/x-text")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["prompt"] == "a photo of a Chelsea cat"
    pixels = np.array(body["generated_image"])
    assert pixels.shape == (64, 64, 3) and pixels.dtype.kind == "i" and 0 <= pixels.min() <= pixels.max() <= 255


def test_a_quoted_prompt_from_older_notebooks_is_the_prompt(endpoint):
    answer = post(endpoint, "/invocations", json.dumps("a photo of a cat").encode(), "application/x-text")
    assert answer.status_code == 200 and answer.json()["prompt"] == "a photo of a cat"


def test_a_json_payload_gets_every_image_and_jpeg_decodes_to_the_requested_size(endpoint):
    payload = {"prompt": "a photo of a Chelsea cat", "width": 64, "height": 48, "num_images_per_prompt": 2,
               "guidance_scale": 7.5, "seed": 1, "negative_prompt": "blurry", **FAST}
    arrays = post(endpoint, "/invocations", payload).json()
    assert [np.array(image).shape for image in arrays["generated_images"]] == [(48, 64, 3)] * 2
    answer = post(endpoint, "/invocations", payload, accept="application/json;jpeg")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json;jpeg")
    images = [jpeg(encoded) for encoded in answer.json()["generated_images"]]
    assert [image.size for image in images] == [(64, 48)] * 2
    # the same seed, the same images (JPEG rounding aside)
    assert np.abs(np.asarray(images[0], float) - np.array(arrays["generated_images"][0])).mean() < 8


def test_a_seed_fixes_the_images(endpoint):
    payload = {"prompt": ["a cat", "a dog"], "negative_prompt": ["", "blurry"], "seed": 7, **FAST}
    first, again = (post(endpoint, "/invocations", payload).json()["generated_images"] for _ in range(2))
    other = post(endpoint, "/invocations", {**payload, "seed": 8}).json()["generated_images"]
    assert first == again and first != other and len(first) == 2


def test_openai_images_route_answers_b64_json(endpoint):
    from openai import OpenAI

    client = OpenAI(base_url=endpoint + "/v1", api_key=KEY)
    result = client.images.generate(prompt="a photo of a Chelsea cat", size="64x64", n=2, response_format="b64_json",
                                    extra_body={"seed": 3, **FAST})
    images = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in result.data]
    assert [(image.format, image.size) for image in images] == [("PNG", (64, 64))] * 2
    refused = post(endpoint, "/v1/images/generations", {"prompt": "a cat", "response_format": "url"})
    assert refused.status_code == 400 and "b64_json" in refused.json()["error"]["message"]


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    ("/invocations", {"prompt": "a cat", "width": 100}, 422, "width: Input should be a multiple of 8"),
    ("/invocations", {"prompt": "a cat", "width": 512}, 400, "at most 256 pixels"),
    ("/invocations", {"prompt": "a cat", "num_inference_steps": 50}, 400, "--max-inference-steps"),
    ("/invocations", {"prompt": ["a", "b"], "num_images_per_prompt": 2}, 400, "4 images asked for"),
    ("/invocations", {"prompt": "a cat", "negative_prompt": ["x", "y"]}, 422, "negative_prompt"),
    ("/invocations", {"prompt": []}, 422, "non-empty list"),
    ("/invocations", {"width": 64}, 422, "prompt: Field required"),
    ("/invocations", {"prompt": "a cat", "model": "nope"}, 404, "model 'nope' is not served here"),
    ("/v1/images/generations", {"prompt": "a cat", "size": "64x60"}, 422, "WIDTHxHEIGHT"),
    ("/v1/images/generations", {"prompt": "a cat", "n": 4}, 400, "--max-images"),
])
def test_each_limit_is_a_4xx_that_names_it(endpoint, path, body, status, words):
    answer = post(endpoint, path, body)
    assert answer.status_code == status and words in answer.json()["error"]["message"], answer.text


def test_wrong_media_types_body_size_and_key(endpoint):
    assert post(endpoint, "/invocations", b"a cat", "image/png").status_code == 415
    assert post(endpoint, "/invocations", b"a cat", "application/x-text", accept="image/png").status_code == 406
    assert post(endpoint, "/invocations", {"prompt": "a cat " * 2000}).status_code == 413
    unauthorized = httpx.post(endpoint + "/invocations", content=b"a cat",
                              headers={"Content-Type": "application/x-text"})
    assert unauthorized.status_code == 401
    assert httpx.get(endpoint + "/health").status_code == 200  # the one open route
    assert post(endpoint, "/invocations", b"a cat", "application/x-text").status_code == 200  # still serving


def test_arrays_too_big_for_a_response_are_refused_before_generating(endpoint, monkeypatch):
    from fmtune.serve import image_app

    monkeypatch.setattr(image_app, "MAX_ARRAY_RESPONSE_BYTES", 100_000)  # 2 images of 64 x 64 x 3 ~ 98 kB
    payload = {"prompt": "a cat", "width": 64, "height": 64, "num_images_per_prompt": 3, **FAST}
    refused = post(endpoint, "/invocations", payload)
    assert refused.status_code == 413 and "application/json;jpeg" in refused.json()["error"]["message"]
    assert post(endpoint, "/invocations", payload, accept="application/json;jpeg").status_code == 200


def test_out_of_device_memory_is_a_503_and_the_next_request_is_served(job):
    import torch

    engine = ImageEngine.load(str(job), settings=SETTINGS)
    real = engine.pipeline

    def exhausted(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with ServerThread(engine) as server:
        engine.pipeline = exhausted
        answer = post(server.url, "/invocations", {"prompt": "a cat", **FAST})
        assert answer.status_code == 503 and "fewer or smaller images" in answer.json()["error"]["message"]
        engine.pipeline = real
        assert post(server.url, "/invocations", {"prompt": "a cat", **FAST}).status_code == 200
    engine.close()


def test_an_adapter_of_another_kind_is_refused_by_name(tmp_path):
    from fmtune.errors import UserError

    peft = tmp_path / "llm-adapter"
    peft.mkdir()
    (peft / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match=r"adapter '.*llm-adapter' is neither a folder with "
                                        r"pytorch_lora_weights\.safetensors .*a Stable Diffusion LoRA is needed"):
        ImageEngine.load(resolve_source(SD, tiny_random=True).location, {"x": str(peft)}, SETTINGS)


def test_an_adapter_is_chosen_per_request_on_one_base(with_adapter, endpoint):
    models = httpx.get(with_adapter + "/v1/models", headers=AUTH).json()["data"]
    assert [m["id"] for m in models] == ["base", "cat"]
    payload = {"prompt": "a photo of a Chelsea cat", "seed": 5, "width": 64, "height": 64, **FAST}
    base = np.array(post(with_adapter, "/invocations", payload).json()["generated_images"][0], float)
    cat = np.array(post(with_adapter, "/invocations", {**payload, "model": "cat"}).json()["generated_images"][0],
                   float)
    base_again = np.array(post(with_adapter, "/invocations", payload).json()["generated_images"][0], float)
    merged = np.array(post(endpoint, "/invocations", payload).json()["generated_images"][0], float)
    assert np.array_equal(base, base_again)  # switching the adapter off again restores the base
    assert np.abs(cat - base).mean() > 1  # the LoRA changes the image
    assert np.abs(cat - merged).mean() < 1  # the adapter on the base = the job's fused pipeline
    bad = post(with_adapter, "/invocations", {**payload, "model": "dog"})
    assert bad.status_code == 404 and "base, cat" in bad.json()["error"]["message"]


def test_the_sd_notebook_fits_deploys_and_predicts_jpeg():
    """aws/amazon-sagemaker-examples' JumpStart Stable Diffusion notebook (sm-jumpstart_stable_diffusion_text_to_image),
    its calls as written there with `sagemaker` → `fmtune.sagemaker`; the dog images in JumpStart's bucket are the
    sample cat photos in fmtune's local stand-in for it; max_steps and the resolution are cut to what a test needs."""
    training_dataset_s3_path = f"s3://{get_jumpstart_content_bucket()}/training-datasets/dogs_sd_finetuning/"
    for image in sorted((SAMPLES / "dreambooth").iterdir()):
        S3Uploader.upload(str(image), training_dataset_s3_path)
    train_model_id, train_model_version = SD, "*"
    my_hyperparameters = hyperparameters.retrieve_default(model_id=train_model_id, model_version=train_model_version)
    my_hyperparameters["max_steps"] = "2"
    my_hyperparameters["resolution"] = "64"  # fmtune's own; JumpStart trains 2.1-base at 512
    hyperparameters.validate(model_id=train_model_id, model_version=train_model_version,
                             hyperparameters=my_hyperparameters)
    sd_estimator = JumpStartEstimator(model_id=train_model_id, hyperparameters=my_hyperparameters,
                                      instance_type="ml.g5.2xlarge", max_run=360000, tiny_random=True)
    sd_estimator.fit({"training": training_dataset_s3_path}, logs=True)
    finetuned_predictor = sd_estimator.deploy()
    model_predictor = JumpStartModel(model_id=train_model_id, model_version="*", tiny_random=True).deploy()
    try:
        def query_endpoint(model_predictor, text):
            encoded_text = text.encode("utf-8")
            return model_predictor.predict(encoded_text, {"ContentType": "application/x-text",
                                                          "Accept": "application/json;jpeg"})

        def parse_response(query_response):
            response_dict = json.loads(query_response)
            return response_dict["generated_image"], response_dict["prompt"]

        img, prmpt = parse_response(query_endpoint(finetuned_predictor, "a photo of a Chelsea cat"))
        image = Image.open(io.BytesIO(base64.b64decode(img.encode()))).convert("RGB")
        assert image.size == (64, 64) and prmpt == "a photo of a Chelsea cat"
        base = model_predictor.predict(json.dumps({"prompt": "a photo of a Chelsea cat", **FAST}).encode("utf-8"),
                                       {"ContentType": "application/json", "Accept": "application/json;jpeg"})
        # the base model's native size (JumpStart: 512 for 2.1-base)
        assert jpeg(json.loads(base)["generated_images"][0]).size == (512, 512)

        payload = {"prompt": "a photo of a Chelsea cat", "width": 64, "height": 64, "num_images_per_prompt": 2,
                   "num_inference_steps": 2, "guidance_scale": 7.5, "seed": 1}
        response = finetuned_predictor.predict(json.dumps(payload).encode("utf-8"),
                                               {"ContentType": "application/json", "Accept": "application/json;jpeg"})
        generated_images = json.loads(response)["generated_images"]
        assert [jpeg(encoded).size for encoded in generated_images] == [(64, 64)] * 2
    finally:
        for predictor in (finetuned_predictor, model_predictor):
            predictor.delete_model()
            predictor.delete_endpoint()
    assert get_endpoint(finetuned_predictor.endpoint_name) is None


def test_cli_generate_writes_an_image_of_a_text_to_image_job(job, tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert main(["generate", str(job), "a photo of a Chelsea cat", "--output", str(out), "--steps", "2",
                 "--seed", "4", "--size", "48"]) == 0
    assert Image.open(out).size == (48, 48) and f"{out} (48x48, seed 4)" in capsys.readouterr().out
    assert main(["generate", str(job), "a cat", "--size", "50"]) == 2
    assert "--size 50: must be a positive multiple of 8" in capsys.readouterr().err
