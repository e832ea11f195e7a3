"""The shape of JumpStart's notebooks for other families, on tiny random models of the notebook's own model id
(`tiny_random=True`, fmtune's own argument): base model deployed with JumpStartModel, fine-tune, deploy, the
same payload to both, the family's response shape, delete. The weights are random: what is checked is the
path and the shapes (shared/reference/jumpstart.md, "Inference payloads"), not what the models say.

Each replay follows its notebook (aws/amazon-sagemaker-examples): the same SageMaker calls, hyperparameter
names, channel names, data layout, payloads and response parsing; the notebooks' datasets are replaced by small
local data of the same shape, epochs and token counts are cut to what a test needs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fmtune import boto3
from fmtune.paths import fmtune_home
from fmtune.sagemaker import Session, hyperparameters
from fmtune.sagemaker.deserializers import JSONDeserializer
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
from fmtune.sagemaker.jumpstart.model import JumpStartModel
from fmtune.sagemaker.jumpstart.utils import get_jumpstart_content_bucket
from fmtune.sagemaker.predictor import Predictor
from fmtune.sagemaker.s3 import S3Uploader
from fmtune.sagemaker.serializers import JSONSerializer
from fmtune.sagemaker.utils import name_from_base
from fmtune.serve.registry import get_endpoint

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process", "endpoints_in_process")]

SMALL = {"epoch": "1", "max_train_samples": "8", "max_val_samples": "4", "max_input_length": "64"}
INSTRUCTION = str(SAMPLES / "instruction-template" / "train")
CHAT = str(SAMPLES / "chat" / "train.jsonl")


def replay(model_id: str, training: str, hyperparameters: dict[str, str], payload: dict, env: dict | None = None):
    """Base and tuned endpoints answering one payload; both endpoints are gone afterwards. Returns the answers
    (base, tuned, base again through a Predictor bound by name) and the base model's example answer."""
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


def query_endpoint_with_json_payload(payload: dict, endpoint_name: str) -> str:
    """The Falcon and Mistral notebooks' helpers, as written there (with `from fmtune import boto3`)."""
    client = boto3.client("runtime.sagemaker")
    query_response = client.invoke_endpoint(EndpointName=endpoint_name, ContentType="application/json",
                                            Body=json.dumps(payload).encode("utf-8"))
    model_predictions = json.loads(query_response["Body"].read())
    return model_predictions[0]["generated_text"]


