"""Graceful stop: SIGTERM (`fmtune jobs stop`, SageMaker-style) or Ctrl-C sets a flag; the training loop
checks it after each optimizer step, writes a checkpoint and ends the job as Stopped."""

from __future__ import annotations

import signal
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.signal_number = 0

    @property
    def requested(self) -> bool:
        return self.signal_number != 0

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.signal_number = number

    @classmethod
    def install(cls) -> StopRequest:
        request = cls()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request._handle)
        return request


class JobStopped(Exception):
    def __init__(self, request: StopRequest, detail: str):
        super().__init__(detail)
        self.signal_number = request.signal_number
        self.signal_name = signal.Signals(request.signal_number).name
        self.detail = detail
