"""Studio's own refusals: a UserError with the HTTP status the API answers with."""

from __future__ import annotations

from fmtune.errors import UserError


class StudioError(UserError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
