"""The HTTP endpoint of a text-to-image model: JumpStart's Stable Diffusion /invocations and OpenAI's
/v1/images/generations over one `ImageEngine`, behind the same guard, errors and routes every endpoint has
(fmtune.serve.app.endpoint_app).

/invocations (shared/reference/stable-diffusion.md §3): `application/x-text` (the body is the prompt) answers
{"generated_image", "prompt"}; `application/json` (prompt, width, height, num_inference_steps, guidance_scale,
negative_prompt, num_images_per_prompt, seed) answers {"generated_images", "prompt"}. `Accept: application/json`
gives each image as nested RGB arrays (H x W x 3); `application/json;jpeg` as a base64 JPEG.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fmtune.models.diffusion import DEFAULT_STEPS, GUIDANCE_SCALE
from fmtune.serve.app import TEXT_TYPES, endpoint_app, json_body, pick_model
from fmtune.serve.engine import Overloaded
from fmtune.serve.image_engine import ImageEngine, ImageJob, OutOfMemory, ServedImageModel
from fmtune.serve.protocol import ApiError, ImageGenerationRequest, TextToImageRequest, parse_json, validate

ROUTES = ("/invocations", "/v1/images/generations", "/v1/models", "/health", "/metrics", "/openapi.json")
BODY_MODELS = (TextToImageRequest, ImageGenerationRequest)
JSON_ARRAYS, JSON_JPEG = "application/json", "application/json;jpeg"
# Nested RGB arrays cost ~4 bytes of JSON per channel value; JumpStart's notebooks raise its response limit to
# 20 MB (MMS_MAX_RESPONSE_SIZE) for them. Bigger answers are refused before any image is made.
MAX_ARRAY_RESPONSE_BYTES = 20_000_000
ARRAY_BYTES_PER_VALUE = 4
SIZE = re.compile(r"(\d+)x(\d+)")


def create_image_app(engine: ImageEngine) -> FastAPI:
    app = endpoint_app(engine, ROUTES, BODY_MODELS)

    @app.post("/invocations", openapi_extra=json_body(TextToImageRequest))
    async def invocations(request: Request) -> Any:
        accept = image_accept(request.headers.get("accept", ""))
        body, single = invocation_request(request.headers.get("content-type", ""), await request.body())
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        job = image_job(engine, prompts, negative_prompts(body.prompt, body.negative_prompt), body.width,
                        body.height, body.num_inference_steps, body.guidance_scale, body.num_images_per_prompt,
                        body.seed)
        if accept == JSON_ARRAYS:
            refuse_huge_arrays(job)
        images = await generate(engine, pick_model(engine, body.model), job)
        # encoding megapixels is seconds of CPU: off the event loop, which keeps answering meanwhile
        encoded = await asyncio.to_thread(lambda: [encode_image(image, accept) for image in images])
        answer = {"generated_image": encoded[0]} if single else {"generated_images": encoded}
        return JSONResponse({**answer, "prompt": body.prompt}, media_type=accept)

    @app.post("/v1/images/generations", openapi_extra=json_body(ImageGenerationRequest))
    async def images_generations(request: Request) -> Any:
        body = validate(ImageGenerationRequest, parse_json(await request.body()))
        if body.response_format == "url":
            raise ApiError(400, "response_format 'url': this endpoint keeps no images to link to; use 'b64_json'.",
                           param="response_format", code="unsupported_response_format")
        width, height = parse_size(body.size)
        job = image_job(engine, [body.prompt], [body.negative_prompt] if body.negative_prompt else None, width,
                        height, body.num_inference_steps, body.guidance_scale, body.n, body.seed)
        images = await generate(engine, pick_model(engine, body.model), job)
        encoded = await asyncio.to_thread(lambda: [image_base64(image, body.output_format) for image in images])
        return {"created": int(time.time()), "data": [{"b64_json": b64} for b64 in encoded]}

    return app


def invocation_request(content_type: str, body: bytes) -> tuple[TextToImageRequest, bool]:
    """The request and whether it was a bare prompt (answered with one `generated_image`)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in TEXT_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"the {media} body is not UTF-8 text; send UTF-8.", code="bad_encoding") from None
        try:  # older notebooks send json.dumps(prompt): a quoted string
            quoted = json.loads(text)
            text = quoted if isinstance(quoted, str) else text
        except ValueError:
            pass
        return validate(TextToImageRequest, {"prompt": text}), True
    if media in ("", "application/json"):
        return validate(TextToImageRequest, parse_json(body)), False
    raise ApiError(415, f"Content-Type {media!r} is not accepted here; send application/json (prompt, width, height, "
                        f"num_inference_steps, ...) or one of {list(TEXT_TYPES)} (the prompt).",
                   code="unsupported_media_type")


