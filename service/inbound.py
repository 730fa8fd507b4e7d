"""Inbound leads (a web form or a Clay webhook): stored before they are acknowledged,
then imported, run through the prospect's graph and, for tier-1 leads, announced to the
owner in Slack - the speed-to-lead path.

Durability: the route commits an ``inbound_leads`` row and only then answers 202. The
worker marks a lead ``processing`` and then ``processed``; a lead still ``received`` or
``processing`` when the service stops (even by SIGKILL) is picked up again at start-up.
Processing twice is safe: the import is idempotent and every side effect of the graph is
keyed (drafts by step, sends by idempotency key).

With ``[scale] queue = "procrastinate"`` a stored lead becomes a job on the PostgreSQL job
queue instead (one per lead, never two waiting for the same lead), taken by any
`run.py worker`; open leads are queued again at start-up.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agents.checkpoint import open_checkpointer
from agents.context import build_context
from agents.graph import build_graph
from agents.runner import new_run_id, process_prospect
from core.canonical import canonical_json
from core.errors import InputError, ProviderError
from core.timeutil import Clock, to_utc
from service.metrics import Metrics
from service.reviews import owner_slack_id, post_pending
from service.sites import Site
from state.db import session_scope
from state.models import Company, InboundLead, Prospect
from tools.importer import clean_row, header_map, import_records
from tools.slack_review import SlackReviewNotifier

log = structlog.get_logger(__name__)
OPEN = ("received", "processing")


def lead_record(payload: Any) -> dict[str, str]:
    """The one lead in a form post or a Clay webhook body (``{"data": {...}}`` or the
    fields themselves), with values as strings. Raises InputError when there is none."""
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), Mapping):
        payload = payload["data"]
    if not isinstance(payload, Mapping) or not payload:
        raise InputError("expected one lead as a JSON object or form fields", field="body")
    record = {
        str(k): "" if v is None else str(v) for k, v in payload.items() if not isinstance(v, (dict, list))
    }
    mapping = header_map(list(record))
    clean_row(1, {mapping[k]: v for k, v in record.items()})  # a clear 422 before storing
    return record


def receive_lead(site: Site, payload: Any, *, clock: Clock) -> tuple[int, bool]:
    """Store one lead durably; returns (lead id, whether it was already stored)."""
    record = lead_record(payload)
    key = hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()[:32]
    try:
        with session_scope(site.engine) as session:
            lead = InboundLead(
                workspace=site.id, dedupe_key=key, payload=record, status="received", received_at=clock.now()
            )
            session.add(lead)
            session.flush()
            if lead.id is None:
                raise RuntimeError(f"inbound lead for workspace {site.id!r} got no id on insert")
            return lead.id, False
    except IntegrityError:
        with Session(site.engine) as session:
            lead = session.exec(
                select(InboundLead).where(InboundLead.workspace == site.id, InboundLead.dedupe_key == key)
            ).one()
            if lead.id is None:
                raise RuntimeError(f"stored inbound lead for workspace {site.id!r} has no id") from None
            return lead.id, True


def open_leads(site: Site) -> list[int]:
    with Session(site.engine) as session:
        ids = session.exec(
            select(col(InboundLead.id))
            .where(InboundLead.workspace == site.id, col(InboundLead.status).in_(OPEN))
            .order_by(col(InboundLead.id))
        ).all()
        return [i for i in ids if i is not None]  # a stored row always has its id


class InboundWorker:
    """One thread per workspace processing its leads in arrival order; a workspace on the
    job queue gets no thread: its leads are deferred as jobs for `run.py worker`."""

    def __init__(self, sites: Mapping[str, Site], *, clock: Clock, metrics: Metrics) -> None:
        self.sites = sites
        self.clock = clock
        self.metrics = metrics
        self._queues: dict[str, queue.Queue[int | None]] = {k: queue.Queue() for k in sites}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> None:
        """Start the threads; leads left open by an earlier process are queued first."""
        for site_id, site in self.sites.items():
            if _queued(site):
                for lead_id in open_leads(site):
                    self.submit(site_id, lead_id)
                continue
            for lead_id in open_leads(site):
                self._queues[site_id].put(lead_id)
            t = threading.Thread(target=self._loop, args=(site,), daemon=True, name=f"inbound-{site_id}")
            t.start()
            self._threads.append(t)

    def submit(self, site_id: str, lead_id: int) -> None:
        site = self.sites[site_id]
        if _queued(site):
            from agents.jobs import defer_inbound

            try:
                defer_inbound(site.ws, lead_id)
            except Exception:  # the lead is stored: the next start-up queues it again
                log.exception("inbound_lead_not_queued", workspace=site_id, lead_id=lead_id)
            return
        self._queues[site_id].put(lead_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the lead in hand, leave the rest stored for the next start."""
        self._stop.set()
        for q in self._queues.values():
            q.put(None)
        for t in self._threads:
            t.join(timeout=timeout)

    def _loop(self, site: Site) -> None:
        q = self._queues[site.id]
        with ExitStack() as stack:
            saver = stack.enter_context(open_checkpointer(site.ws))
            graph, ctx = build_graph(saver), build_context(site.ws, site.engine)
            while not self._stop.is_set():
                lead_id = q.get()
                if lead_id is None or self._stop.is_set():
                    break
                try:
                    process_lead(site, lead_id, graph=graph, ctx=ctx, clock=self.clock, metrics=self.metrics)
                except Exception:  # keep the worker alive; the lead stays open for a retry
                    log.exception("inbound_lead_failed", workspace=site.id, lead_id=lead_id)


