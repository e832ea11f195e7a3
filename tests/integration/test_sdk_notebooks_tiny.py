"""The shape of JumpStart's notebooks for other families, on tiny random models of the notebook's own model id
(`tiny_random=True`, fmtune's own argument): base model deployed with JumpStartModel, fine-tune, deploy, the
same payload to both, the family's response shape, delete. The weights are random: what is checked is the
path and the shapes (shared/reference/jumpstart.md, "Inference payloads"), not what the models say."""

from __future__ import annotations

import pytest

from fmtune.paths import fmtune_home
from fmtune.sagemaker import Session
from fmtune.sagemaker.deserializers import JSONDeserializer
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
from fmtune.sagemaker.jumpstart.model import JumpStartModel
from fmtune.sagemaker.predictor import Predictor
from fmtune.sagemaker.s3 import S3Uploader
from fmtune.sagemaker.serializers import JSONSerializer
from fmtune.sagemaker.utils import name_from_base
from fmtune.serve.registry import get_endpoint

from ..conftest import SAMPLES

pytestmark = pytest.mark.slow

SMALL = {"epoch": "1", "max_train_samples": "8", "max_val_samples": "4", "max_input_length": "64"}
INSTRUCTION = str(SAMPLES / "instruction-template" / "train")
CHAT = str(SAMPLES / "chat" / "train.jsonl")


def replay(model_id: str, training: str, hyperparameters: dict[str, str], payload: dict, env: dict | None = None):
    """Base and tuned endpoints answering one payload; both endpoints are gone afterwards."""
    base_model = JumpStartModel(model_id=model_id, tiny_random=True)
    base = base_model.deploy(accept_eula=True, env=env)
    tuned = None
    try:
        estimator = JumpStartEstimator(model_id=model_id, environment={"accept_eula": "true"}, tiny_random=True,
                                       hyperparameters={**SMALL, **hyperparameters})
        estimator.fit({"training": training}, logs=False)
        tuned = estimator.deploy(initial_instance_count=1, instance_type="ml.g5.2xlarge", env=env)
        answers = [p.predict(payload, custom_attributes="accept_eula=true") for p in (base, tuned)]
        example = base.predict(base_model.retrieve_example_payload())
        # Another process binds to the endpoint by name: its key is kept owner-only while it runs.
        key = fmtune_home() / "endpoints" / "keys" / f"{base.endpoint_name}.key"
        assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
        by_name = Predictor(base.endpoint_name, serializer=JSONSerializer(), deserializer=JSONDeserializer())
        answers.append(by_name.predict(payload))
    finally:
        for predictor in (base, tuned):
            if predictor is not None:
                predictor.delete_endpoint()
                assert get_endpoint(predictor.endpoint_name) is None
                assert not (fmtune_home() / "endpoints" / "keys" / f"{predictor.endpoint_name}.key").exists()
    return answers, example


def test_llama_2_notebook_answers_generation():
    # As the notebook does: upload the data to the session's default bucket, train from its s3:// URI.
    bucket = Session().default_bucket()
    training = S3Uploader.upload(INSTRUCTION, f"s3://{bucket}/{name_from_base('llama-2')}/train")
    payload = {"inputs": "<s>[INST] What does len do? [/INST]", "parameters": {"max_new_tokens": 4}}
    answers, example = replay("meta-textgeneration-llama-2-7b", training, {"instruction_tuned": "True"}, payload)
    for answer in [*answers, example]:
        assert isinstance(answer, list) and set(answer[0]) == {"generation"}, answer
    assert answers[2] == answers[0]  # the same endpoint (greedy), reached by name


def test_flan_t5_notebook_answers_generated_texts():
    payload = {"text_inputs": "Translate to German: hello", "max_length": 4, "num_return_sequences": 2,
               "num_beams": 1, "top_p": 0.9, "do_sample": True}
    answers, example = replay("huggingface-text2text-flan-t5-base", INSTRUCTION,
                              {"instruction_tuned": "True"}, payload)
    for answer in answers:
        assert set(answer) == {"generated_texts"} and len(answer["generated_texts"]) == 2, answer
    assert set(example) == {"generated_texts"}


def test_gemma_chat_notebook_with_the_messages_api():
    payload = {"model": "/opt/ml/model", "messages": [{"role": "user", "content": "What does len do?"}],
               "max_tokens": 4, "top_p": 0.9, "temperature": 0.6, "top_k": 50}
    answers, example = replay("huggingface-llm-gemma-2b-instruct", CHAT, {"chat_dataset": "True"}, payload,
                              env={"MESSAGES_API_ENABLED": "true"})
    for answer in answers:
        assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["role"] == "assistant"
    assert set(example[0]) == {"generated_text"}
