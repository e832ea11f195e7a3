"""Run the endpoint: load the engine, bind the socket, register it, serve with uvicorn until stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fmtune.process import process_identity
from fmtune.serve.registry import EndpointRecord, get_endpoint, register, unregister
from fmtune.serve.settings import ServeSettings


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the real port is known before serving starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        from fmtune.errors import UserError

        raise UserError(f"cannot listen on {host}:{port}: {err.strerror}. Pick another --port (0 picks a free one).") \
            from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def default_endpoint_name(model_name: str, port: int) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-.") or "endpoint")[:50] + f"-{port}"


def serve_forever(
    reference: str,
    adapters: Mapping[str, str] | None = None,
    settings: ServeSettings | None = None,
    *,
    name: str | None = None,
    log_level: str = "info",
) -> int:
    """`fmtune deploy`: serve in the foreground until SIGINT/SIGTERM; the registry knows it meanwhile."""
    import uvicorn

    from fmtune.errors import UserError

    settings = (settings or ServeSettings()).check()
    if name is not None and get_endpoint(name) is not None:
        raise UserError(f"an endpoint named '{name}' is already running; stop it (`fmtune endpoints stop {name}`) "
                        "or pick another --name.")
    engine = load_engine(reference, adapters, settings)
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    name = name or default_endpoint_name(engine.base.name, sock.getsockname()[1])
    record = endpoint_record(name, url, reference, engine)
    try:
        register(record)
        served = ", ".join(engine.model_names())
        print(f"endpoint {name}: {url} (models: {served}); OpenAI base_url {url}/v1; "
              f"{'API key required' if settings.api_key else 'no API key'}", flush=True)
        server = uvicorn.Server(uvicorn.Config(app_for(engine), log_level=log_level, lifespan="off",
                                               timeout_graceful_shutdown=5))
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit through `finally` instead of dying.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        server.run(sockets=[sock])
    finally:
        unregister(name, os.getpid())
        engine.close()
        sock.close()
    return 0


def load_engine(
    reference: str, adapters: Mapping[str, str] | None = None, settings: ServeSettings | None = None
) -> Any:
    """The engine for what `reference` names: a text-to-image pipeline (ImageEngine) or a language model (Engine)."""
    from fmtune.jobs.artifacts import model_dir
    from fmtune.models.source import is_pipeline

    if is_pipeline(model_dir(reference)):
        from fmtune.serve.image_engine import ImageEngine

        return ImageEngine.load(reference, dict(adapters or {}), settings)
    from fmtune.serve.engine import Engine

    return Engine.load(reference, adapters, settings)


def app_for(engine: Any) -> Any:
    """The HTTP app over an engine: image routes for an ImageEngine, text routes otherwise."""
    from fmtune.serve.image_engine import ImageEngine

    if isinstance(engine, ImageEngine):
        from fmtune.serve.image_app import create_image_app

        return create_image_app(engine)
    from fmtune.serve.app import create_app

    return create_app(engine)


def endpoint_record(name: str, url: str, reference: str, engine: Any) -> EndpointRecord:
    """The registry's record of an endpoint this process serves."""
    return EndpointRecord(
        name=name, url=url, pid=os.getpid(), proc_start=process_identity(os.getpid()), model=reference,
        adapters=list(engine.adapters), started=datetime.now(UTC).isoformat(timespec="seconds"),
        log=os.environ.get("FMTUNE_ENDPOINT_LOG"), auth=engine.settings.api_key is not None,
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


class ServerThread:
    """The endpoint in a thread of this process (tests, benchmarks, notebooks): `with ServerThread(engine) as s:`."""

    def __init__(self, engine: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self.engine = engine
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        config = uvicorn.Config(app_for(engine), log_level=log_level, lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        if self.thread.is_alive():
            print("warning: the endpoint thread did not stop within 10 s", file=sys.stderr)