def _queued(site: Site) -> bool:
    from agents.jobs import uses_queue

    return uses_queue(site.ws)


def process_queued_lead(ws: Any, lead_id: int) -> str:
    """A lead job taken by `run.py worker`: the same path as the service's own thread."""
    from core.timeutil import SystemClock
    from service.sites import default_slack_client, make_sites

    site = make_sites([ws], default_slack_client)[ws.id]
    clock = SystemClock()
    with open_checkpointer(ws) as saver:
        graph, ctx = build_graph(saver), build_context(ws, site.engine)
        return process_lead(site, lead_id, graph=graph, ctx=ctx, clock=clock, metrics=Metrics())


def process_lead(site: Site, lead_id: int, *, graph: Any, ctx: Any, clock: Clock, metrics: Metrics) -> str:
    """Import one stored lead, run its graph, notify the owner of a tier-1 lead.
    Returns the lead's final status."""
    with session_scope(site.engine) as session:
        lead = session.get(InboundLead, lead_id)
        if lead is None or lead.workspace != site.id or lead.status not in OPEN:
            return lead.status if lead else "missing"
        lead.status = "processing"
        session.add(lead)
        payload, received_at = dict(lead.payload), to_utc(lead.received_at)
    now = clock.now()
    result = import_records(site.engine, site.id, [payload], now=now)
    if result.rejected or not result.prospect_ids:
        reason = result.rejects[0]["reason"] if result.rejects else "not imported"
        _finish(site, lead_id, "failed", "", reason, clock)
        return "failed"
    pid = result.prospect_ids[0]
    metrics.runs.labels(site.id, "inbound").inc()
    outcome = process_prospect(graph, ctx, pid, run_id=new_run_id(now), now=now)
    metrics.count_outcome(site.id, outcome)
    _notify_owner(site, pid, outcome, clock, metrics)
    done_at = _finish(site, lead_id, "processed", pid, "", clock)
    metrics.queue_latency.labels(site.id).observe(max(0.0, (done_at - received_at).total_seconds()))
    log.info(
        "inbound_lead_processed",
        workspace=site.id,
        lead_id=lead_id,
        prospect_id=pid,
        outcome=outcome.get("kind"),
    )
    return "processed"


def _finish(site: Site, lead_id: int, status: str, pid: str, error: str, clock: Clock) -> Any:
    done_at = clock.now()
    with session_scope(site.engine) as session:
        lead = session.get(InboundLead, lead_id)
        if lead is None:
            raise LookupError(
                f"inbound lead {lead_id} of workspace {site.id!r} disappeared before it was finished"
            )
        lead.status, lead.prospect_id, lead.error, lead.processed_at = status, pid, error, done_at
        session.add(lead)
    return done_at


def _notify_owner(site: Site, pid: str, outcome: Mapping[str, Any], clock: Clock, metrics: Metrics) -> None:
    if site.slack is None:
        return
    with Session(site.engine) as session:
        p = session.get(Prospect, pid)
        company = session.get(Company, p.company_id) if p and p.company_id else None
    if p is None or p.tier != 1:
        return
    if outcome.get("kind") == "review":
        post_pending(site, metrics, now=clock.now())  # the draft is waiting: show it now
    owner = owner_slack_id(site.ws, p.owner)
    if not (owner and site.ws.config.slack.notify_tier1_inbound):
        return
    sent = ", ".join(s.get("channel", "") for s in outcome.get("sent") or []) or "nothing sent yet"
    text = (
        f"New tier-1 inbound lead: {p.full_name or p.email} - {p.title or 'no title'} at "
        f"{company.name if company else 'an unknown company'} ({p.email or 'no email'}). "
        f"Next: {outcome.get('kind', 'wait')}; {sent}."
    )
    try:
        SlackReviewNotifier(site.slack, channel=site.ws.config.slack.channel).dm_owner(owner, text)
    except ProviderError as exc:
        metrics.provider_errors.labels(site.id, "slack", exc.error_class).inc()
        log.warning("owner_dm_failed", workspace=site.id, prospect_id=pid, error=exc.message)
