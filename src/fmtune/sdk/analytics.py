"""Training metrics as a pandas DataFrame, like SageMaker's `TrainingJobAnalytics(job_name).dataframe()`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.store import JobStore, UnknownJobError

# metrics.jsonl key -> the metric name (the JumpStart log line that SageMaker's regexes match)
METRIC_NAMES = {"train_loss": "train_epoch_loss", "eval_loss": "eval_epoch_loss", "eval_ppl": "eval_ppl"}


class TrainingJobAnalytics:
    """One row per (metric, evaluation): columns `timestamp` (seconds since training started, as
    SageMaker's relative timestamps), `metric_name` and `value`. Cloud-only arguments are ignored."""

    def __init__(self, training_job_name: str, metric_names: list[str] | None = None, sagemaker_session: Any = None,
                 start_time: Any = None, end_time: Any = None, period: Any = None):
        try:
            record = JobStore().require(training_job_name)
        except UnknownJobError as err:
            raise ValueError(str(err)) from None
        self.name = training_job_name
        self._metrics_file = JobLayout(Path(record.job_dir)).metrics
        self._metric_names = list(metric_names) if metric_names else list(METRIC_NAMES.values())
        unknown = sorted(set(self._metric_names) - set(METRIC_NAMES.values()))
        if unknown:
            raise ValueError(f"unknown metric name(s) {unknown}; fmtune records {sorted(METRIC_NAMES.values())}")

    def dataframe(self, force_refresh: bool = False) -> Any:
        pandas = _pandas()
        rows, elapsed = [], 0.0
        for record in read_metrics(self._metrics_file):
            elapsed += float(record.get("seconds") or 0.0)
            for key, name in METRIC_NAMES.items():
                if name in self._metric_names and record.get(key) is not None:
                    rows.append({"timestamp": round(elapsed, 3), "metric_name": name, "value": float(record[key])})
        return pandas.DataFrame(rows, columns=["timestamp", "metric_name", "value"])

    def export_csv(self, filename: str) -> None:
        self.dataframe().to_csv(filename, index=False)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("TrainingJobAnalytics.dataframe() needs pandas: `pip install pandas`") from None
    return pandas
