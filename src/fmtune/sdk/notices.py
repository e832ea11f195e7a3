"""Arguments that only mean something on AWS: accepted with one notice line each, so notebook code runs as
written; a misspelt one is a TypeError naming the closest known name, as Python would raise."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("fmtune.sdk")

# Arguments of SageMaker's Estimator / JumpStartEstimator (and their fit/deploy/attach) that only mean
# something in AWS. Anything else unknown is a TypeError, as in Python, so that typos are not swallowed.
CLOUD_ONLY = frozenset({
    "role", "instance_type", "sagemaker_session", "volume_size", "volume_kms_key", "max_run", "input_mode",
    "output_kms_key", "tags", "subnets", "security_group_ids", "model_uri", "model_channel_name",
    "metric_definitions", "encrypt_inter_container_traffic", "use_spot_instances", "max_wait",
    "checkpoint_s3_uri", "checkpoint_local_path", "enable_network_isolation", "rules", "debugger_hook_config",
    "tensorboard_output_config", "enable_sagemaker_metrics", "profiler_config", "disable_profiler",
    "max_retry_attempts", "source_dir", "git_config", "container_log_level", "code_location", "entry_point",
    "dependencies", "instance_groups", "training_repository_access_mode",
    "training_repository_credentials_provider_arn", "image_uri", "tolerate_vulnerable_model",
    "tolerate_deprecated_model", "region", "hub_name", "keep_alive_period_in_seconds", "container_entry_point",
    "container_arguments", "disable_output_compression", "enable_infra_check", "enable_remote_debug",
    "config_name", "enable_session_tag_chaining", "training_plan", "instance_placement_config", "distribution",
    "model_type", "hub_arn", "experiment_config", "additional_kwargs", "initial_instance_count",
    "serializer", "deserializer", "accelerator_type", "kms_key", "wait", "data_capture_config",
    "async_inference_config", "serverless_inference_config", "volume_size_in_gb", "model_data_download_timeout",
    "container_startup_health_check_timeout", "inference_recommendation_id", "explainer_config",
    "model_name", "predictor_cls", "vpc_config", "use_compiled_model", "image_uri_config",
    "inference_config_name", "routing_config", "managed_instance_scaling", "endpoint_type", "resources",
    "model_reference_arn",
})


def notice_ignored(where: str, arguments: Mapping[str, Any]) -> None:
    """One notice line per ignored argument; unknown names are a TypeError (with the closest known name)."""
    for name in arguments:
        if name not in CLOUD_ONLY:
            close = difflib.get_close_matches(name, sorted(CLOUD_ONLY), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}{hint}")
        log.warning("fmtune: %s(%s=...) is ignored: it only applies to AWS; fmtune runs on this machine.",
                    where, name)
