"""`Estimator`: SageMaker-style Python API over the same JobConfig → runner path as the CLI.

The job runs detached (its own session), so it survives the notebook kernel: `Estimator.attach(name)`
picks it up again, as in SageMaker. Cloud-only arguments are accepted and ignored with one notice each.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fmtune.catalog import find_card
from fmtune.errors import UserError
from fmtune.jobs import runner
from fmtune.jobs.config import Launch
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.start import JobRequest, default_job_name, start_job
from fmtune.jobs.store import JobRecord, JobStore, UnknownJobError
from fmtune.jobs.views import describe_job, stream_logs
from fmtune.sdk.analytics import METRIC_NAMES, TrainingJobAnalytics
from fmtune.sdk.errors import UnexpectedStatusException
from fmtune.sdk.notices import notice_ignored
from fmtune.sdk.predictor import Predictor, json_predictor, start_predictor
from fmtune.sdk.remote import RemoteEndpoint, RemoteTrainingJob
from fmtune.studio.remote import RemoteStudio
from fmtune.tasks import find_task

log = logging.getLogger("fmtune.sdk")

def local_path(location: Any) -> str:
    """A channel location from a path, a file:// URI, an s3:// URI (fetched when the job starts,
    fmtune.storage) or a SageMaker TrainingInput."""
    config = getattr(location, "config", None)
    if isinstance(config, dict):  # sagemaker.inputs.TrainingInput
        location = config.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", location)
    text = os.fspath(location) if isinstance(location, os.PathLike) else str(location)
    return text.removeprefix("file://")


def sagemaker_description(record: JobRecord) -> dict[str, Any]:
    """The job in DescribeTrainingJob's words. Paths stand where S3 URIs would: the job folder, its model/."""
    layout = JobLayout(Path(record.job_dir))
    last = read_metrics(layout.metrics)[-1:] if layout.metrics.exists() else []
    final = [{"MetricName": name, "Value": float(last[0][key]), "Timestamp": record.ended or record.updated}
             for key, name in METRIC_NAMES.items() if last and last[0].get(key) is not None]
    description = {
        "TrainingJobName": record.name,
        "TrainingJobStatus": "InProgress" if record.status == "Pending" else record.status,
        "HyperParameters": dict(record.config.get("hyperparameters", {})),
        "OutputDataConfig": {"S3OutputPath": str(layout.root.parent)},
        "ModelArtifacts": {"S3ModelArtifacts": str(layout.model) if layout.has_model() else None},
        "FinalMetricDataList": final,
        "CreationTime": record.created,
        "TrainingStartTime": record.started,
        "TrainingEndTime": record.ended,
        "LastModifiedTime": record.updated,
    }
    if record.failure_reason:
        description["FailureReason"] = record.failure_reason
    return description


class TrainingJob:
    """`estimator.latest_training_job`: a handle on one job in the job store."""

    def __init__(self, name: str):
        self.name = name

    @property
    def job_name(self) -> str:
        return self.name

    def describe(self) -> dict[str, Any]:
        """SageMaker's DescribeTrainingJob keys (TrainingJobStatus, HyperParameters, ModelArtifacts,
        FinalMetricDataList, ...) beside fmtune's own (status, hyperparameters, output_dir, ...)."""
        record = JobStore().require(self.name)
        return {**describe_job(record), **sagemaker_description(record)}

    def wait(self, logs: Any = True) -> JobRecord:
        """Until the job ends (printing its log when `logs`); raises UnexpectedStatusException if it Failed."""
        record = stream_logs(self.name, follow=True) if _wants_logs(logs) else runner.wait(self.name)
        if record.status == "Failed":
            raise UnexpectedStatusException(self.name, record.status, record.failure_reason)
        if record.status == "Stopped":
            log.warning("fmtune: training job %s was stopped; `fmtune jobs resume %s` continues it.",
                        self.name, self.name)
        return record

    def stop(self) -> None:
        runner.stop(self.name)


