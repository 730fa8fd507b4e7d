"""`GET/POST /clay/lookup`: what a Clay HTTP API column calls to fetch the agent's research,
score and status for a row, by `email`, `linkedin_url` or `domain` (query or JSON body).

Authenticated with a bearer secret from the env var named in `[clay] lookup_secret_env`
(compared in constant time); no secret configured means the route answers 404 for that
workspace. `?workspace=<id>` picks the workspace when several are served.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.sites import Site
from tools.clay import lookup

MAX_BODY = 16_384


def clay_router(sites: dict[str, Site]) -> APIRouter:
    router = APIRouter()

    @router.api_route("/clay/lookup", methods=["GET", "POST"])
    async def clay_lookup(request: Request) -> JSONResponse:
        wanted = request.query_params.get("workspace", "")
        site = sites.get(wanted) if wanted else (next(iter(sites.values())) if len(sites) == 1 else None)
        if site is None:
            return JSONResponse({"error": "unknown workspace; add ?workspace=<id>"}, status_code=404)
        secret = os.environ.get(site.ws.config.clay.lookup_secret_env, "")
        if not secret:
            return JSONResponse(
                {"error": "the Clay lookup is not enabled for this workspace"}, status_code=404
            )
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        args: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
            if not isinstance(body, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            args.update({k: v for k, v in body.items() if isinstance(v, str)})
        keys = {k: str(args.get(k) or "")[:500] for k in ("email", "linkedin_url", "domain")}
        if not any(keys.values()):
            return JSONResponse({"error": "give email, linkedin_url or domain"}, status_code=400)

        def find() -> dict[str, Any] | None:
            with Session(site.engine) as session:
                return lookup(session, site.ws, **keys)

        found = await run_in_threadpool(find)
        if found is None:
            return JSONResponse({"found": False, **keys}, status_code=404)
        return JSONResponse({"found": True, **found})

    return router
