"""The web view of the service: sign-in, dashboard, prospects, runs, the review queue,
replay and what-if, and the client report (see routes.py for the list of pages)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from core.timeutil import Clock
from service.metrics import Metrics
from service.sites import Site
from service.web.auth import Auth


def mount_web(
    app: FastAPI, sites: dict[str, Site], *, clock: Clock, metrics: Metrics, secret: str = ""
) -> Auth:
    """Add the /web pages to the app (and / redirecting to them)."""
    from service.web.routes import build_router

    auth = Auth({k: s.ws for k, s in sites.items()}, secret=secret)
    app.include_router(build_router(sites, clock=clock, metrics=metrics, auth=auth))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)

    return auth
