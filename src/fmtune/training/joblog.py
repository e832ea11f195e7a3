"""The job's log: every line goes to the terminal and to <job>/logs.txt."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO


class JobLog:
    def __init__(self, path: Path, stream: TextIO | None = None):
        self.path = path
        self.stream = stream  # None: whatever sys.stdout is when a line is written
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for line in message.splitlines() or [""]:
            self._file.write(f"{stamp} {line}\n")
            print(line, file=self.stream or sys.stdout, flush=True)

    def close(self) -> None:
        self._file.close()
