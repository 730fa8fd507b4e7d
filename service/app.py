"""The FastAPI app. Routes are thin: read the raw body (size-limited), authenticate,
call a service function, render. Everything is injected through :func:`create_app`
(workspaces, clock, Slack client factory), so tests run the real app against a local
fake Slack and a copied workspace.

Routes
    POST /slack/interactions            review card buttons and modals (signed by Slack)
    POST /webhooks/events/{provider}    engagement events (per-provider secret or HMAC)
    POST /webhooks/signals              buying signals (secret of provider "signals")
    POST /webhooks/inbound              one inbound lead, form or JSON; 202 once stored
    GET  /healthz                       liveness and per-workspace state
    GET  /metrics                       Prometheus text format
    /web/...                            the web view, signed-in users only (service/web)

With more than one workspace, the webhook routes take ``?workspace=<id>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from agents.audit import anchor_job
from agents.scheduler import JobFn, ServiceScheduler, leader_for, schedule_anchors
from core.errors import InputError
from core.timeutil import Clock, SystemClock
from core.workspace import Workspace
from service.clay_routes import clay_router
from service.inbound import InboundWorker, receive_lead
from service.interactions import Interactions
from service.metrics import CONTENT_TYPE_LATEST, Metrics
from service.reviews import pending_count, post_pending, remind_and_expire
from service.runs import daily_job, wakeup_job
from service.sites import Site, SlackClientFactory, default_slack_client, make_sites
from service.web import mount_web
from service.web.digest import post_digest
from service.webhooks import authentic, ingest_webhook
from state.models import InboundLead
from tools import jsonlimits
from tools.lists import ingest_signal_rows, signal_records

log = structlog.get_logger(__name__)
SLACK_BODY_LIMIT = 262_144


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) above ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _parse_json(raw: bytes) -> Any:
    """The body as JSON, refused (InputError) when not UTF-8 or nested too deeply (NUL
    characters are refused per event or per field further on)."""
    return jsonlimits.loads(raw or b"null", field="body")


def create_app(
    workspaces: Sequence[Workspace],
    *,
    clock: Clock | None = None,
    slack_client_factory: SlackClientFactory = default_slack_client,
    run_scheduler: bool = True,
    run_worker: bool = True,
    scheduler_tick_seconds: float = 20.0,
    web_secret: str = "",
) -> FastAPI:
    """The service for these workspaces. ``run_scheduler``/``run_worker`` start the
    scheduler and the inbound worker with the app (tests may run them by hand)."""
    clock = clock or SystemClock()
    sites = make_sites(list(workspaces), slack_client_factory)
    metrics = Metrics()
    interactions = Interactions(sites, clock=clock, metrics=metrics)
    worker = InboundWorker(sites, clock=clock, metrics=metrics)
    scheduler = build_scheduler(sites, clock=clock, metrics=metrics, tick_seconds=scheduler_tick_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_worker:
            worker.start()
        if run_scheduler:
            scheduler.start()
        log.info("service_started", workspaces=sorted(sites))
        try:
            yield
        finally:  # uvicorn has stopped accepting and finished in-flight requests
            scheduler.shutdown(wait=True)
            worker.stop()
            log.info("service_stopped")

    app = FastAPI(title="outbound-agent", lifespan=lifespan)
    app.state.sites, app.state.metrics, app.state.clock = sites, metrics, clock
    app.state.worker, app.state.scheduler = worker, scheduler

    def site_for(request: Request) -> Site | JSONResponse:
        wanted = request.query_params.get("workspace", "")
        if not wanted and len(sites) == 1:
            return next(iter(sites.values()))
        if wanted in sites:
            return sites[wanted]
        return _error(
            404,
            f"unknown workspace {wanted!r}"
            if wanted
            else "several workspaces are served: add ?workspace=<id>",
            workspaces=sorted(sites),
        )

    @app.post("/slack/interactions")
    async def slack_interactions(request: Request, tasks: BackgroundTasks) -> Response:
        try:
            raw = await read_body(request, SLACK_BODY_LIMIT)
        except BodyTooLarge:
            return _error(413, f"body larger than {SLACK_BODY_LIMIT} bytes")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:  # database look-ups and Slack Web API calls: off the event loop
            reply = await run_in_threadpool(interactions.handle, raw, headers)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("slack_interaction_unavailable", error=type(exc).__name__)
            return _error(503, "the review store is unavailable; Slack will retry")
        if reply.background is not None:
            tasks.add_task(reply.background)
        if reply.body is None:
            return Response(status_code=reply.status)
        return JSONResponse(reply.body, status_code=reply.status)

    @app.post("/webhooks/events/{provider}")
    async def events_webhook(provider: str, request: Request) -> Response:
        site = site_for(request)
        if isinstance(site, JSONResponse):
            return site
        try:
            raw = await read_body(request, site.ws.config.webhooks.max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"body larger than {site.ws.config.webhooks.max_body_bytes} bytes")
        name = provider.strip().lower()
        if not authentic(site, name, raw, {k.lower(): v for k, v in request.headers.items()}):
            log.warning("webhook_unauthenticated", workspace=site.id, provider=name)
            return _error(401, f"missing or wrong secret for provider {name!r}")
        try:
            payload = _parse_json(raw)
        except InputError as exc:
            return _error(400, exc.message, field=exc.field)
        try:  # database work: off the event loop
            counts = await run_in_threadpool(ingest_webhook, site, name, payload, now=clock.now())
        except InputError as exc:
            return _error(422, exc.message, field=exc.field)
        except SQLAlchemyError as exc:
            log.warning("webhook_store_unavailable", workspace=site.id, error=type(exc).__name__)
            return _error(503, "the event store is unavailable; retry later")
        if counts.get("rejected") and not (counts.get("stored") or counts.get("duplicates")):
            return _error(422, "no event in the body could be used", workspace=site.id, **counts)
        return JSONResponse({"workspace": site.id, "provider": name, **counts})

    @app.post("/webhooks/signals")
    async def signals_webhook(request: Request) -> Response:
        """Buying signals (one object, a list, or {"signals": [...]}); secret as provider "signals"."""
        site = site_for(request)
        if isinstance(site, JSONResponse):
            return site
        try:
            raw = await read_body(request, site.ws.config.webhooks.max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"body larger than {site.ws.config.webhooks.max_body_bytes} bytes")
        if not authentic(site, "signals", raw, {k.lower(): v for k, v in request.headers.items()}):
            return _error(401, "missing or wrong secret for provider 'signals'")
        try:
            body = jsonlimits.parse(raw or b"null")
        except jsonlimits.BadJSON as exc:
            return _error(400, f"the body is not valid JSON: {exc}")
        try:
            records = signal_records(body)
            result = await run_in_threadpool(
                ingest_signal_rows, site.engine, site.id, records, now=clock.now()
            )
        except InputError as exc:
            return _error(422, exc.message)
        return JSONResponse(
            {"workspace": site.id, **result},
            status_code=422 if result["rejected"] and not result["imported"] else 200,
        )

    @app.post("/webhooks/inbound")
    async def inbound_lead(request: Request) -> Response:
        site = site_for(request)
        if isinstance(site, JSONResponse):
            return site
        try:
            raw = await read_body(request, site.ws.config.webhooks.max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"body larger than {site.ws.config.webhooks.max_body_bytes} bytes")
        if not authentic(site, "inbound", raw, {k.lower(): v for k, v in request.headers.items()}):
            log.warning("webhook_unauthenticated", workspace=site.id, provider="inbound")
            return _error(401, "missing or wrong secret for inbound leads")
        try:
            payload = _parse_lead_body(raw, request.headers.get("content-type", ""))
        except InputError as exc:
            return _error(400, exc.message, field=exc.field)
        try:  # validation and the database insert: off the event loop
            lead_id, duplicate = await run_in_threadpool(receive_lead, site, payload, clock=clock)
        except InputError as exc:
            return _error(422, exc.message, field=exc.field)
        except SQLAlchemyError as exc:
            log.warning("inbound_store_unavailable", workspace=site.id, error=type(exc).__name__)
            return _error(503, "the lead store is unavailable; retry later")
        if not duplicate:
            worker.submit(site.id, lead_id)
        return JSONResponse(
            {"workspace": site.id, "lead_id": lead_id, "duplicate": duplicate, "status": "received"},
            status_code=202,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        out = {}
        for site in sites.values():
            with Session(site.engine) as session:
                backlog = len(
                    session.exec(
                        select(InboundLead.id).where(
                            InboundLead.workspace == site.id,
                            col(InboundLead.status).in_(("received", "processing")),
                        )
                    ).all()
                )
            out[site.id] = {
                "slack": site.slack is not None,
                "inbound_backlog": backlog,
                "next_daily_run": _iso(scheduler.next_daily(site.id)),
            }
        return {"status": "ok", "workspaces": out}

    @app.get("/metrics")
    def metrics_route() -> Response:
        def refresh() -> None:
            for site in sites.values():
                metrics.approvals_pending.labels(site.id).set(pending_count(site))

        return Response(metrics.render(refresh), media_type=CONTENT_TYPE_LATEST)

    app.state.web_auth = mount_web(app, sites, clock=clock, metrics=metrics, secret=web_secret)
    app.include_router(clay_router(sites))  # GET/POST /clay/lookup (docs/crm.md)
    return app


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_lead_body(raw: bytes, content_type: str) -> Any:
    if "application/x-www-form-urlencoded" in content_type:
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise InputError("not a urlencoded form body", field="body") from None
        if any("\x00" in k or "\x00" in v[-1] for k, v in fields.items()):
            raise InputError("the body contains a NUL character", field="body")
        return {k: v[-1] for k, v in fields.items()}
    try:
        return _parse_json(raw)
    except InputError as exc:
        raise InputError(
            f"the body is neither JSON nor a urlencoded form ({exc.message.split(': ', 1)[-1]})", field="body"
        ) from None


def build_scheduler(
    sites: dict[str, Site], *, clock: Clock, metrics: Metrics, tick_seconds: float = 20.0
) -> ServiceScheduler:
    """Daily runs, Slack posting/reminders/expiry every minute, and wake-ups."""
    scheduler = ServiceScheduler(
        [s.ws for s in sites.values()],
        clock=clock,
        daily=lambda ws, now: daily_job(sites[ws.id], scheduler, metrics, now),
        leader=leader_for([s.ws for s in sites.values()]),
        tick_seconds=tick_seconds,
    )
    for site in sites.values():
        if site.slack is not None:
            scheduler.every(
                f"slack:{site.id}",
                timedelta(minutes=1),
                _slack_job(site, metrics),
            )
        minutes = site.ws.config.service.wakeup_every_minutes
        if minutes:
            scheduler.every(
                f"wakeup:{site.id}",
                timedelta(minutes=minutes),
                _wakeup_job(site, scheduler, metrics),
                workspace=site.id,
            )
    schedule_anchors(
        scheduler,
        {s.id: _anchor_job(s) for s in sites.values() if s.ws.config.audit.anchor_daily},
    )
    return scheduler


def _slack_job(site: Site, metrics: Metrics) -> JobFn:
    def job(now: datetime) -> tuple[int, dict[str, int], bool]:
        return (
            post_pending(site, metrics, now=now),
            remind_and_expire(site, metrics, now=now),
            post_digest(site, metrics, now=now),
        )

    return job


def _wakeup_job(site: Site, scheduler: ServiceScheduler, metrics: Metrics) -> JobFn:
    def job(now: datetime) -> dict[str, Any] | None:
        return wakeup_job(site, scheduler, metrics, now)

    return job


def _anchor_job(site: Site) -> JobFn:
    def job(now: datetime) -> dict[str, Any] | None:
        return anchor_job(site.ws, site.engine, now, site.slack)

    return job
