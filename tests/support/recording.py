"""A stand-in for a timing function: answers `result` and records each call's arguments in `.calls`."""

from __future__ import annotations

from typing import Any


def recording(result: Any) -> Any:
    def fake(*args: Any) -> Any:
        fake.calls.append(args)
        return result

    fake.calls = []
    return fake
