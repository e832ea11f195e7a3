"""A progress bar with loss and tokens/s on a terminal; silent when output is a file or a pipe."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, description: str, done: int = 0):
        self._bar = None
        self._tokens = 0
        self._started = time.monotonic()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=description, unit="step", dynamic_ncols=True, leave=False)

    def step(self, loss: float | None = None, tokens: int = 0) -> None:
        """One step done; training shows its loss and tokens/s, an evaluation only the count."""
        self._tokens += tokens
        if self._bar is not None:
            if loss is not None:
                rate = self._tokens / max(time.monotonic() - self._started, 1e-9)
                self._bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{rate:.0f}", refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
