"""What an endpoint allows: address, key and limits. Plain data, checked once before anything loads."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from fmtune.errors import UserError

API_KEY_ENV = "FMTUNE_API_KEY"
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"  # loopback unless the user says otherwise
    port: int = 8080  # 0 picks a free port
    api_key: str | None = None  # when set, every route but /health requires it
    max_body_bytes: int = 2_000_000  # TGI's default payload limit
    max_new_tokens_cap: int = 1024  # a request asking for more gets a 400
    default_max_new_tokens: int = 256  # when a request names no limit (OpenAI completions: 16)
    max_batch_size: int = 16  # requests generated together in one batched `generate`
    max_queue: int = 112  # waiting requests beyond the running batch; more get 429 (128 in all, as TGI)
    batch_wait_ms: float = 10.0  # how long the first request of a batch waits for company
    max_model_len: int | None = None  # context length override (default: the model's)
    served_model_name: str | None = None  # name of the base model in `model` fields (default: from the reference)
    messages_api: bool = False  # /invocations also takes {"messages": [...]} (JumpStart's MESSAGES_API_ENABLED)
    # text-to-image endpoints: what one request may ask for
    max_image_side: int = 1024  # width and height, pixels
    max_inference_steps: int = 150
    max_images: int = 4  # images per request (prompts x num_images_per_prompt)

    def check(self) -> ServeSettings:
        """All problems at once, in the words of the command-line flags."""
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"--port {self.port}: expected 0..65535 (0 picks a free port).")
        for flag, value, low in (
            ("--max-body-bytes", self.max_body_bytes, 1024),
            ("--max-new-tokens-cap", self.max_new_tokens_cap, 1),
            ("--default-max-new-tokens", self.default_max_new_tokens, 1),
            ("--max-batch-size", self.max_batch_size, 1),
            ("--max-queue", self.max_queue, 0),
            ("--max-image-side", self.max_image_side, 8),
            ("--max-inference-steps", self.max_inference_steps, 1),
            ("--max-images", self.max_images, 1),
        ):
            if value < low:
                problems.append(f"{flag} {value}: expected an integer >= {low}.")
        if self.batch_wait_ms < 0:
            problems.append(f"--batch-wait-ms {self.batch_wait_ms}: expected a number >= 0.")
        if self.max_model_len is not None and self.max_model_len < 2:
            problems.append(f"--max-model-len {self.max_model_len}: expected an integer >= 2.")
        if self.api_key is not None and not self.api_key.strip():
            problems.append("--api-key is empty: pass a non-empty key or leave it out.")
        if not is_loopback(self.host) and not self.api_key:
            problems.append(
                f"--host {self.host} exposes the endpoint beyond this machine, so it needs an API key: "
                f"pass --api-key KEY or set {API_KEY_ENV}."
            )
        if problems:
            raise UserError("cannot start the endpoint:\n" + "\n".join(f"  - {p}" for p in problems))
        return self


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_from_env(explicit: str | None) -> str | None:
    """--api-key wins; else FMTUNE_API_KEY; else no key."""
    return explicit if explicit is not None else (os.environ.get(API_KEY_ENV) or None)
