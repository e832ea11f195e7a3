"""Studio's pages: server-rendered HTML (Jinja2) that the shipped studio.js brings to life through the REST API.
Each page gets its data as JSON in the page itself; nothing is fetched from anywhere but this server."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import fmtune.studio.service as service
from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.studio.security import COOKIE, session_value
from fmtune.studio.settings import StudioSettings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def page_router(settings: StudioSettings) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, title: str, data: dict[str, Any] | None = None,
               status: int = 200) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, {"title": title, "data": data or {},
                                                          "token_required": bool(settings.token)},
                                          status_code=status)

    @pages.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/models", status_code=303)

    @pages.get("/models")
    def models(request: Request) -> HTMLResponse:
        return render(request, "models.html", "Models", {"models": service.list_models()})

    @pages.get("/models/{model_id}")
    def model(request: Request, model_id: str) -> HTMLResponse:
        return render(request, "model.html", model_id, {"model": service.model_detail(model_id)})

    @pages.get("/new")
    def new(request: Request, model: str = DEFAULT_MODEL_ID, source: str | None = None) -> HTMLResponse:
        spec = None
        if source:
            found = service.job_spec(source)
            spec = {**vars(found), "channels": dict(found.channels), "hyperparameters": dict(found.hyperparameters)}
            model = found.model_id
        models = [{"model_id": m["model_id"], "display_name": m["display_name"], "task": m["task"]}
                  for m in service.list_models() if m["fine_tunable"]]
        return render(request, "new.html", "New fine-tune", {"models": models, "model_id": model, "spec": spec})

    @pages.get("/jobs")
    def jobs(request: Request) -> HTMLResponse:
        return render(request, "jobs.html", "Jobs", {"jobs": service.list_jobs()})

    @pages.get("/jobs/{name}")
    def job(request: Request, name: str) -> HTMLResponse:
        return render(request, "job.html", name, {"job": service.get_job(name)})

    @pages.get("/endpoints")
    def endpoints(request: Request) -> HTMLResponse:
        return render(request, "endpoints.html", "Endpoints", {"endpoints": service.list_endpoints()})

    @pages.get("/playground/{name}")
    def playground(request: Request, name: str) -> HTMLResponse:
        return render(request, "playground.html", f"Playground: {name}", {"endpoint": service.endpoint_summary(name)})

    @pages.get("/docs")
    def docs(request: Request) -> HTMLResponse:
        """The API's routes from its own OpenAPI document (served here: Swagger UI would load from a CDN)."""
        routes = [{"method": method.upper(), "path": path, "summary": op.get("description") or op.get("summary", "")}
                  for path, item in request.app.openapi()["paths"].items() for method, op in item.items()]
        return render(request, "docs.html", "API", {"routes": routes})

    @pages.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        if not settings.token:
            return RedirectResponse("/", status_code=303)
        return render(request, "login.html", "Log in", {"next": safe_next(next)})

    @pages.post("/login")
    def login(request: Request, token: str = Form(max_length=1000), next: str = Form(default="/")) -> Response:
        if not settings.token:
            return RedirectResponse("/", status_code=303)
        if not hmac.compare_digest(token.encode(), settings.token.encode()):
            return render(request, "login.html", "Log in", {"next": safe_next(next), "error": "That token is not "
                          "this Studio's token."}, status=401)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(COOKIE, session_value(settings.token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @pages.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login" if settings.token else "/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    return pages


def safe_next(target: str) -> str:
    """Only a path on this server (no scheme, no host, no `//`): the login page never redirects elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
