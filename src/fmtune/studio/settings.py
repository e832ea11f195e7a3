"""What a Studio server allows: address, token, the folders a job may read, upload limits. Checked once, before
the server starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from fmtune.errors import UserError
from fmtune.paths import fmtune_home
from fmtune.serve.settings import is_loopback

TOKEN_ENV = "FMTUNE_STUDIO_TOKEN"
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class StudioSettings:
    host: str = "127.0.0.1"  # loopback unless the user says otherwise
    port: int = 8000
    token: str | None = field(default=None, repr=False)  # never printed
    # Local paths a job or a registered dataset may read (default: the working directory and FMTUNE_HOME).
    data_roots: tuple[Path, ...] = ()
    max_upload_bytes: int = 1 << 30  # one upload request, all its files (zip: what it extracts to)

    def check(self) -> StudioSettings:
        """All problems at once, in the words of the command-line flags; the roots resolved."""
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"--port {self.port}: expected 0..65535 (0 picks a free port).")
        if self.token is not None and len(self.token.strip()) < MIN_TOKEN_LENGTH:
            problems.append(f"--token: use at least {MIN_TOKEN_LENGTH} characters (a random one: "
                            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`).")
        if not is_loopback(self.host) and not self.token:
            problems.append(f"--host {self.host} exposes Studio beyond this machine, so it needs a token: pass "
                            f"--token TOKEN or set {TOKEN_ENV}.")
        if self.max_upload_bytes < 1024:
            problems.append(f"--max-upload-mb: expected at least 1 KB, got {self.max_upload_bytes} bytes.")
        roots = self.data_roots or (Path.cwd(), fmtune_home())
        resolved = tuple(dict.fromkeys(Path(r).expanduser().resolve() for r in roots))
        problems += [f"--data-root {r}: not a folder." for r in resolved if not r.is_dir() and r != fmtune_home()]
        if problems:
            raise UserError("cannot start Studio:\n" + "\n".join(f"  - {p}" for p in problems))
        return replace(self, data_roots=resolved)


def token_from_env(explicit: str | None) -> str | None:
    """--token wins; else FMTUNE_STUDIO_TOKEN; else none (loopback only)."""
    return explicit if explicit is not None else (os.environ.get(TOKEN_ENV) or None)
