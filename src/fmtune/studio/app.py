"""The Studio server: one FastAPI app with the REST API, the pages and the packaged static files, behind the
gate (fmtune.studio.security). State lives in the job store and FMTUNE_HOME, never in the server, so a restart
or a closed browser loses nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from fmtune.studio.api import api_router, install_errors
from fmtune.studio.pages import page_router
from fmtune.studio.security import Gate
from fmtune.studio.settings import StudioSettings

STATIC = Path(__file__).parent / "static"


def studio_app(settings: StudioSettings | None = None) -> FastAPI:
    settings = (settings or StudioSettings()).check()
    app = FastAPI(title="fmtune Studio", version="1", docs_url=None, redoc_url=None,
                  description="Fine-tune, watch, deploy and compare models; the same jobs as `fmtune` and the SDK.")
    install_errors(app)
    app.include_router(api_router(settings))
    app.include_router(page_router(settings))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Gate, settings=settings)
    return app
