"""`sagemaker.predictor.Predictor`, bound to an fmtune endpoint (a managed `fmtune.serve` process) by name.

`predict(data)` serializes `data` with the predictor's serializer, POSTs it to the endpoint's `/invocations`
as it is — no prompt is rewritten: a notebook formats its prompts itself, as it does against JumpStart — and
returns the response read by its deserializer. Predictors that `deploy()` returns for text models use JSON both
ways (for text-to-image models, bytes both ways, as JumpStart's Stable Diffusion notebooks expect), so
`predict({"inputs": ..., "parameters": {...}})` returns what the endpoint answers for the model's family:
`[{"generated_text": ...}]`, Llama 2's `[{"generation": ...}]`, Flan-T5's `{"generated_texts": [...]}`, or a
chat completion for `{"messages": [...]}` on an endpoint deployed with `MESSAGES_API_ENABLED`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

from fmtune.sdk.serialization import BytesDeserializer, IdentitySerializer, JSONDeserializer, JSONSerializer

log = logging.getLogger("fmtune.sdk")


class ModelError(Exception):
    """The endpoint answered an error (SageMaker's `ModelError`): the status and the endpoint's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Received client error ({status}) from the endpoint with message: {message}"
                         if status else message)
        self.status, self.message = status, message


class Predictor:
    def __init__(self, endpoint_name: str, sagemaker_session: Any = None, serializer: Any = None,
                 deserializer: Any = None, component_name: str | None = None, endpoint: Any = None,
                 **ignored: Any) -> None:
        """`endpoint`: a handle with client() and stop() (a remote Studio's endpoint); default: the one running on
        this machine under that name."""
        from fmtune.serve.launcher import find_endpoint

        self.endpoint_name = endpoint_name
        self.serializer = serializer if serializer is not None else IdentitySerializer()
        self.deserializer = deserializer if deserializer is not None else BytesDeserializer()
        self.component_name = component_name
        self._endpoint = endpoint if endpoint is not None else find_endpoint(endpoint_name)
        if self._endpoint is None:
            raise ValueError(f"no endpoint named '{endpoint_name}' is running on this machine "
                             "(`fmtune endpoints list` shows those that are).")

    @property
    def content_type(self) -> str:
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self) -> tuple[str, ...]:
        return self.deserializer.ACCEPT

    def predict(self, data: Any, initial_args: Mapping[str, str] | None = None, target_model: str | None = None,
                target_variant: str | None = None, inference_id: str | None = None,
                custom_attributes: str | None = None, component_name: str | None = None) -> Any:
        """Send `data` (or an example payload from `JumpStartModel.retrieve_example_payload()`) as it is."""
        from fmtune.serve.client import EndpointError

        if self._endpoint is None:
            raise ValueError(f"endpoint {self.endpoint_name} was deleted; deploy again to predict.")
        for name, value in {"target_model": target_model, "target_variant": target_variant,
                            "inference_id": inference_id}.items():
            if value is not None:
                log.warning("fmtune: predict(%s=...) is for SageMaker's multi-model/variant endpoints and is "
                            "ignored; name an adapter in the payload's \"model\" field.", name)
        args = dict(initial_args or {})
        content_type, accept = args.get("ContentType"), args.get("Accept")
        if hasattr(data, "body") and hasattr(data, "content_type"):  # an example payload carries its own types
            content_type, accept, data = content_type or data.content_type, accept or data.accept, data.body
            body = JSONSerializer().serialize(data) if isinstance(data, dict | list) else data
        else:
            body = self.serializer.serialize(data)
        content_type = content_type or self.content_type
        accept = accept or ", ".join(self.accept)
        try:
            answer, answer_type = self._endpoint.client().invoke_raw(
                body.encode() if isinstance(body, str) else bytes(body), content_type, accept,
                custom_attributes or args.get("CustomAttributes"))
        except EndpointError as err:
            raise ModelError(err.status, err.message) from None
        return self.deserializer.deserialize(io.BytesIO(answer), answer_type)

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Stop the endpoint's server process."""
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None

    def delete_model(self) -> None:
        """Nothing to do: the model is the job's folder (or the catalog's cache), which stays."""

    def delete_predictor(self, delete_endpoint_config: bool = True) -> None:
        self.delete_endpoint(delete_endpoint_config)


MESSAGES_API = "MESSAGES_API_ENABLED"


def start_predictor(model: str, endpoint_name: str | None, env: Mapping[str, Any] | None) -> Predictor:
    """Start an endpoint for `model` (a job, model folder or model id) and return a JSON Predictor bound to it.
    Of the container environment JumpStart takes, MESSAGES_API_ENABLED is honoured; the rest (SM_NUM_GPUS,
    MAX_INPUT_LENGTH, ...) configures SageMaker's containers and is ignored with a notice."""
    from fmtune.errors import UserError
    from fmtune.serve import start_endpoint
    from fmtune.serve.settings import ServeSettings

    env = dict(env or {})
    messages_api = str(env.pop(MESSAGES_API, "false")).strip().lower() in ("true", "1", "yes")
    for name in env:
        log.warning("fmtune: deploy(env={%r: ...}) is ignored: it configures SageMaker's serving container.", name)
    try:
        endpoint = start_endpoint(model, name=endpoint_name, settings=ServeSettings(messages_api=messages_api))
        images = serves_images(model)
    except UserError as err:
        raise ValueError(str(err)) from None
    # JumpStart's Stable Diffusion notebooks send bytes with their own ContentType/Accept and json.loads the answer
    return Predictor(endpoint.name) if images else json_predictor(endpoint.name)


def serves_images(model: str) -> bool:
    from fmtune.jobs.artifacts import model_dir
    from fmtune.models.source import is_pipeline

    return is_pipeline(model_dir(model))


def json_predictor(endpoint_name: str, endpoint: Any = None) -> Predictor:
    """What JumpStart's deploy() returns for text models: JSON in, JSON out."""
    return Predictor(endpoint_name, serializer=JSONSerializer(), deserializer=JSONDeserializer(), endpoint=endpoint)


def retrieve_default(endpoint_name: str, sagemaker_session: Any = None, model_id: str | None = None,
                     model_version: str | None = None, **ignored: Any) -> Predictor:
    """`sagemaker.predictor.retrieve_default`: a Predictor for a running endpoint with its model's defaults."""
    return json_predictor(endpoint_name)
