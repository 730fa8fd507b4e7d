"""`crm sync`: write touched prospects, their companies, their touches and hand-offs to the CRM.

Identity: a company is found by its registrable domain and a contact by its email; the CRM
is searched before anything is created, so a record a search would find is linked, never
duplicated; two or more matches are ambiguous and become one operator Task (no guess).
Every write is keyed: the CRM id is stored per our id (`crm_links`) right after the CRM
accepts it, and touches and tasks carry our idempotency key in a CRM property that is
searched before creating, so a retry or a crash between the CRM's answer and our commit
never creates a second record. A contact whose written properties are unchanged (digest)
is not written again, so a second sync writes nothing new.

The source-of-truth map (`[crm] source_of_truth`) is applied on every sync: for a field the
CRM owns, a CRM value wins and is copied into our prospect (a conflict is reported); for a
field we own, our value is written.

A classified CRM error opens one operator Task per cause and field; a deleted property is
dropped from the batch (the rest still syncs) and skipped while its task is open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.timeutil import iso
from core.workspace import CrmConfig, Workspace
from state.models import Company, OutboxMessage, Prospect, Task
from state.models_crm import CrmLink
from tools.crm.base import Crm, CrmConflict, CrmError, CrmUnavailable, Kind, NewObject, Record
from tools.normalize import normalize_domain

CALL_KINDS = ("call", "phone")
FIELD_PROPS = {"title": "jobtitle", "phone": "phone", "lifecycle_stage": "lifecyclestage"}


@dataclass
class SyncItem:
    """One planned or done change: kind, action, our id, and what it is about."""

    kind: str  # company | contact | touch | task | deal
    action: str  # create | update | link | conflict | ambiguous | error
    our_id: str
    detail: str = ""
    field: str = ""


@dataclass
class SyncReport:
    dry_run: bool
    items: list[SyncItem] = field(default_factory=list)
    writes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "writes": self.writes,
            "creates": self.count("create"),
            "updates": self.count("update"),
            "conflicts": self.count("conflict"),
            "ambiguous": self.count("ambiguous"),
            "items": [asdict(i) for i in self.items],
            "errors": self.errors,
        }


def digest(props: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:32]


class _Sync:
    def __init__(self, session: Session, ws: Workspace, crm: Crm, now: datetime, dry_run: bool):
        self.s, self.ws, self.crm, self.now, self.dry = session, ws, crm, now, dry_run
        self.cfg: CrmConfig = ws.config.crm
        self.report = SyncReport(dry_run=dry_run)
        self.links = {
            (link.kind, link.our_id): link
            for link in session.exec(
                select(CrmLink).where(CrmLink.workspace == ws.id, CrmLink.provider == crm.name)
            ).all()
        }

    # -- bookkeeping

    def link(self, kind: str, our_id: str, crm_id: str, dig: str = "") -> None:
        row = self.links.get((kind, our_id))
        if row is None:
            row = CrmLink(
                workspace=self.ws.id,
                provider=self.crm.name,
                kind=kind,
                our_id=our_id,
                crm_id=crm_id,
                synced_at=self.now,
            )
            self.links[(kind, our_id)] = row
        row.crm_id, row.digest, row.synced_at = crm_id, dig or row.digest, self.now
        self.s.add(row)
        self.s.commit()

    def crm_id(self, kind: str, our_id: str) -> str:
        row = self.links.get((kind, our_id))
        return row.crm_id if row else ""

    def task(self, key: str, title: str, body: str, prospect_id: str = "") -> None:
        if self.dry:
            return
        dedupe = f"crm:{key}"
        if self.s.exec(select(Task).where(Task.workspace == self.ws.id, Task.dedupe_key == dedupe)).first():
            return
        self.s.add(
            Task(
                workspace=self.ws.id,
                dedupe_key=dedupe,
                prospect_id=prospect_id,
                kind="crm",
                title=title,
                body=body,
                created_at=self.now,
            )
        )
        self.s.commit()

    def skipped_fields(self, kind: str) -> set[str]:
        prefix = f"crm:error:property_missing:{kind}:"
        rows = self.s.exec(select(Task).where(Task.workspace == self.ws.id, Task.status == "open")).all()
        return {t.dedupe_key[len(prefix) :] for t in rows if t.dedupe_key.startswith(prefix)}

    def error(self, kind: str, err: CrmError) -> None:
        what = err.field or kind
        self.report.errors.append({"kind": kind, "cause": err.cause, "field": err.field, "message": str(err)})
        self.report.items.append(SyncItem(kind.rstrip("s"), "error", "", str(err), err.field))
        self.task(
            f"error:{err.cause}:{kind}:{what}",
            f"CRM {err.cause.replace('_', ' ')}: {what}",
            f"{self.crm.name} refused a {kind} write: {err}. Fix it in the CRM (or in [crm] of "
            "workspace.toml), then close this task; the next sync retries.",
        )

    def create(self, kind: Kind, objects: Sequence[NewObject]) -> list[str]:
        """A batch create; a missing property is dropped (reported once) and the batch retried."""
        objs = list(objects)
        for _ in range(4):
            try:
                ids = self.crm.create(kind, objs)
                self.report.writes += 1
                return list(ids)
            except CrmError as err:
                if err.cause != "property_missing" or not err.field or isinstance(err, CrmUnavailable):
                    raise
                self.error(kind, err)
                objs = [
                    NewObject(
                        {k: v for k, v in o.properties.items() if k != err.field}, o.contact_id, o.company_id
                    )
                    for o in objs
                ]
        raise CrmError("validation", f"{kind}: too many missing properties")

    def update(self, kind: Kind, changes: list[tuple[str, dict[str, str]]]) -> None:
        for _ in range(4):
            try:
                self.crm.update(kind, changes)
                self.report.writes += 1
                return
            except CrmError as err:
                if err.cause != "property_missing" or not err.field:
                    raise
                self.error(kind, err)
                changes = [(i, {k: v for k, v in p.items() if k != err.field}) for i, p in changes]

    # -- the steps

    def companies(self, companies: list[Company]) -> None:
        todo = {
            normalize_domain(c.domain): c for c in companies if c.domain and not self.crm_id("company", c.id)
        }
        todo = {d: c for d, c in todo.items() if d}
        if not todo:
            return
        found = self.crm.search("companies", "domain", list(todo), ["name", "domain"])
        create: list[tuple[str, Company]] = []
        for dom, c in todo.items():
            hits = found.get(dom, [])
            if len(hits) > 1:
                self.ambiguous("company", c.id, dom, hits)
            elif hits:
                self.report.items.append(SyncItem("company", "link", c.id, f"{dom} -> {hits[0].id}"))
                if not self.dry:
                    self.link("company", c.id, hits[0].id)
            else:
                self.report.items.append(SyncItem("company", "create", c.id, f"{c.name} ({dom})"))
                create.append((dom, c))
        for i in range(0, len(create), self.cfg.batch_size):
            chunk = create[i : i + self.cfg.batch_size]
            if self.dry or not chunk:
                continue
            ids = self.create("companies", [NewObject({"name": c.name, "domain": d}) for d, c in chunk])
            for (_, c), cid in zip(chunk, ids, strict=True):
                self.link("company", c.id, cid)

    def ambiguous(self, kind: str, our_id: str, value: str, hits: list[Record]) -> None:
        ids = ", ".join(h.id for h in hits)
        self.report.items.append(
            SyncItem(kind, "ambiguous", our_id, f"{value} matches {len(hits)} records: {ids}")
        )
        self.task(
            f"ambiguous:{kind}:{our_id}",
            f"CRM: {value} matches {len(hits)} {kind} records",
            f"{self.crm.name} records {ids} all match {value}. Merge them or pick one; "
            f"until then the sync leaves this {kind} alone.",
            prospect_id=our_id if kind == "contact" else "",
        )

    def desired(self, p: Prospect, crm_props: dict[str, str], skip: set[str]) -> dict[str, str]:
        sot = self.cfg.source_of_truth
        props = {"firstname": p.first_name, "lastname": p.last_name}
        if p.email_norm:
            props["email"] = p.email_norm
        if p.linkedin_norm:
            props[self.cfg.linkedin_property] = p.linkedin_norm
        ours = {"title": p.title, "phone": p.phone}
        for name, value in ours.items():
            prop = FIELD_PROPS[name]
            theirs = str(crm_props.get(prop) or "")
            if sot.get(name, "ours") == "crm" and theirs and theirs != value.strip():
                self.report.items.append(
                    SyncItem(
                        "contact", "conflict", p.id, f"{name}: CRM {theirs!r} wins over ours {value!r}", name
                    )
                )
                if not self.dry:
                    setattr(p, name, theirs)
                    self.s.add(p)
                continue
            if value:
                props[prop] = value
        score = (p.attributes or {}).get("score")
        props[self.cfg.status_property] = p.status
        props[self.cfg.stop_reason_property] = p.stop_reason
        if score not in (None, ""):
            props[self.cfg.score_property] = str(score)
        return {k: v for k, v in props.items() if k not in skip}

    def contacts(self, prospects: list[Prospect]) -> None:
        skip = self.skipped_fields("contacts")
        li = self.cfg.linkedin_property
        props = ["email", "jobtitle", "phone", "lifecyclestage", li]
        by_email = [p for p in prospects if p.email_norm]
        by_linkedin = [p for p in prospects if not p.email_norm and p.linkedin_norm]
        found = (
            self.crm.search("contacts", "email", [p.email_norm for p in by_email], props) if by_email else {}
        )
        if by_linkedin:
            found.update(self.crm.search("contacts", li, [p.linkedin_norm for p in by_linkedin], props))
        create: list[tuple[Prospect, dict[str, str]]] = []
        updates: list[tuple[str, dict[str, str], Prospect]] = []
        for p in by_email + by_linkedin:
            ident = p.email_norm or p.linkedin_norm
            hits = found.get(ident, [])
            linked = self.crm_id("contact", p.id)
            if len(hits) > 1 and not linked:
                self.ambiguous("contact", p.id, ident, hits)
                continue
            crm_props = dict(hits[0].properties) if hits else {}
            want = self.desired(p, crm_props, skip)
            cid = linked or (hits[0].id if hits else "")
            if not cid:
                self.report.items.append(SyncItem("contact", "create", p.id, ident))
                create.append((p, want))
                continue
            row = self.links.get(("contact", p.id))
            if row is not None and row.digest == digest(want):
                continue
            self.report.items.append(SyncItem("contact", "update" if row else "link", p.id, ident))
            updates.append((cid, want, p))
        if self.dry:
            return
        if self.cfg.source_of_truth.get("lifecycle_stage") == "ours":
            for _, want in create:
                want.setdefault("lifecyclestage", "lead")
        for i in range(0, len(create), self.cfg.batch_size):
            chunk = create[i : i + self.cfg.batch_size]
            try:
                ids = self.create("contacts", [NewObject(w) for _, w in chunk])
            except CrmConflict:  # created meanwhile (another writer): one by one, linking the existing
                self.contacts_one_by_one(chunk)
                continue
            for (p, w), cid in zip(chunk, ids, strict=True):
                self.link("contact", p.id, cid, digest(w))
        for i in range(0, len(updates), self.cfg.batch_size):
            batch = updates[i : i + self.cfg.batch_size]
            self.update("contacts", [(cid, w) for cid, w, _ in batch])
            for cid, w, p in batch:
                self.link("contact", p.id, cid, digest(w))

    def contacts_one_by_one(self, chunk: list[tuple[Prospect, dict[str, str]]]) -> None:
        """Create contacts singly after a 409: a conflict links the record the CRM names."""
        for p, w in chunk:
            try:
                (cid,) = self.create("contacts", [NewObject(w)])
            except CrmConflict as err:
                cid = err.existing_id
                if not cid:
                    raise
                self.report.items.append(SyncItem("contact", "link", p.id, f"exists in the CRM as {cid}"))
                self.update("contacts", [(cid, w)])
            self.link("contact", p.id, cid, digest(w))

    def associations(self, prospects: list[Prospect]) -> None:
        for p in prospects:
            contact, company = self.crm_id("contact", p.id), self.crm_id("company", p.company_id or "")
            key = f"{p.id}:{p.company_id}"
            if not contact or not company or self.crm_id("association", key):
                continue
            self.report.items.append(
                SyncItem("association", "create", p.id, f"contact {contact} -> company {company}")
            )
            if not self.dry:
                self.crm.associate(contact, company)
                self.report.writes += 1
                self.link("association", key, f"{contact}:{company}")

    def keyed(self, link_kind: str, crm_kind: Kind, rows: list[tuple[str, NewObject, str]]) -> None:
        """Create keyed objects (touches, tasks, deals) not yet linked, after searching by key."""
        todo = [(key, obj, pid) for key, obj, pid in rows if not self.crm_id(link_kind, key)]
        if not todo:
            return
        kp = self.cfg.key_property
        found = self.crm.search(crm_kind, kp, [k for k, _, _ in todo])
        create = []
        for key, obj, pid in todo:
            if found.get(key):
                self.report.items.append(SyncItem(link_kind, "link", pid, key))
                if not self.dry:
                    self.link(link_kind, key, found[key][0].id)
                continue
            self.report.items.append(SyncItem(link_kind, "create", pid, key))
            create.append((key, obj))
        if self.dry:
            return
        for i in range(0, len(create), self.cfg.batch_size):
            chunk = create[i : i + self.cfg.batch_size]
            ids = self.create(crm_kind, [o for _, o in chunk])
            for (key, _), oid in zip(chunk, ids, strict=True):
                self.link(link_kind, key, oid)

    def touches(self, prospects: list[Prospect], sent: dict[str, list[OutboxMessage]]) -> None:
        notes, calls = [], []
        kp = self.cfg.key_property
        for p in prospects:
            contact = self.crm_id("contact", p.id)
            if not contact and not self.dry:
                continue
            for o in sent.get(p.id, []):
                at = iso(o.sent_at) or iso(o.created_at) or ""
                subject = str(o.payload.get("subject") or "")
                label = {"email": "Email", "linkedin": "LinkedIn", "direct_mail": "Direct mail"}.get(
                    o.channel, o.channel
                )
                if o.kind in CALL_KINDS or o.channel == "phone":
                    props = {
                        kp: o.idempotency_key,
                        "hs_task_subject": f"Call {p.full_name or p.email_norm} ({o.step_id})",
                        "hs_task_type": "CALL",
                        "hs_task_status": "NOT_STARTED",
                        "hs_timestamp": at,
                    }
                    calls.append((o.idempotency_key, NewObject(props, contact_id=contact), p.id))
                else:
                    body = f"{label} touch ({o.kind}, step {o.step_id}) sent by the outbound agent" + (
                        f": {subject}" if subject else ""
                    )
                    props = {kp: o.idempotency_key, "hs_note_body": body, "hs_timestamp": at}
                    notes.append((o.idempotency_key, NewObject(props, contact_id=contact), p.id))
        self.keyed("touch", "notes", notes)
        self.keyed("touch", "tasks", calls)

    def handoffs(self, prospects: list[Prospect], tasks: dict[str, list[Task]]) -> None:
        kp = self.cfg.key_property
        rows, deals = [], []
        for p in prospects:
            contact, company = self.crm_id("contact", p.id), self.crm_id("company", p.company_id or "")
            if not contact and not self.dry:
                continue
            for t in tasks.get(p.id, []):
                props = {
                    kp: t.dedupe_key,
                    "hs_task_subject": t.title[:250],
                    "hs_task_body": t.body[:5000],
                    "hs_task_status": "NOT_STARTED",
                    "hs_task_priority": "HIGH",
                    "hs_timestamp": iso(t.created_at) or "",
                }
                rows.append((t.dedupe_key, NewObject(props, contact_id=contact), p.id))
                if self.cfg.create_deals:
                    name = f"{p.full_name or p.email_norm} - outbound hand-off"
                    deals.append(
                        (
                            t.dedupe_key,
                            NewObject(
                                {kp: t.dedupe_key, "dealname": name, "dealstage": "appointmentscheduled"},
                                contact_id=contact,
                                company_id=company,
                            ),
                            p.id,
                        )
                    )
        self.keyed("task", "tasks", rows)
        self.keyed("deal", "deals", deals)


def touched_prospects(
    session: Session, ws: Workspace
) -> tuple[list[Prospect], dict[str, list[OutboxMessage]], dict[str, list[Task]]]:
    """Prospects with a sent touch or a hand-off, with those touches and hand-off tasks."""
    sent: dict[str, list[OutboxMessage]] = {}
    for o in session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
        .order_by(col(OutboxMessage.id))
    ).all():
        sent.setdefault(o.prospect_id, []).append(o)
    handoffs: dict[str, list[Task]] = {}
    for t in session.exec(
        select(Task).where(Task.workspace == ws.id, Task.kind == "handoff").order_by(col(Task.id))
    ).all():
        handoffs.setdefault(t.prospect_id, []).append(t)
    ids = sorted(set(sent) | set(handoffs))
    prospects = (
        list(
            session.exec(select(Prospect).where(Prospect.workspace == ws.id, col(Prospect.id).in_(ids))).all()
        )
        if ids
        else []
    )
    prospects.sort(key=lambda p: p.id)
    return prospects, sent, handoffs


def sync_crm(
    session: Session, ws: Workspace, crm: Crm, *, now: datetime, dry_run: bool = False
) -> SyncReport:
    """Plan (dry run) or write the CRM sync; see the module docstring."""
    s = _Sync(session, ws, crm, now, dry_run)
    prospects, sent, handoffs = touched_prospects(session, ws)
    company_ids = sorted({p.company_id for p in prospects if p.company_id})
    companies = (
        list(
            session.exec(
                select(Company).where(Company.workspace == ws.id, col(Company.id).in_(company_ids))
            ).all()
        )
        if company_ids
        else []
    )
    steps: list[tuple[str, Callable[[], None]]] = [
        ("companies", lambda: s.companies(companies)),
        ("contacts", lambda: s.contacts(prospects)),
        ("companies", lambda: s.associations(prospects)),
        ("notes", lambda: s.touches(prospects, sent)),
        ("tasks", lambda: s.handoffs(prospects, handoffs)),
    ]
    for kind, step in steps:
        try:
            step()
        except CrmUnavailable as err:
            s.report.errors.append({"kind": kind, "cause": err.cause, "field": "", "message": str(err)})
            break
        except CrmError as err:
            s.error(kind, err)
    if not dry_run:
        session.commit()
    return s.report


def sync_workspace(
    ws: Workspace, *, now: datetime, dry_run: bool = False, crm: Crm | None = None
) -> SyncReport:
    """The `crm sync` service: the workspace's configured CRM (or `crm`), one session."""
    from core.errors import ConfigError
    from state.db import engine_for
    from tools.crm.factory import crm_for

    crm = crm or crm_for(ws)
    if crm is None:
        raise ConfigError(
            'no CRM configured ([crm] provider = "none")',
            file=str(ws.root / "workspace.toml"),
            key="crm.provider",
            next_step='Set [crm] provider = "hubspot" and the token env var, then run again.',
        )
    with Session(engine_for(ws.database_url)) as session:
        return sync_crm(session, ws, crm, now=now, dry_run=dry_run)