def image_accept(accept: str) -> str:
    """What the client accepts: nested arrays (application/json, */*, nothing) or base64 JPEGs."""
    offered = [part.replace(" ", "").lower() for part in accept.split(",") if part.strip()]
    for media in offered:
        if media == JSON_JPEG:
            return JSON_JPEG
        if media.split(";", 1)[0] in (JSON_ARRAYS, "*/*", "application/*"):
            return JSON_ARRAYS
    if not offered:
        return JSON_ARRAYS
    raise ApiError(406, f"Accept {accept!r}: this endpoint answers {JSON_ARRAYS} (images as nested RGB arrays) or "
                        f"{JSON_JPEG} (images as base64 JPEG).", code="not_acceptable")


def negative_prompts(prompt: str | list[str], negative: str | list[str] | None) -> list[str] | None:
    """JumpStart's rule: a list of prompts takes a list of negative prompts, one each; a prompt, a string."""
    if negative is None:
        return None
    if isinstance(prompt, str) != isinstance(negative, str):
        raise ApiError(422, "negative_prompt: give a string with a string prompt, and a list (one per prompt) with a "
                            "list of prompts.", param="negative_prompt")
    negatives = [negative] if isinstance(negative, str) else negative
    if len(negatives) != (1 if isinstance(prompt, str) else len(prompt)):
        raise ApiError(422, f"negative_prompt: {len(negatives)} given for {len(prompt)} prompts; give one per prompt.",
                       param="negative_prompt")
    return negatives


def image_job(engine: ImageEngine, prompts: list[str], negatives: list[str] | None, width: int | None,
              height: int | None, steps: int | None, guidance: float | None, per_prompt: int,
              seed: int | None) -> ImageJob:
    """The request's generation, checked against the endpoint's limits (400 naming the limit and its flag)."""
    settings = engine.settings
    if not prompts or any(not isinstance(p, str) for p in prompts):
        raise ApiError(422, "prompt: give a string or a non-empty list of strings.", param="prompt")
    # a request that names no step count (a plain-text prompt) gets the default, within this endpoint's cap
    steps = steps or min(DEFAULT_STEPS, settings.max_inference_steps)
    guidance = GUIDANCE_SCALE if guidance is None else guidance
    job = ImageJob(prompts, negatives, width or engine.default_size, height or engine.default_size, steps, guidance,
                   per_prompt, seed)
    for param, value in (("width", job.width), ("height", job.height)):
        if value > settings.max_image_side:
            raise ApiError(400, f"{param}={value}: at most {settings.max_image_side} pixels on this endpoint "
                                "(--max-image-side).", param=param, code="image_too_large")
    if job.steps > settings.max_inference_steps:
        raise ApiError(400, f"num_inference_steps={job.steps}: at most {settings.max_inference_steps} on this endpoint "
                            "(--max-inference-steps).", param="num_inference_steps", code="too_many_steps")
    if job.count > settings.max_images:
        raise ApiError(400, f"{job.count} images asked for ({len(prompts)} prompt(s) x {per_prompt}): at most "
                            f"{settings.max_images} per request on this endpoint (--max-images).",
                       param="num_images_per_prompt", code="too_many_images")
    return job


def parse_size(size: str | None) -> tuple[int | None, int | None]:
    if size is None or size == "auto":
        return None, None
    match = SIZE.fullmatch(size)
    if not match or int(match[1]) % 8 or int(match[2]) % 8 or not int(match[1]) or not int(match[2]):
        raise ApiError(422, f"size={size!r}: expected WIDTHxHEIGHT in pixels, each a positive multiple of 8 "
                            "(e.g. '512x512').", param="size")
    return int(match[1]), int(match[2])


def refuse_huge_arrays(job: ImageJob) -> None:
    size = job.count * job.width * job.height * 3 * ARRAY_BYTES_PER_VALUE
    if size > MAX_ARRAY_RESPONSE_BYTES:
        raise ApiError(413, f"{job.count} image(s) of {job.width}x{job.height} as nested RGB arrays would be about "
                            f"{size / 1e6:.0f} MB of JSON (at most {MAX_ARRAY_RESPONSE_BYTES / 1e6:.0f} MB); send "
                            f"Accept: {JSON_JPEG} (base64 JPEG) or ask for fewer or smaller images.",
                       param="num_images_per_prompt", code="response_too_large")


async def generate(engine: ImageEngine, served: ServedImageModel, job: ImageJob) -> list[Any]:
    try:
        return await engine.generate(served, job)
    except Overloaded as err:
        raise ApiError(429, str(err), kind="rate_limit_error", code="too_many_requests") from None
    except OutOfMemory as err:
        raise ApiError(503, str(err), kind="server_error", code="out_of_memory") from None


def encode_image(image: Any, accept: str) -> Any:
    if accept == JSON_JPEG:
        return image_base64(image, "jpeg")
    import numpy as np

    return np.asarray(image.convert("RGB")).tolist()


def image_base64(image: Any, fmt: str) -> str:
    data = io.BytesIO()
    image.convert("RGB").save(data, format="JPEG" if fmt == "jpeg" else "PNG", quality=95, subsampling=0)
    return base64.b64encode(data.getvalue()).decode("ascii")
