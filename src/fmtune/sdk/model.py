"""`sagemaker.jumpstart.model.JumpStartModel`: deploy a catalog model as it is (no fine-tuning) — the base that
every JumpStart notebook compares its tuned model with — and the deploy step the Estimator shares with it.

    base = JumpStartModel(model_id="meta-textgeneration-llama-2-7b")
    base_predictor = base.deploy(accept_eula=True)
    base_predictor.predict(base.retrieve_example_payload())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fmtune.catalog.examples import ExamplePayload, example_payloads
from fmtune.errors import UserError
from fmtune.sdk.jumpstart import jumpstart_card
from fmtune.sdk.notices import notice_ignored
from fmtune.sdk.predictor import Predictor, start_predictor


class JumpStartModel:
    def __init__(self, model_id: str | None = None, model_version: str | None = "*",
                 env: Mapping[str, Any] | None = None, tiny_random: bool = False, **cloud_only: Any) -> None:
        """`tiny_random=True` (fmtune's own) serves a tiny randomly initialised model of the catalog model's
        architecture: a fast test of the notebook's code, not a useful model."""
        self.card = jumpstart_card(model_id, model_version)
        self.model_id, self.model_version = self.card.model_id, model_version or "*"
        self.env = dict(env or {})
        self.tiny_random = tiny_random
        self.endpoint_name: str | None = None
        notice_ignored("JumpStartModel", {k: v for k, v in cloud_only.items() if v is not None})

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               accept_eula: bool = False, endpoint_name: str | None = None, env: Mapping[str, Any] | None = None,
               serializer: Any = None, deserializer: Any = None, **cloud_only: Any) -> Predictor:
        """Serve the model on this machine and return a Predictor (JSON in, JSON out unless given others)."""
        notice_ignored("deploy", {k: v for k, v in {"initial_instance_count": initial_instance_count,
                                                    "instance_type": instance_type, **cloud_only}.items()
                                  if v is not None})
        if self.card.eula_required and not accept_eula:
            raise ValueError(f"{self.model_id} requires accepting its end-user license agreement "
                             f"({self.card.license} license): read it, then deploy(accept_eula=True).")
        predictor = start_predictor(self._served(), endpoint_name, {**self.env, **(env or {})})
        predictor.serializer = serializer or predictor.serializer
        predictor.deserializer = deserializer or predictor.deserializer
        self.endpoint_name = predictor.endpoint_name
        return predictor

    def retrieve_all_examples(self) -> list[ExamplePayload]:
        return example_payloads(self.card)

    def retrieve_example_payload(self) -> ExamplePayload:
        examples = self.retrieve_all_examples()
        if not examples:
            raise ValueError(f"{self.model_id}: no example payload (it is a {self.card.task} model).")
        return examples[0]

    def _served(self) -> str:
        if not self.tiny_random:
            return self.model_id
        from fmtune.models.source import materialize, resolve_source

        try:
            return str(materialize(resolve_source(self.model_id, tiny_random=True)))
        except UserError as err:
            raise ValueError(str(err)) from None