class Estimator:
    """Fine-tune `model_id` (catalog id, local model folder or hub id) with JumpStart hyperparameters."""

    def __init__(
        self,
        model_id: str,
        hyperparameters: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        output_path: str | os.PathLike | None = None,
        instance_count: int | None = 1,
        base_job_name: str | None = None,
        tiny_random: bool = False,
        nproc_per_node: int = 1,
        node_rank: int = 0,
        master_addr: str = "127.0.0.1",
        master_port: int = 29500,
        server: str | None = None,
        server_token: str | None = None,
        **cloud_only: Any,
    ):
        """`tiny_random=True` trains a tiny randomly initialised model of the catalog model's architecture:
        a fast test of the whole pipeline, not a useful model (as `fmtune train --tiny-random`).
        `nproc_per_node` processes (one per GPU) and `instance_count` machines train with FSDP
        (hyperparameter enable_fsdp=True), as `fmtune train --nproc --nnodes --node-rank --master-addr`.
        `server="http://host:8000"` runs the job (and deploy()'s endpoint) on that fmtune Studio instead of here:
        local data is uploaded first (`server_token`, else $FMTUNE_STUDIO_TOKEN, is its token)."""
        notice_ignored(type(self).__name__, cloud_only)
        self.tiny_random = tiny_random
        self._remote = self._check_server(server, server_token)
        self.model_id = self._check_model(model_id)
        self._hyperparameters = {k: _as_string(v) for k, v in (hyperparameters or {}).items()}
        self.environment = dict(environment or {})
        self.accept_eula = str(self.environment.get("accept_eula", "")).strip().lower() == "true"
        others = {k: v for k, v in self.environment.items() if k != "accept_eula"}
        for key in others:
            log.warning("fmtune: environment[%r] is ignored; set it in this process's environment instead.", key)
        self.output_path = self._check_output_path(output_path)
        # SageMaker's instance_count = machines. Here it becomes torchrun's --nnodes; this machine's place in
        # the rendezvous comes from node_rank / master_addr / master_port (as `fmtune train --node-rank ...`).
        self.instance_count = instance_count or 1
        self.launch = Launch(nproc_per_node, self.instance_count, node_rank, master_addr, master_port)
        self.base_job_name = base_job_name
        self.latest_training_job: TrainingJob | None = None

    # --- hyperparameters -----------------------------------------------------------------------------

    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._hyperparameters.update({k: _as_string(v) for k, v in kwargs.items()})

    def hyperparameters(self) -> dict[str, str]:
        """The hyperparameters as strings: a catalog model's defaults with the values set here (the GPT-J
        notebook prints them "to view default values"); for a model outside the catalog, those set here."""
        card = find_card(self.model_id)
        return {**(card.default_hyperparameters if card else {}), **self._hyperparameters}

    def _given_hyperparameters(self) -> dict[str, Any]:
        """Notebooks pass retrieve_default(...) back whole: only values changed from the model's defaults
        count as given (so that a default still gives way to a value the notebook set)."""
        card = find_card(self.model_id)
        task = find_task(card.task) if card else None
        if card is None or task is None:
            return dict(self._hyperparameters)
        return task.schema.changed_values(self._hyperparameters, card.default_hyperparameters)

    # --- training ------------------------------------------------------------------------------------

    def fit(self, inputs: Any = None, wait: bool = True, logs: Any = True, job_name: str | None = None,
            **cloud_only: Any) -> None:
        """Start a job on `inputs` ({"training": path, "validation": path} or one path = training).
        With `wait`, block until it ends (printing its log when `logs`) and raise if it fails."""
        notice_ignored("fit", cloud_only)
        if inputs is None:
            raise ValueError('fit() needs training data: fit({"training": "path/to/data"})')
        channels = dict(inputs) if isinstance(inputs, Mapping) else {"training": inputs}
        channels = {name: local_path(value) for name, value in channels.items()}
        name = job_name or default_job_name(self.base_job_name or self.model_id)
        if self._remote is not None:
            self._fit_remote(channels, name, wait, logs)
            return
        output_dir = Path(self.output_path) / name if self.output_path else None
        request = JobRequest(self.model_id, channels, self._given_hyperparameters(), job_name=name,
                             output_dir=output_dir, accept_eula=self.accept_eula, tiny_random=self.tiny_random,
                             launch=self.launch)
        try:
            job = start_job(request, detach=True).config  # its own session: the job outlives this kernel
        except UserError as err:  # as SageMaker's SDK raises bad arguments
            raise ValueError(str(err)) from None
        self.latest_training_job = TrainingJob(job.job_name)
        log.info("fmtune: training job %s started in %s", job.job_name, job.job_dir)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def _fit_remote(self, channels: dict[str, str], name: str, wait: bool, logs: Any) -> None:
        try:
            job = self._remote.create_job(self.model_id, channels, self._given_hyperparameters(), job_name=name,
                                          accept_eula=self.accept_eula, tiny_random=self.tiny_random)
        except UserError as err:  # the server's checks, raised as the local ones are
            raise ValueError(str(err)) from None
        self.latest_training_job = RemoteTrainingJob(self._remote, job["name"])
        log.info("fmtune: training job %s started on %s", job["name"], self._remote.url)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def evaluate(self, data: Any = None, **settings: Any) -> dict[str, Any]:
        """`fmtune.evaluate` for this estimator's job, once it has ended."""
        if self._remote is not None:
            raise ValueError("evaluate() on a remote Studio is not in this version; run `fmtune evaluate` there.")
        return evaluate(self._job().wait(logs=False).name, data, **settings)

    def logs(self) -> None:
        """Print the job's log until it ends; raise UnexpectedStatusException if it Failed."""
        self._job().wait(logs=True)

    def stop_training_job(self) -> None:
        self._job().stop()

    @property
    def model_data(self) -> str:
        return str(JobLayout(Path(self._job().describe()["output_dir"])).model)

    @property
    def training_job_analytics(self) -> TrainingJobAnalytics:
        return TrainingJobAnalytics(self._job().name)

    @classmethod
    def attach(cls, training_job_name: str, model_id: str | None = None, **cloud_only: Any) -> Estimator:
        """An estimator for an existing job (e.g. after the notebook kernel died). As in SageMaker, this
        blocks until the job ends (without printing its log) and raises if it Failed."""
        notice_ignored("attach", cloud_only)
        try:
            record = JobStore().require(training_job_name)
        except UnknownJobError as err:
            raise ValueError(str(err)) from None
        if model_id is not None and model_id != record.model:
            raise ValueError(f"training job {training_job_name} fine-tuned {record.model!r}, not {model_id!r}.")
        estimator = cls._for_record(record)
        estimator.latest_training_job = TrainingJob(record.name)
        estimator.latest_training_job.wait(logs=False)
        return estimator

    @classmethod
    def _for_record(cls, record: JobRecord) -> Estimator:
        return cls(
            record.model,
            hyperparameters=record.config.get("hyperparameters"),
            environment={"accept_eula": "true"} if record.config.get("accept_eula") else None,
            output_path=str(Path(record.job_dir).parent),
        )

    # --- inference -----------------------------------------------------------------------------------

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               endpoint_name: str | None = None, env: Mapping[str, Any] | None = None,
               **cloud_only: Any) -> Predictor:
        """Start an HTTP endpoint (a managed `fmtune.serve` process) for the tuned model and return a JSON
        Predictor bound to it (waits for the job to end first); `env={"MESSAGES_API_ENABLED": "true"}` adds
        the Messages API. `predictor.delete_endpoint()` stops it."""
        notice_ignored("deploy", {k: v for k, v in {"initial_instance_count": initial_instance_count,
                                                    "instance_type": instance_type}.items() if v is not None})
        notice_ignored("deploy", cloud_only)
        if self._remote is not None:
            return self._deploy_remote(endpoint_name)
        record = self._job().wait(logs=False)
        layout = JobLayout(Path(record.job_dir))
        if not layout.has_model():
            raise ValueError(f"training job {record.name} is {record.status} and has no model yet; "
                             f"`fmtune jobs resume {record.name}` finishes it.")
        return start_predictor(str(layout.root), endpoint_name or record.name, env)

    def _deploy_remote(self, endpoint_name: str | None) -> Predictor:
        job = self._job()
        job.wait(logs=False)
        try:
            endpoint = self._remote.deploy(job=job.name, name=endpoint_name)
        except UserError as err:
            raise ValueError(str(err)) from None
        handle = RemoteEndpoint(self._remote, endpoint["name"])
        if endpoint["task"] == "text-to-image":
            return Predictor(endpoint["name"], endpoint=handle)
        return json_predictor(endpoint["name"], handle)

    # --- helpers -------------------------------------------------------------------------------------

    def _job(self) -> TrainingJob:
        if self.latest_training_job is None:
            raise ValueError("Estimator has no training job yet: call fit() first (or Estimator.attach(name)).")
        return self.latest_training_job

    @staticmethod
    def _check_server(server: str | None, token: str | None) -> RemoteStudio | None:
        if server is None:
            return None
        try:
            return RemoteStudio(server, token)
        except UserError as err:
            raise ValueError(str(err)) from None

    def _check_model(self, model_id: str) -> str:
        from fmtune.models.source import resolve_source

        if self._remote is not None:  # the server resolves it (it may hold models this machine has not)
            return model_id
        try:
            resolve_source(model_id)
        except UserError as err:
            raise ValueError(str(err)) from None
        return model_id

    @staticmethod
    def _check_output_path(output_path: str | os.PathLike | None) -> str | None:
        if output_path is None:
            return None
        text = os.fspath(output_path)
        if text.startswith("s3://"):
            log.warning("fmtune: output_path=%s is ignored (S3); jobs are written under $FMTUNE_HOME/jobs.", text)
            return None
        return str(Path(text.removeprefix("file://")).expanduser().resolve())


