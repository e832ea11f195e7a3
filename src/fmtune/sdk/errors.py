"""Exceptions the SDK raises, shaped like the SageMaker SDK's so notebook code that catches them still works."""

from __future__ import annotations


class UnexpectedStatusException(ValueError):
    """The training job ended Failed; `failure_reason` is the job's own reason (as `fmtune jobs describe`)."""

    def __init__(self, job_name: str, actual_status: str, failure_reason: str | None,
                 allowed_statuses: tuple[str, ...] = ("Completed", "Stopped")):
        self.job_name = job_name
        self.actual_status = actual_status
        self.failure_reason = failure_reason
        self.allowed_statuses = allowed_statuses
        super().__init__(f"Error for Training job {job_name}: {actual_status}. Reason: {failure_reason}. "
                         f"Details: fmtune jobs logs {job_name}")
