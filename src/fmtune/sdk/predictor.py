"""The Predictor that `Estimator.deploy()` returns: bound to a real HTTP endpoint (`fmtune.serve`), started as a
managed process, answering JumpStart text-generation payloads.

`{"inputs": str, "parameters": {"max_new_tokens", "temperature", "top_p", "return_full_text", ...}}`
→ `[{"generated_text": str}]`. A plain prompt is sent in the format the model was trained on (the endpoint's
`/invocations` takes prompts as given, like JumpStart's); one the caller already filled with the training
template goes as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class Predictor:
    def __init__(self, model_dir: str | Path, endpoint_name: str):
        from fmtune.data.prompting import PromptFormat
        from fmtune.serve import start_endpoint

        self.endpoint_name = endpoint_name
        self.model_dir = Path(model_dir)
        self.prompt_format = PromptFormat.load(self.model_dir)
        self._tokenizer: Any = None
        self.endpoint: Any = start_endpoint(str(self.model_dir), name=endpoint_name)

    def predict(self, data: Any, initial_args: Any = None, target_model: Any = None, **ignored: Any) -> Any:
        """`data`: a JumpStart payload (dict, or its JSON as str/bytes), or a plain prompt string."""
        if self.endpoint is None:
            raise ValueError(f"endpoint {self.endpoint_name} was deleted; deploy the estimator again.")
        inputs, parameters = parse_payload(data)
        full_text = bool(parameters.get("return_full_text", False))
        sent = {**parameters, "return_full_text": False}
        client = self.endpoint.client()
        results = []
        for text in inputs:
            [answer] = client.invoke({"inputs": self._as_trained(text), "parameters": sent})
            completion = answer["generated_text"]
            results.append({"generated_text": text + completion if full_text else completion})
        return results

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Stop the endpoint's server process."""
        from fmtune.serve import stop_endpoint

        if self.endpoint is not None:
            stop_endpoint(self.endpoint)
            self.endpoint = None

    def delete_model(self) -> None:
        self.delete_endpoint()

    def _as_trained(self, text: str) -> str:
        """The training prompt format around a plain prompt; a prompt already in the template gets only the
        demarcation key if it lacks it (as JumpStart notebooks format prompts themselves)."""
        from fmtune.data.templates import DEMARCATION

        fmt = self.prompt_format
        if fmt is None or fmt.mode == "domain":
            return text
        head = (fmt.prompt_template or "").split("{", 1)[0].strip()
        if fmt.mode == "instruction" and head and text.lstrip().startswith(head):
            return text if not fmt.demarcation or text.rstrip().endswith(DEMARCATION.strip()) else text + DEMARCATION
        if fmt.mode == "chat" and self._tokenizer is None:
            from fmtune.models.loading import load_tokenizer

            self._tokenizer = load_tokenizer(self.model_dir)
        return fmt.render(self._tokenizer, text)


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