def _wants_logs(logs: Any) -> bool:
    return logs not in (False, None, "None")


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def evaluate(subject: str, data: Any = None, *, max_samples: int | None = None, max_new_tokens: int | None = None,
             metrics: str | None = None, compare_base: bool = True, judge_url: str | None = None,
             judge_model: str | None = None, job_name: str | None = None, accept_eula: bool = False,
             **data_format: Any) -> dict[str, Any]:
    """Score a finished job's model and its base on held-out rows (its own validation rows, or `data` in the job's
    format) — or a model alone on `data` (`instruction_tuned=True` / `chat_dataset=True` say how to read it) — as
    an evaluation job (`fmtune evaluate`); wait for it and return its eval/metrics.json ({"base": {...}, "tuned":
    {...}}). The report is eval/report.html in the evaluation job's folder."""
    from fmtune.evaluation.task import evaluation_request

    settings = {**data_format, "evaluation_samples": max_samples, "evaluation_max_new_tokens": max_new_tokens,
                "metrics": metrics, "compare_base": compare_base, "judge_url": judge_url, "judge_model": judge_model}
    request = evaluation_request(subject, local_path(data) if data is not None else None, settings, job_name,
                                 accept_eula)
    try:
        started = start_job(request, detach=True).config
    except UserError as err:  # as SageMaker's SDK raises bad arguments
        raise ValueError(str(err)) from None
    TrainingJob(started.job_name).wait(logs=False)
    return json.loads((JobLayout(Path(started.job_dir)).evaluation / "metrics.json").read_text())