@pytest.fixture
def sec_data(tmp_path) -> tuple[str, str]:
    """The domain-adaptation notebooks read SEC filings (one TXT file per channel) from JumpStart's content
    bucket; here the same layout in fmtune's local stand-in for that bucket, with text of our own."""
    with (Path(__file__).parents[2] / "samples" / "domain" / "train.csv").open(newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    prefix = f"s3://{get_jumpstart_content_bucket()}/training-datasets/sec_data"
    uris = []
    for split, rows in (("train", texts[:40]), ("validation", texts[40:50])):
        local = tmp_path / f"{split}.txt"
        local.write_text("\n".join(rows) + "\n")
        uris.append(S3Uploader.upload(str(local), f"{prefix}/{split}/"))
    return uris[0], uris[1]


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


def test_gpt_j_domain_adaptation_notebook(sec_data):
    """As the notebook runs today: no base-model endpoint (the Mistral replay below compares one)."""
    training_dataset_s3_path, validation_dataset_s3_path = sec_data
    estimator = JumpStartEstimator(model_id="huggingface-textgeneration1-gpt-j-6b", tiny_random=True,
                                   hyperparameters={"epoch": "1", "per_device_train_batch_size": "4",
                                                    "max_input_length": "64"})
    estimator.fit({"train": training_dataset_s3_path, "validation": validation_dataset_s3_path}, logs=True)
    log = (Path(estimator.latest_training_job.describe()["output_dir"]) / "logs.txt").read_text()
    assert "data: domain" in log and "validation: validation channel" in log
    predictor = estimator.deploy()
    try:
        payload = {"inputs": "This Form 10-K report shows that", "parameters": {"max_new_tokens": 4}}
        answer = predictor.predict(payload)
        assert isinstance(answer, list) and set(answer[0]) == {"generated_text"}, answer
    finally:
        predictor.delete_predictor()
    assert get_endpoint(predictor.endpoint_name) is None


def test_mistral_domain_adaptation_notebook_through_invoke_endpoint(sec_data):
    model_id, model_version = "huggingface-llm-mistral-7b", "*"
    training_dataset_s3_path, validation_dataset_s3_path = sec_data
    my_hyperparameters = hyperparameters.retrieve_default(model_id=model_id, model_version=model_version)
    my_hyperparameters["epoch"] = "1"
    my_hyperparameters["per_device_train_batch_size"] = "2"
    my_hyperparameters["instruction_tuned"] = "False"
    my_hyperparameters["max_input_length"] = "64"
    hyperparameters.validate(model_id=model_id, model_version=model_version, hyperparameters=my_hyperparameters)
    estimator = JumpStartEstimator(model_id=model_id, hyperparameters=my_hyperparameters,
                                   instance_type="ml.g5.12xlarge", tiny_random=True)
    estimator.fit({"train": training_dataset_s3_path, "validation": validation_dataset_s3_path}, logs=True)
    domain_adaptation_predictor = estimator.deploy()
    pretrained_predictor = JumpStartModel(model_id=model_id, tiny_random=True).deploy()
    try:
        parameters = {"max_new_tokens": 4, "top_k": 50, "top_p": 0.8, "do_sample": True, "temperature": 1}
        for text in ["This Form 10-K report shows that", "We serve consumers through", "Our vision is"]:
            for predictor in (pretrained_predictor, domain_adaptation_predictor):
                payload = {"inputs": f"{text}:", "parameters": parameters}
                assert isinstance(query_endpoint_with_json_payload(payload, predictor.endpoint_name), str)
    finally:
        for predictor in (pretrained_predictor, domain_adaptation_predictor):
            predictor.delete_model()
            predictor.delete_endpoint()
    assert get_endpoint(pretrained_predictor.endpoint_name) is None


def test_falcon_instruction_notebook_with_its_template_through_invoke_endpoint(tmp_path):
    model_id, model_version = "huggingface-llm-falcon-7b-instruct-bf16", "*"
    template = {"prompt": "Ask a question which is related to the following text, but cannot be answered based on "
                          "the text. Text: {context}", "completion": "{question}"}
    (tmp_path / "template.json").write_text(json.dumps(template))
    rows = [json.loads(line) for line in (SAMPLES / "instruction" / "train" / "data.jsonl").read_text().splitlines()]
    local_data_file = tmp_path / "task-data.jsonl"
    local_data_file.write_text("".join(json.dumps({"context": r["response"], "question": r["instruction"]}) + "\n"
                                       for r in rows[:12]))
    session = Session()
    output_bucket, default_bucket_prefix = session.default_bucket(), session.default_bucket_prefix
    training_dataset_s3_path = f"s3://{output_bucket}/{default_bucket_prefix or 'falcon'}/train_data324242"
    S3Uploader.upload(str(local_data_file), training_dataset_s3_path)
    S3Uploader.upload(str(tmp_path / "template.json"), training_dataset_s3_path)

    my_hyperparameters = hyperparameters.retrieve_default(model_id=model_id, model_version=model_version)
    my_hyperparameters.update(epoch="1", per_device_train_batch_size="2", gradient_accumulation_steps="2",
                              instruction_tuned="True", max_input_length="64")
    hyperparameters.validate(model_id=model_id, model_version=model_version, hyperparameters=my_hyperparameters)
    estimator = JumpStartEstimator(model_id=model_id, hyperparameters=my_hyperparameters,
                                   instance_type="ml.g5.48xlarge", tiny_random=True)
    estimator.fit({"train": training_dataset_s3_path}, logs=True)
    job_dir = Path(estimator.latest_training_job.describe()["output_dir"])
    assert "data: instruction" in (job_dir / "logs.txt").read_text()
    instruction_tuned_predictor = estimator.deploy()
    predictor = JumpStartModel(model_id=model_id, tiny_random=True).deploy()
    try:
        parameters = {"max_new_tokens": 4, "do_sample": True, "top_k": 50, "top_p": 0.8, "temperature": 0.01,
                      "stop": ["<|endoftext|>", "</s>"]}
        expanded_prompt = template["prompt"].replace("{context}", rows[20]["response"])
        for endpoint in (predictor, instruction_tuned_predictor):
            answer = query_endpoint_with_json_payload({"inputs": expanded_prompt, "parameters": parameters},
                                                      endpoint.endpoint_name)
            assert isinstance(answer, str)
        # The deployment-only Falcon notebook reads the Predictor's answer the same way.
        assert isinstance(predictor.predict({"inputs": "Hello", "parameters": parameters})[0]["generated_text"], str)
    finally:
        for endpoint in (predictor, instruction_tuned_predictor):
            endpoint.delete_model()
            endpoint.delete_endpoint()


def test_code_llama_notebook_examples_template_and_its_silent_mode_refused(tmp_path):
    import jmespath

    model_id, model_version = "meta-textgeneration-llama-codellama-7b", "*"
    model = JumpStartModel(model_id=model_id, model_version=model_version, tiny_random=True)
    with pytest.raises(ValueError, match="accept_eula"):  # the notebook's cell as shipped, before the reader edits it
        model.deploy(accept_eula=False)
    predictor = model.deploy(accept_eula=True)
    finetuned_predictor = None
    try:
        for payload in model.retrieve_all_examples():
            response = predictor.predict(payload.body)
            assert isinstance(jmespath.search(payload.raw_payload["output_keys"]["generated_text"], response), str)

        rows = [json.loads(x) for x in (SAMPLES / "instruction" / "train" / "data.jsonl").read_text().splitlines()]
        folder = tmp_path / "dolphin_coder_dataset"
        folder.mkdir()
        (folder / "train.jsonl").write_text("".join(json.dumps({
            "system_prompt": "You are a coding assistant.", "question": r["instruction"], "response": r["response"],
        }) + "\n" for r in rows[:12]))
        template = {"prompt": "{system_prompt}\n\n### Input:\n{question}\n", "completion": " {response}"}
        (folder / "template.json").write_text(json.dumps(template))
        train_data_location = S3Uploader.upload(str(folder), f"s3://{Session().default_bucket()}/dolphin_coder_dataset")

        my_hyperparameters = hyperparameters.retrieve_default(model_id=model_id, model_version=model_version)
        my_hyperparameters["epoch"] = "1"
        hyperparameters.validate(model_id=model_id, model_version=model_version, hyperparameters=my_hyperparameters)
        estimator = JumpStartEstimator(model_id=model_id, model_version=model_version, tiny_random=True,
                                       hyperparameters={**my_hyperparameters, "max_input_length": "64"},
                                       environment={"accept_eula": "true"})
        # As written, the notebook leaves instruction_tuned at Code Llama's default (False): the template and
        # its rows would be read as raw text. That is refused before anything loads, with the fix.
        with pytest.raises(ValueError, match="holds template.json and instruction rows.*set instruction_tuned=True"):
            estimator.fit({"training": train_data_location})
        estimator.set_hyperparameters(instruction_tuned="True")
        estimator.fit({"training": train_data_location})
        finetuned_predictor = estimator.deploy()

        input_output_demarkation_key = "\n\n### Response:\n"
        payload = {"inputs": template["prompt"].format(system_prompt="You are a coding assistant.",
                                                       question=rows[30]["instruction"])
                   + input_output_demarkation_key, "parameters": {"max_new_tokens": 4}}
        for endpoint in (predictor, finetuned_predictor):
            assert isinstance(endpoint.predict(payload)[0]["generated_text"], str)
    finally:
        for endpoint in (predictor, finetuned_predictor):
            if endpoint is not None:
                endpoint.delete_predictor()
