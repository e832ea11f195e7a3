"""A Predictor for a tuned model: answers JumpStart text-generation payloads.

`{"inputs": str, "parameters": {"max_new_tokens", "temperature", "top_p", "return_full_text", ...}}`
→ `[{"generated_text": str}]`. This one holds the model in this Python process; the serving package's
HTTP endpoint offers the same `predict` / `delete_endpoint` surface.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("fmtune.sdk")

DEFAULT_MAX_NEW_TOKENS = 64
SUPPORTED = {"max_new_tokens", "temperature", "top_p", "return_full_text", "do_sample", "seed"}


class InProcessPredictor:
    def __init__(self, model_dir: str | Path, endpoint_name: str):
        from fmtune.models.generate import load_for_generation

        self.endpoint_name = endpoint_name
        self.model_dir = Path(model_dir)
        self._loaded: Any = load_for_generation(str(model_dir))
        self._noticed: set[str] = set()

    def predict(self, data: Any, initial_args: Any = None, target_model: Any = None, **ignored: Any) -> Any:
        """`data`: a JumpStart payload (dict, or its JSON as str/bytes), or a plain prompt string."""
        if self._loaded is None:
            raise ValueError(f"endpoint {self.endpoint_name} was deleted; deploy the estimator again.")
        inputs, parameters = parse_payload(data)
        options = self._generation_options(parameters)
        full_text = bool(parameters.get("return_full_text", False))
        results = []
        for text in inputs:
            completion = self._generate(text, options)
            results.append({"generated_text": text + completion if full_text else completion})
        return results

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Free the model. (An HTTP endpoint would stop its server here.)"""
        self._loaded = None

    def delete_model(self) -> None:
        self._loaded = None

    def _generate(self, text: str, options: dict[str, Any]) -> str:
        from fmtune.models.generate import generate

        loaded, model_text = self._as_trained(text)
        return generate(loaded, model_text, **options)

    def _as_trained(self, text: str) -> tuple[Any, str]:
        """The model with its training prompt format, unless the caller already filled the training template
        (as JumpStart notebooks do); then the text goes in as given, plus the demarcation key if missing."""
        from fmtune.data.templates import DEMARCATION

        fmt = self._loaded.prompt_format
        head = (fmt.prompt_template or "").split("{", 1)[0].strip()
        if fmt.mode != "instruction" or not head or not text.lstrip().startswith(head):
            return self._loaded, text
        if fmt.demarcation and not text.rstrip().endswith(DEMARCATION.strip()):
            text += DEMARCATION
        return dataclasses.replace(self._loaded, prompt_format=dataclasses.replace(fmt, mode="domain")), text

    def _generation_options(self, parameters: dict[str, Any]) -> dict[str, Any]:
        for name in sorted(set(parameters) - SUPPORTED):
            if name not in self._noticed:
                self._noticed.add(name)
                log.warning("fmtune: generation parameter %r is not supported here and is ignored", name)
        max_new_tokens = _number(parameters, "max_new_tokens", int, DEFAULT_MAX_NEW_TOKENS, minimum=1)
        temperature = _number(parameters, "temperature", float, 0.0, minimum=0.0)
        top_p = _number(parameters, "top_p", float, 1.0, minimum=0.0)
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"parameters.top_p={top_p}: must be > 0 and <= 1")
        do_sample = parameters.get("do_sample")
        if do_sample is True and temperature == 0.0:
            temperature = 1.0
        if do_sample is False:
            temperature = 0.0
        seed = parameters.get("seed")
        return {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                "seed": None if seed is None else int(seed)}


def parse_payload(data: Any) -> tuple[list[str], dict[str, Any]]:
    """The prompts and the generation parameters of a JumpStart text-generation payload."""
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return [data], {}
        if isinstance(data, str):
            return [data], {}
    if not isinstance(data, dict) or "inputs" not in data:
        raise ValueError('payload must be {"inputs": "<prompt>", "parameters": {...}} (JumpStart text generation)')
    inputs = data["inputs"]
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise ValueError('payload "inputs" must be a string (or a list of strings)')
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError('payload "parameters" must be an object, e.g. {"max_new_tokens": 64}')
    return inputs, parameters


def _number(parameters: dict[str, Any], name: str, kind: type, default: Any, minimum: float) -> Any:
    value = parameters.get(name)
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameters.{name}={value!r}: must be a number") from None
    if isinstance(value, bool) or number < minimum:
        raise ValueError(f"parameters.{name}={value!r}: must be a number >= {minimum:g}")
    return number
