"""Request bodies the endpoint accepts (OpenAI and JumpStart wire formats) and the errors it answers with.

Validation reports every bad field at once, naming the field as the client wrote it."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

B = TypeVar("B", bound=BaseModel)
UNION_TAG = re.compile(r"str|int|float|bool|none|list\[.*\]|function-.*|[A-Z]\w*")  # pydantic's union branches
MAX_CHOICES = 8
MAX_BEAMS = 8
MAX_STOPS = 16
MAX_JSON_DEPTH = 64  # no request needs more; deeper bodies would exhaust recursion in parsing and validation
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))

# Sampling fields mean the same on every route (OpenAI's and JumpStart's): one definition of each, so
# /invocations accepts exactly what /v1 accepts.
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
TopK = Annotated[int, Field(ge=1)]
NewTokens = Annotated[int, Field(ge=1)]


class ApiError(Exception):
    """An answer other than 200, as OpenAI shapes it: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown OpenAI fields are ignored, as OpenAI-compatible servers do


class StreamOptions(_Body):
    include_usage: bool = False


class CompletionRequest(_Body):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: NewTokens | None = None
    temperature: Temperature = 1.0  # OpenAI's default: sample
    top_p: TopP = 1.0
    top_k: TopK | None = None  # vLLM's extension
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool = False
    logprobs: int | None = None


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(_Body):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: NewTokens | None = None
    max_completion_tokens: NewTokens | None = None
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    top_k: TopK | None = None
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    tools: list[Any] | None = None


class JumpStartSampling(_Body):
    """The sampling fields JumpStart's text payloads share (None: the model's generation config decides)."""

    max_new_tokens: NewTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    top_k: TopK | None = None
    do_sample: bool | None = None
    seed: int | None = None
    stop: str | list[str] | None = None


class TextGenerationParameters(JumpStartSampling):
    """JumpStart / TGI `parameters`."""

    return_full_text: bool = False


class TextGenerationRequest(_Body):
    """JumpStart text generation: {"inputs": str, "parameters": {...}} → [{"generated_text": str}]."""

    model: str | None = None  # fmtune extension: pick an adapter
    inputs: str | list[str]
    parameters: TextGenerationParameters = Field(default_factory=TextGenerationParameters)
    stream: bool = False  # TGI's token stream (server-sent events)


class Text2TextRequest(JumpStartSampling):
    """JumpStart Flan-T5: {"text_inputs": str, "max_length", ...} → {"generated_texts": [...]}."""

    model: str | None = None
    text_inputs: str | list[str]
    max_length: NewTokens | None = None
    num_return_sequences: int = Field(1, ge=1, le=MAX_CHOICES)
    num_beams: int = Field(1, ge=1, le=MAX_BEAMS)  # > 1 with do_sample false: beam search


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a 400: not JSON, nested too deeply, or holding text that is not Unicode."""
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, f"body: arrays and objects are nested {depth} levels deep; at most {MAX_JSON_DEPTH} "
                            "levels are accepted.", param="body", code="invalid_json")
    try:
        data = json.loads(body)
        json.dumps(data, ensure_ascii=False).encode()  # lone surrogates ("\\ud800") cannot be tokenized or echoed
    except (UnicodeError, json.JSONDecodeError, RecursionError) as err:
        raise ApiError(400, f"the request body is not valid JSON: {err}", param="body", code="invalid_json") from None
    return data


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest, found without recursion (strings skipped, as their brackets are text)."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(1 if b in b"[{" else -1 for b in brackets), default=0)


def validate(model: type[B], data: Any) -> B:
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            where = ".".join(str(p) for p in item["loc"] if not UNION_TAG.fullmatch(str(p)))
            got = f" (got {json.dumps(item['input'])[:80]})" if "input" in item and item["type"] != "missing" else ""
            problems.append(f"{where or 'body'}: {item['msg']}{got}")
        unique = list(dict.fromkeys(problems))
        raise ApiError(422, f"{len(unique)} problem(s) in the request: " + "; ".join(unique),
                       param=str(err.errors()[0]["loc"][0]) if err.errors()[0]["loc"] else None) from None


def stop_list(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOPS:
        raise ApiError(400, f"stop: at most {MAX_STOPS} stop strings, got {len(stops)}.", param="stop")
    return tuple(s for s in stops if s)


def jumpstart_sampling(temperature: float | None, do_sample: bool | None) -> float:
    """JumpStart/TGI: do_sample=False means greedy; a temperature > 0 (or do_sample=True) means sampling."""
    if do_sample is False:
        return 0.0
    if temperature is None:
        return 1.0 if do_sample else 0.0
    return temperature


# --- text-to-image ----------------------------------------------------------------------------------

Prompts = str | list[str]
Pixels = Annotated[int, Field(ge=8, multiple_of=8)]  # the VAE works on 8 x 8 blocks
Steps = Annotated[int, Field(ge=1)]
Guidance = Annotated[float, Field(ge=0, le=50, allow_inf_nan=False)]  # <= 1 turns guidance off
Seed = Annotated[int, Field(ge=0, lt=2**63)]


class TextToImageRequest(_Body):
    """JumpStart's Stable Diffusion payload (ContentType application/json); `model` picks an adapter (fmtune)."""

    prompt: Prompts
    width: Pixels | None = None
    height: Pixels | None = None
    num_inference_steps: Steps | None = None
    guidance_scale: Guidance | None = None
    negative_prompt: Prompts | None = None
    num_images_per_prompt: int = Field(1, ge=1)
    seed: Seed | None = None
    model: str | None = None


class ImageGenerationRequest(_Body):
    """OpenAI's POST /v1/images/generations; seed, negative_prompt, num_inference_steps and guidance_scale are
    fmtune's extensions (the OpenAI client's extra_body)."""

    prompt: str
    model: str | None = None
    n: int = Field(1, ge=1)
    size: str | None = None  # "WIDTHxHEIGHT"
    response_format: Literal["b64_json", "url"] = "b64_json"
    output_format: Literal["png", "jpeg"] = "png"
    seed: Seed | None = None
    negative_prompt: str | None = None
    num_inference_steps: Steps | None = None
    guidance_scale: Guidance | None = None
