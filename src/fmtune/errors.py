"""Errors the user can fix. Front ends print them without a traceback (CLI exit code 2, HTTP 4xx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class UserError(Exception):
    """A mistake in the user's input: message says what is wrong, the value, and the fix."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem with one setting: what a web form marks on the field `key` (None: not one field)."""

    message: str
    key: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "message": self.message}


class ConfigError(UserError):
    """One or more invalid settings, all reported together."""

    def __init__(self, problems: list[Problem | str]):
        self.details = [p if isinstance(p, Problem) else Problem(p) for p in problems]
        self.problems = [p.message for p in self.details]
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the job settings:\n{lines}")


class DataError(UserError):
    """A data channel cannot be used as given (names the file and, where known, the line)."""
