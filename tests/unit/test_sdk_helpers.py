"""What notebooks call around training, as local stand-ins: the JumpStart model filter, a Session whose default
bucket is a local folder (upload, download, list; channels read from it), the role and name helpers."""

from __future__ import annotations

import re

import pytest

from fmtune import storage
from fmtune.catalog import all_cards
from fmtune.errors import UserError
from fmtune.sagemaker import Session, get_execution_role
from fmtune.sagemaker.jumpstart.filters import And, Or
from fmtune.sagemaker.jumpstart.notebook_utils import list_jumpstart_models
from fmtune.sagemaker.jumpstart.utils import get_jumpstart_content_bucket
from fmtune.sagemaker.s3 import S3Downloader, S3Uploader
from fmtune.sagemaker.utils import name_from_base

from ..data_support import write

SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"


@pytest.mark.parametrize(("expression", "expected"), [
    ("task == txt2img", [SD]),
    ("task == text2text", [f"huggingface-text2text-flan-t5-{s}" for s in ("base", "large", "small", "xl", "xxl")]),
    (And("framework == meta", "model_id ends with -7b-f"), ["meta-textgeneration-llama-2-7b-f"]),
    (Or("task == txt2img", "model_id == huggingface-llm-gemma-2b"), ["huggingface-llm-gemma-2b", SD]),
    ("task in [txt2img, text2text]", sorted([SD] + [f"huggingface-text2text-flan-t5-{s}"
                                                    for s in ("base", "large", "small", "xl", "xxl")])),
    (And("search_keywords includes Text To Image"), [SD]),
])
def test_jumpstart_filters_select_catalog_models(expression, expected):
    assert list_jumpstart_models(filter=expression) == expected


def test_filter_operators_cover_the_whole_catalog():
    everything = list_jumpstart_models()
    generation = list_jumpstart_models(filter="search_keywords includes Text Generation")
    others = list_jumpstart_models(filter="search_keywords not includes text generation")
    assert sorted(generation + others) == everything and SD in others and len(everything) == len(all_cards())
    assert list_jumpstart_models(filter="task != txt2img") == [m for m in everything if m != SD]
    assert list_jumpstart_models(filter="task not in txt2img") == [m for m in everything if m != SD]
    assert all(m.startswith("meta-") for m in list_jumpstart_models(filter="model_id begins with meta-"))
    assert list_jumpstart_models(filter="task == txt2img", list_versions=True) == [(SD, "*")]


@pytest.mark.parametrize(("expression", "message"), [
    ("task = txt2img", "expected 'KEY OP VALUE'"), ("colour == red", "unknown key 'colour'"),
])
def test_a_bad_filter_names_the_problem(expression, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        list_jumpstart_models(filter=expression)


def test_the_default_bucket_is_a_local_folder_that_channels_read(home, tmp_path):
    bucket = Session().default_bucket()
    assert bucket == get_jumpstart_content_bucket() == "fmtune-local"
    folder = write(tmp_path / "train" / "data.jsonl", '{"text": "x"}\n').parent
    uri = S3Uploader.upload(str(folder), f"s3://{bucket}/llama/train")
    assert uri == "s3://fmtune-local/llama/train"
    assert S3Downloader.list(uri) == ["s3://fmtune-local/llama/train/data.jsonl"]
    assert storage.fetch(uri) == home / "s3" / "fmtune-local" / "llama" / "train"  # a channel reads it there
    copied = S3Downloader.download(uri, tmp_path / "back")
    assert copied == [str(tmp_path / "back" / "data.jsonl")]
    one = Session().upload_data(str(folder / "data.jsonl"), key_prefix="single/")
    assert one == "s3://fmtune-local/single/data.jsonl"


def test_a_key_that_leaves_the_bucket_is_refused(home, tmp_path):
    with pytest.raises(ValueError, match=re.escape("'..' is not allowed")):
        S3Uploader.upload(str(tmp_path), "s3://fmtune-local/../../etc")
    with pytest.raises(UserError, match=re.escape("'..' is not allowed")):
        storage.fetch("s3://fmtune-local/a/../../b")


def test_nothing_at_a_key_is_said_on_download(home, tmp_path):
    with pytest.raises(ValueError, match="nothing at s3://fmtune-local/none"):
        S3Downloader.download("s3://fmtune-local/none", tmp_path)
    assert S3Downloader.list("s3://fmtune-local/none") == []


def test_role_and_names():
    assert get_execution_role().startswith("arn:aws:iam::") and Session().get_caller_identity_arn() == \
        get_execution_role()
    name = name_from_base("meta-textgeneration-llama-2-7b-with-a-very-long-base-name-indeed")
    assert len(name) <= 63 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", name)
    assert re.fullmatch(r"job-\d{6}-\d{4}", name_from_base("job", short=True))


def test_the_container_path_and_the_tuner_say_what_to_use_instead():
    from fmtune.sagemaker import image_uris, model_uris, script_uris
    from fmtune.sagemaker.estimator import Estimator
    from fmtune.sagemaker.tuner import HyperparameterTuner

    for module in (image_uris, model_uris, script_uris):
        with pytest.raises(ValueError, match=r"JumpStartEstimator\(model_id='huggingface-llm-gemma-2b'"):
            module.retrieve(region=None, framework=None, model_id="huggingface-llm-gemma-2b", model_version="*",
                            image_scope="training", instance_type="ml.g5.2xlarge")
    with pytest.raises(ValueError, match="does not run SageMaker training containers"):
        Estimator(role="r", image_uri="763104351884.dkr.ecr/x", source_dir="s3://b/s", entry_point="train.py")
    with pytest.raises(ValueError, match="no hyperparameter tuner yet"):
        HyperparameterTuner(estimator=None, objective_metric_name="eval-loss", hyperparameter_ranges={})
