"""Who may use a Studio server, checked in front of every route.

- Without a token Studio listens on loopback only, and the Host header must name loopback too: a web page
  elsewhere cannot reach it through DNS rebinding.
- With a token, every route but the login page, the static files and /api/v1/health needs it: as
  `Authorization: Bearer TOKEN`, or as the session cookie the login page sets (HttpOnly, SameSite=Strict,
  holding an HMAC of the token, never the token).
- State-changing requests are refused when the browser says they come from another site (Sec-Fetch-Site, else
  an Origin that is not this server): a page elsewhere cannot make a visitor's browser start or delete jobs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from fmtune.serve.settings import is_loopback
from fmtune.studio.settings import StudioSettings

COOKIE = "fmtune_studio"
OPEN_PATHS = ("/login", "/api/v1/health")
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def session_value(token: str) -> str:
    """What the session cookie holds: proof of the token that does not reveal it."""
    return hmac.new(token.encode(), b"fmtune-studio-session", hashlib.sha256).hexdigest()


class Gate:
    """ASGI middleware: host check, token check and cross-site check, before the app sees a request."""

    def __init__(self, app: Any, settings: StudioSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        refusal = self.refusal(headers, path, method)
        if refusal is None:
            await self.app(scope, receive, send)
        elif refusal[0] == 401 and not path.startswith("/api/"):
            target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            await _respond(send, 303, b"", [(b"location", f"/login?next={quote(target)}".encode())])
        else:
            status, message = refusal
            body = json.dumps({"error": {"status": status, "message": message, "problems": []}}).encode()
            await _respond(send, status, body, [(b"content-type", b"application/json")])

    def refusal(self, headers: dict[str, str], path: str, method: str) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if not self.settings.token and not is_loopback(_hostname(host)):
            return 400, (f"Host {host!r}: this Studio has no token, so it answers only to loopback names "
                         "(127.0.0.1, localhost); start it with --token to reach it by another name.")
        if method not in SAFE_METHODS and _cross_site(headers, host):
            return 403, "cross-site request refused: state-changing requests must come from Studio's own pages."
        if self.settings.token and not _open(path) and not self.authenticated(headers):
            return 401, "this Studio needs its token: send `Authorization: Bearer TOKEN`, or log in at /login."
        return None

    def authenticated(self, headers: dict[str, str]) -> bool:
        token = self.settings.token
        assert token
        scheme, _, given = headers.get("authorization", "").partition(" ")
        # Headers arrive as bytes, decoded here as latin-1: compare those bytes with the token's UTF-8.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1"), token.encode()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is simply no session
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), session_value(token).encode())


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _cross_site(headers: dict[str, str], host: str) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    return origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower())


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
