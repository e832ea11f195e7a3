"""The HTTP endpoint: JumpStart's /invocations and OpenAI's /v1 routes over one `Engine`.

One guard in front of every route checks the API key (all routes but /health), the body size, and
records Prometheus metrics; handlers validate, check token limits, then queue work on the engine.
Handlers read raw bodies (to bound their nesting and word their errors); /openapi.json still describes them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from fmtune.catalog import ModelCard
from fmtune.catalog.examples import generated_text_key
from fmtune.serve.decoding import Event, SamplingParams
from fmtune.serve.engine import Engine, GenerationJob, Overloaded, RequestHandle, ServedModel, render_chat
from fmtune.serve.metrics import Metrics
from fmtune.serve.protocol import (
    ApiError,
    ChatRequest,
    CompletionRequest,
    Text2TextRequest,
    TextGenerationRequest,
    jumpstart_sampling,
    parse_json,
    stop_list,
    validate,
)

log = logging.getLogger("fmtune.serve")
ROUTES = ("/invocations", "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics",
          "/openapi.json")
BODY_MODELS = (CompletionRequest, ChatRequest, TextGenerationRequest, Text2TextRequest)
OPEN_ROUTES = ("/health",)
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"  # what SageMaker's invoke_endpoint sends custom_attributes as
TEXT_TYPES = ("text/plain", "application/x-text")
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def create_app(engine: Engine) -> FastAPI:
    settings = engine.settings
    app = endpoint_app(engine, ROUTES, BODY_MODELS)

    @app.post("/v1/completions", openapi_extra=json_body(CompletionRequest))
    async def completions(request: Request) -> Any:
        body = validate(CompletionRequest, parse_json(await request.body()))
        if body.logprobs is not None:
            raise ApiError(400, "logprobs are not supported by this endpoint; leave the field out.", param="logprobs")
        served = pick_model(engine, body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise ApiError(422, "prompt: give a string or a non-empty list of strings.", param="prompt")
        jobs, texts = [], []
        for prompt in prompts:
            ids = encode(engine, prompt, add_special_tokens=True)
            limit = plan_new_tokens(engine, len(ids), body.max_tokens, 16, "max_tokens")
            for j in range(body.n):
                params = SamplingParams(limit, body.temperature, body.top_p, seed_for(body.seed, j),
                                        stop_list(body.stop), body.top_k)
                jobs.append(GenerationJob(ids, params, served, served.stop_token_ids))
                texts.append(prompt if body.echo else "")
        handles = submit(engine, jobs)
        envelope = openai_envelope(f"cmpl-{uuid.uuid4().hex}", "text_completion", served)

        def chunk(index: int, text: str, finish: str | None) -> dict[str, Any]:
            return envelope(choices=[{"index": index, "text": text, "finish_reason": finish, "logprobs": None}])

        def chunk_of(index: int, event: Event) -> dict[str, Any] | None:
            if event.finished:
                return chunk(index, event.text, finish_reason(event))
            return chunk(index, event.text, None) if event.text else None

        if body.stream:
            opening = [chunk(index, echo, None) for index, echo in enumerate(texts) if echo]
            return stream_choices(handles, opening, chunk_of, envelope if include_usage(body) else None)
        results = await collect(request, handles)
        usage = Usage()
        choices = []
        for index, ((text, final), echo) in enumerate(zip(results, texts, strict=True)):
            usage.add(final)
            choices.append({"index": index, "text": echo + text, "finish_reason": finish_reason(final),
                            "logprobs": None})
        return envelope(choices=choices, usage=usage.body())

    @app.post("/v1/chat/completions", openapi_extra=json_body(ChatRequest))
    async def chat_completions(request: Request) -> Any:
        body = validate(ChatRequest, parse_json(await request.body()))
        return await chat_completion(request, engine, body, pick_model(engine, body.model))

    @app.post("/invocations", openapi_extra=json_body(TextGenerationRequest, Text2TextRequest, ChatRequest))
    async def invocations(request: Request) -> Any:
        refuse_unaccepted_eula(engine, request.headers.get(CUSTOM_ATTRIBUTES, ""))
        data = invocation_payload(engine, request.headers.get("content-type", ""), await request.body())
        if isinstance(data, dict) and "messages" in data:
            if not settings.messages_api:
                raise ApiError(422, "this endpoint was deployed without the Messages API: deploy it with "
                                    "env={'MESSAGES_API_ENABLED': 'true'} (CLI: --messages-api), or send the "
                                    "messages to /v1/chat/completions.", param="messages", code="messages_api_off")
            body = validate(ChatRequest, data)
            # Messages API clients name the container's model ("/opt/ml/model", "tgi"): only an adapter's name picks.
            chosen = engine.served(body.model) if body.model else None
            return await chat_completion(request, engine, body, chosen or engine.base)
        if isinstance(data, dict) and "text_inputs" in data:
            return await text2text(request, engine, validate(Text2TextRequest, data))
        if isinstance(data, dict) and "inputs" in data:
            return await text_generation(request, engine, validate(TextGenerationRequest, data))
        raise ApiError(422, 'expected a JumpStart payload: {"inputs": "...", "parameters": {...}} (text generation), '
                            '{"text_inputs": "...", "max_length": ...} (Flan-T5), {"messages": [...]} (Messages API) '
                            "or a plain-text body (Content-Type: text/plain).", param="inputs")

    return app


def endpoint_app(engine: Any, routes: tuple[str, ...], body_models: tuple[type[BaseModel], ...]) -> FastAPI:
    """What every endpoint has, whatever it serves: the guard (key, body size, metrics), errors shaped as
    OpenAI's, /health, /metrics, /v1/models, and /openapi.json describing `body_models`. `engine` has
    `settings`, `metrics`, `base.name` and `adapters`."""
    settings = engine.settings
    app = FastAPI(title="fmtune endpoint", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.openapi = lambda: openapi_schema(app, body_models)  # type: ignore[method-assign]
    app.state.engine = engine
    app.add_middleware(Guard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes,
                       metrics=engine.metrics, routes=routes)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        engine.metrics.inc("fmtune_rejected_requests_total", reason=err.code or str(err.status))
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {err.detail}. Routes: {', '.join(routes)}."
        return JSONResponse(ApiError(err.status_code, message).body(), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        body = ApiError(500, f"internal error: {type(err).__name__}", kind="server_error").body()
        return JSONResponse(body, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(engine.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        data = [{"id": engine.base.name, "object": "model", "created": created, "owned_by": "fmtune",
                 "root": engine.base.name, "parent": None}]
        data += [{"id": name, "object": "model", "created": created, "owned_by": "fmtune",
                  "root": engine.base.name, "parent": engine.base.name} for name in engine.adapters]
        return {"object": "list", "data": data}

    return app


# --- JumpStart payloads --------------------------------------------------------------------------


async def chat_completion(request: Request, engine: Engine, body: ChatRequest, served: ServedModel) -> Any:
    """OpenAI chat completions, and JumpStart's Messages API (the same body on /invocations)."""
    if body.logprobs:
        raise ApiError(400, "logprobs are not supported by this endpoint; leave the field out.", param="logprobs")
    if body.tools:
        raise ApiError(400, "tools (function calling) are not supported by this endpoint.", param="tools")
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                for m in body.messages]
    text, templated = chat_prompt(engine, served, messages)
    ids = encode(engine, text, add_special_tokens=not templated)
    requested = body.max_completion_tokens or body.max_tokens
    limit = plan_new_tokens(engine, len(ids), requested, engine.settings.default_max_new_tokens, "max_tokens")
    jobs = [
        GenerationJob(ids, SamplingParams(limit, body.temperature, body.top_p, seed_for(body.seed, j),
                                          stop_list(body.stop), body.top_k), served, served.chat_stop_token_ids)
        for j in range(body.n)
    ]
    handles = submit(engine, jobs)
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    envelope = openai_envelope(ident, "chat.completion.chunk", served)

    def chunk(index: int, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        return envelope(choices=[{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}])

    def chunk_of(index: int, event: Event) -> dict[str, Any] | None:
        if event.finished:
            return chunk(index, {"content": event.text} if event.text else {}, finish_reason(event))
        return chunk(index, {"content": event.text}, None) if event.text else None

    if body.stream:
        opening = [chunk(index, {"role": "assistant", "content": ""}, None) for index in range(len(handles))]
        return stream_choices(handles, opening, chunk_of, envelope if include_usage(body) else None)
    results = await collect(request, handles)
    usage = Usage()
    choices = []
    for index, (text, final) in enumerate(results):
        usage.add(final)
        choices.append({"index": index, "message": {"role": "assistant", "content": text},
                        "finish_reason": finish_reason(final), "logprobs": None})
    return openai_envelope(ident, "chat.completion", served)(choices=choices, usage=usage.body())


async def text_generation(request: Request, engine: Engine, body: TextGenerationRequest) -> Any:
    """[{"generated_text": ...}] per input (Llama 2 models answer with "generation", as JumpStart's do);
    with "stream": true, TGI's token stream for one input."""
    served = pick_model(engine, body.model)
    p = body.parameters
    inputs = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    if not inputs:
        raise ApiError(422, "inputs: give a string or a non-empty list of strings.", param="inputs")
    if body.stream and len(inputs) != 1:
        raise ApiError(422, "stream: a streamed request takes one input string.", param="inputs")
    temperature = jumpstart_sampling(p.temperature, p.do_sample)
    jobs = []
    for text in inputs:
        ids = encode(engine, text, add_special_tokens=True)
        limit = plan_new_tokens(engine, len(ids), p.max_new_tokens, engine.settings.default_max_new_tokens,
                                "parameters.max_new_tokens")
        params = SamplingParams(limit, temperature, p.top_p or 1.0, p.seed, stop_list(p.stop), p.top_k)
        jobs.append(GenerationJob(ids, params, served, served.stop_token_ids))
    if body.stream:
        return sse(tgi_stream(submit(engine, jobs), inputs[0] if p.return_full_text else ""), done=False)
    results = await collect(request, submit(engine, jobs))
    key = generated_text_key(catalog_card(served))
    return [{key: (prompt if p.return_full_text else "") + text} for prompt, (text, _) in zip(inputs, results,
                                                                                               strict=True)]


async def text2text(request: Request, engine: Engine, body: Text2TextRequest) -> dict[str, list[str]]:
    served = pick_model(engine, body.model)
    inputs = [body.text_inputs] if isinstance(body.text_inputs, str) else body.text_inputs
    if not inputs:
        raise ApiError(422, "text_inputs: give a string or a non-empty list of strings.", param="text_inputs")
    temperature = jumpstart_sampling(body.temperature, body.do_sample)
    beams = body.num_beams
    if beams > 1 and body.do_sample:
        raise ApiError(422, f"num_beams={beams} with do_sample=true (beam sampling) is not supported: drop do_sample "
                            "for beam search, or set num_beams=1 to sample.", param="num_beams")
    if beams > 1 and body.num_return_sequences > beams:
        raise ApiError(422, f"num_return_sequences={body.num_return_sequences}: beam search returns at most "
                            f"num_beams={beams} sequences.", param="num_return_sequences")
    requested = body.max_new_tokens or body.max_length
    jobs = []
    for text in inputs:
        ids = encode(engine, text, add_special_tokens=True)
        limit = plan_new_tokens(engine, len(ids), requested, engine.settings.default_max_new_tokens, "max_length")
        for j in range(body.num_return_sequences):
            params = SamplingParams(limit, 0.0 if beams > 1 else temperature, body.top_p or 1.0,
                                    seed_for(body.seed, j), stop_list(body.stop), body.top_k, num_beams=beams, beam=j)
            jobs.append(GenerationJob(ids, params, served, served.stop_token_ids))
    results = await collect(request, submit(engine, jobs))
    return {"generated_texts": [text for text, _ in results]}


def catalog_card(served: ServedModel) -> ModelCard | None:
    """The catalog card of the model served (or of its base), when it is a catalog model."""
    from fmtune.catalog import find_card

    return find_card(served.prompt_format.base_model) if served.prompt_format.base_model else None


def invocation_payload(engine: Engine, content_type: str, body: bytes) -> Any:
    """The /invocations body as a payload: JSON as it is, a plain-text body as the prompt (JumpStart's
    `application/x-text`), anything else refused (415)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("", "application/json"):
        return parse_json(body)
    if media in TEXT_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"the {media} body is not UTF-8 text; send UTF-8.", code="bad_encoding") from None
        return {"text_inputs": text} if engine.is_seq2seq else {"inputs": text}
    raise ApiError(415, f"Content-Type {media!r} is not accepted here; send application/json (a JumpStart payload) "
                        f"or one of {list(TEXT_TYPES)} (a prompt).", code="unsupported_media_type")


def refuse_unaccepted_eula(engine: Engine, attributes: str) -> None:
    """`custom_attributes="accept_eula=false"` on a model with an EULA is refused, as JumpStart refuses it."""
    given = dict(part.strip().partition("=")[::2] for part in attributes.split(";") if "=" in part)
    card = catalog_card(engine.base)
    if card is not None and card.eula_required and given.get("accept_eula", "").strip().lower() == "false":
        raise ApiError(400, f"{card.model_id} requires accepting its end-user license agreement ({card.license} "
                            "license): pass custom_attributes='accept_eula=true' (header "
                            f"{CUSTOM_ATTRIBUTES}: accept_eula=true) once you have read and accepted it.",
                       param="accept_eula", code="eula_not_accepted")


# --- shared steps --------------------------------------------------------------------------------


def pick_model(engine: Engine, name: str | None) -> ServedModel:
    served = engine.served(name)
    if served is None:
        raise ApiError(404, f"model '{name}' is not served here; available: {', '.join(engine.model_names())} "
                            "(GET /v1/models).", param="model", code="model_not_found")
    return served


def chat_prompt(engine: Engine, served: ServedModel, messages: list[dict[str, str]]) -> tuple[str, bool]:
    """The model's input for a chat; a template that refuses the messages (e.g. roles that do not alternate,
    as Llama 2's demands) is the client's error."""
    from jinja2 import TemplateError

    try:
        return render_chat(engine.tokenizer, served.prompt_format, messages)
    except TemplateError as err:
        raise ApiError(400, f"messages: the chat template of '{served.name}' refuses them: {err}",
                       param="messages", code="invalid_messages") from None


def encode(engine: Engine, text: str, *, add_special_tokens: bool) -> list[int]:
    ids = engine.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    if not ids and not engine.is_seq2seq:
        raise ApiError(400, "the prompt is empty; send some text to continue.", param="prompt")
    return list(ids)


def plan_new_tokens(engine: Engine, n_input: int, requested: int | None, default: int, param: str) -> int:
    """How many tokens to generate: the request's number within the cap and the context, else a default
    that fits. Too many input tokens or a number above the cap is the client's error (400)."""
    cap, context = engine.settings.max_new_tokens_cap, engine.context_length
    if requested is not None and requested > cap:
        raise ApiError(400, f"{param}={requested} is above this endpoint's cap of {cap} new tokens; ask for at most "
                            f"{cap} (the server's --max-new-tokens-cap).", param=param, code="max_tokens_too_large")
    if engine.is_seq2seq:  # encoder input and decoder output have separate lengths
        if n_input > context:
            raise ApiError(400, f"the input has {n_input} tokens; this model reads at most {context}. Shorten it.",
                           param=param, code="context_length_exceeded")
        return requested or min(default, cap)
    room = context - n_input
    if requested is None:
        if room < 1:
            raise ApiError(400, f"the prompt has {n_input} tokens, which fills the context of {context} tokens "
                                "with no room to generate; shorten it.", param=param, code="context_length_exceeded")
        return min(default, cap, room)
    if requested > room:
        raise ApiError(400, f"the prompt has {n_input} tokens and {param}={requested}: together more than the "
                            f"model's context of {context} tokens. Shorten the prompt or ask for at most "
                            f"{max(room, 0)} new tokens.", param=param, code="context_length_exceeded")
    return requested


def seed_for(seed: int | None, choice: int) -> int | None:
    """Several choices from one seeded request differ from each other yet repeat across requests."""
    return None if seed is None else seed + choice


def submit(engine: Engine, jobs: list[GenerationJob]) -> list[RequestHandle]:
    try:
        return engine.submit(jobs)
    except Overloaded as err:
        raise ApiError(429, str(err), kind="rate_limit_error", code="too_many_requests") from None


async def collect(request: Request, handles: list[RequestHandle]) -> list[tuple[str, Event]]:
    """Every generation's text and final event. A client that leaves first cancels them: they free their slots."""
    results = asyncio.ensure_future(asyncio.gather(*(handle.result() for handle in handles)))
    gone = asyncio.ensure_future(disconnected(request))
    try:
        done, _ = await asyncio.wait({results, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler itself is cancelled
        gone.cancel()
        if not results.done():
            for handle in handles:
                handle.cancel()
            results.cancel()
    if results not in done:
        raise ApiError(499, "the client closed the connection before the answer was ready; generation was stopped.",
                       code="client_closed_request")
    for _, final in results.result():
        if final.error:
            raise ApiError(500, final.error, kind="server_error")
    return results.result()


async def disconnected(request: Request) -> None:
    """Returns once the client has gone (after the body, ASGI servers send nothing but http.disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def merged(handles: list[RequestHandle]) -> AsyncIterator[tuple[int, Event]]:
    """Events of several generations as they come, tagged with their index; all end when the consumer stops."""
    events: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()

    async def pump(index: int, handle: RequestHandle) -> None:
        async for event in handle.events():
            await events.put((index, event))

    tasks = [asyncio.create_task(pump(i, h)) for i, h in enumerate(handles)]
    remaining = len(handles)
    try:
        while remaining:
            index, event = await events.get()
            yield index, event
            remaining -= event.finished
    finally:
        for task in tasks:
            task.cancel()
        for handle in handles:
            handle.cancel()


def json_body(*models: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra declaring the JSON body a route reads itself (one of `models`, in components/schemas)."""
    refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def openapi_schema(app: FastAPI, body_models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """FastAPI's schema plus the body models that `json_body` refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        _, definitions = models_json_schema([(model, "validation") for model in body_models],
                                            ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        app.openapi_schema = schema
    return app.openapi_schema


def openai_envelope(ident: str, kind: str, served: ServedModel) -> Callable[..., dict[str, Any]]:
    """The fields every object of one OpenAI response shares (chunks of a stream share one id and time)."""
    created = int(time.time())

    def envelope(**fields: Any) -> dict[str, Any]:
        return {"id": ident, "object": kind, "created": created, "model": served.name, **fields}

    return envelope


def include_usage(body: CompletionRequest | ChatRequest) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


def stream_choices(
    handles: list[RequestHandle],
    opening: list[dict[str, Any]],
    chunk_of: Callable[[int, Event], dict[str, Any] | None],
    usage_chunk: Callable[..., dict[str, Any]] | None,
) -> StreamingResponse:
    """An OpenAI stream: the opening chunks, a chunk per generation event (None: nothing to send), a failed
    choice's error in-band (the others go on), then the usage chunk when the request asked for it."""

    async def events() -> AsyncIterator[dict[str, Any]]:
        usage = Usage()
        for opened in opening:
            yield opened
        async for index, event in merged(handles):
            if event.error:
                yield ApiError(500, event.error, kind="server_error").body()
            elif (chunk := chunk_of(index, event)) is not None:
                yield chunk
            usage.add(event)
        if usage_chunk is not None:
            yield usage_chunk(choices=[], usage=usage.body())

    return sse(events())


async def tgi_stream(handles: list[RequestHandle], prefix: str) -> AsyncIterator[dict[str, Any]]:
    """TGI's stream, as JumpStart's streaming endpoints send it: a token event per text delta, the whole text
    in the last one (`generated_text`, with the prompt when return_full_text), and its finish reason."""
    text = prefix
    async for _, event in merged(handles):
        if event.error:
            yield {"error": event.error, "error_type": "generation"}
            return
        text += event.text
        if event.text or event.finished:
            yield {"token": {"text": event.text, "special": False},
                   "generated_text": text if event.finished else None,
                   "details": {"finish_reason": finish_reason(event)} if event.finished else None}


def sse(chunks: AsyncIterator[dict[str, Any]], done: bool = True) -> StreamingResponse:
    """Server-sent events; OpenAI streams end with `data: [DONE]`, TGI's do not."""

    async def body() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def finish_reason(event: Event) -> str:
    return "length" if event.finish_reason == "length" else "stop"


class Usage:
    def __init__(self) -> None:
        self.prompt = self.completion = 0

    def add(self, event: Event) -> None:
        if event.finished:
            self.prompt += event.prompt_tokens
            self.completion += event.completion_tokens

    def body(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt, "completion_tokens": self.completion,
                "total_tokens": self.prompt + self.completion}


# --- the guard in front of every route -----------------------------------------------------------


class Guard:
    """API key, body size and metrics for every request, before any handler runs (pure ASGI)."""

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int, metrics: Metrics,
                 routes: tuple[str, ...] = ROUTES) -> None:
        self.app = app
        self.routes = routes
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in self.routes else "other"
        started, status = time.monotonic(), [500]

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if self.api_key and path not in OPEN_ROUTES and not self.authorized(scope):
                await self.reject(send_and_record, ApiError(
                    401, "missing or wrong API key: send 'Authorization: Bearer <key>' (or 'X-Api-Key: <key>').",
                    kind="authentication_error", code="invalid_api_key"), [(b"www-authenticate", b"Bearer")])
                return
            body = await self.read_body(scope, receive, send_and_record)
            if body is None:
                return
            await self.app(scope, replay(body, receive), send_and_record)
        finally:
            self.metrics.inc("fmtune_requests_total", route=route, status=str(status[0]))
            self.metrics.observe("fmtune_request_duration_seconds", time.monotonic() - started, route=route)

    def authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        headers = dict(scope["headers"])
        given = headers.get(b"x-api-key", b"")
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer":
            given = token.strip()
        return hmac.compare_digest(given, self.api_key)

    async def read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (too large) or 400 (bad Content-Length)."""
        too_large = ApiError(413, f"the request body is larger than this endpoint's limit of {self.max_body_bytes} "
                                  "bytes (the server's --max-body-bytes).", code="payload_too_large")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self.reject(send, ApiError(400, "Content-Length is not a number.", code="bad_request"))
                return None
            if int(declared) > self.max_body_bytes:
                await self.reject(send, too_large)
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self.reject(send, too_large)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def reject(self, send: Send, err: ApiError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.metrics.inc("fmtune_rejected_requests_total", reason=err.code or str(err.status))
        payload = json.dumps(err.body()).encode()
        await send({"type": "http.response.start", "status": err.status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
            *(headers or [])]})
        await send({"type": "http.response.body", "body": payload})


def replay(body: bytes, receive: Receive) -> Receive:
    """Hand the already-read body to the app once, then pass on the server's messages (disconnects)."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
