"""Errors the user can fix. Front ends print them without a traceback (CLI exit code 2, HTTP 4xx)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: message says what is wrong, the value, and the fix."""

    exit_code = 2


class ConfigError(UserError):
    """One or more invalid settings, all reported together."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the job settings:\n{lines}")


class DataError(UserError):
    """A data channel cannot be used as given (names the file and, where known, the line)."""
