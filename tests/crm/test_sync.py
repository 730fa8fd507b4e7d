"""`crm sync` against the fake HubSpot through the real client: identity, keyed writes,
crash safety, classified errors and the source-of-truth map."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from state.db import engine_for
from state.models import OutboxMessage, Prospect, Task
from tests.crm.conftest import LATER
from tools.crm.base import NewObject
from tools.crm.sync import sync_workspace


def _sent(ws) -> list[OutboxMessage]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return list(
            s.exec(
                select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
            ).all()
        )


def _tasks(ws, prefix: str) -> list[Task]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return [
            t
            for t in s.exec(select(Task).where(Task.workspace == ws.id)).all()
            if t.dedupe_key.startswith(prefix)
        ]


def _no_duplicates(fake) -> None:  # noqa: ANN001
    emails = Counter(
        p.get("email") or p["hs_linkedin_url"] for p in fake.objects.get("contacts", {}).values()
    )
    domains = Counter(p["domain"] for p in fake.objects.get("companies", {}).values())
    keys = Counter(
        p.get("outbound_key") for k in ("notes", "tasks") for p in fake.objects.get(k, {}).values()
    )
    assert max(emails.values()) == 1 and max(domains.values()) == 1 and max(keys.values()) == 1


@pytest.mark.slow
def test_sync_writes_each_touched_prospect_once_and_again_nothing(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """Dry run writes nothing; the sync creates one contact per touched prospect and one
    engagement per sent touch; a second sync makes no write call at all."""
    sent = _sent(day0_ws)
    touched = {o.prospect_id for o in sent}
    plan = sync_workspace(day0_ws, now=LATER, dry_run=True, crm=hubspot)
    assert plan.count("create") >= len(touched) and fake_hubspot.writes() == 0
    report = sync_workspace(day0_ws, now=LATER, crm=hubspot)
    assert report.errors == []
    assert len(fake_hubspot.objects["contacts"]) == len(touched)
    assert len(fake_hubspot.objects.get("notes", {})) + len(fake_hubspot.objects.get("tasks", {})) == len(
        sent
    )
    _no_duplicates(fake_hubspot)
    note_contacts = {a[3] for a in fake_hubspot.associations if a[0] == "notes" and a[2] == "contacts"}
    assert note_contacts and note_contacts <= set(fake_hubspot.objects["contacts"])
    writes = fake_hubspot.writes()
    again = sync_workspace(day0_ws, now=LATER + timedelta(hours=1), crm=hubspot)
    assert again.writes == 0 and fake_hubspot.writes() == writes


class _CrashAfter:
    """A Crm that lets the CRM accept `n` create calls and then dies before we record the next one."""

    def __init__(self, inner, n: int):  # noqa: ANN001
        self.inner, self.n, self.name = inner, n, inner.name

    def __getattr__(self, item: str):  # noqa: ANN204
        return getattr(self.inner, item)

    def create(self, kind, objects):  # noqa: ANN001, ANN201
        ids = self.inner.create(kind, objects)
        self.n -= 1
        if self.n < 0:
            raise RuntimeError("crash after the CRM accepted the write")
        return ids


@pytest.mark.slow
@pytest.mark.parametrize("crash_after", [0, 1, 2])
def test_crash_mid_sync_then_rerun_creates_no_duplicate(
    day0_ws, fake_hubspot, hubspot, crash_after: int
) -> None:  # noqa: ANN001
    """A crash right after the CRM accepted a batch (before our link row) and a re-run leave
    exactly one record per contact, company and touch."""
    with pytest.raises(RuntimeError):
        sync_workspace(day0_ws, now=LATER, crm=_CrashAfter(hubspot, crash_after))
    sync_workspace(day0_ws, now=LATER, crm=hubspot)
    _no_duplicates(fake_hubspot)
    assert len(fake_hubspot.objects["contacts"]) == len({o.prospect_id for o in _sent(day0_ws)})
    assert sync_workspace(day0_ws, now=LATER, crm=hubspot).writes == 0


@pytest.mark.slow
def test_deleted_property_is_reported_once_with_its_field(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """A deleted contact property fails the batch with its name: one operator task names it,
    the rest of each contact still syncs, and the next sync does not report it again."""
    fake_hubspot.deleted_properties["contacts"] = {"outbound_stop_reason"}
    first = sync_workspace(day0_ws, now=LATER, crm=hubspot)
    assert [(e["cause"], e["field"]) for e in first.errors] == [("property_missing", "outbound_stop_reason")]
    tasks = _tasks(day0_ws, "crm:error:property_missing")
    assert len(tasks) == 1 and "outbound_stop_reason" in tasks[0].title
    assert fake_hubspot.objects["contacts"] and all(
        "outbound_stop_reason" not in c for c in fake_hubspot.objects["contacts"].values()
    )
    second = sync_workspace(day0_ws, now=LATER + timedelta(hours=1), crm=hubspot)
    assert second.errors == [] and len(_tasks(day0_ws, "crm:error")) == 1


@pytest.mark.slow
def test_rate_limit_waits_for_retry_after_and_succeeds(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """Two 429 answers are waited out (Retry-After honoured) and the sync completes."""
    fake_hubspot.rate_limit_next(2)
    report = sync_workspace(day0_ws, now=LATER, crm=hubspot)
    assert report.errors == [] and list(hubspot.sleep) == [0.0, 0.0]
    assert fake_hubspot.objects["contacts"]


@pytest.mark.slow
def test_ambiguous_company_becomes_a_task_not_a_guess(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """Two CRM companies on one domain: no company is created or linked for it, one task names both."""
    domain = "acmerobotics.example"
    a = fake_hubspot.add("companies", {"name": "Acme Robotics", "domain": domain})
    b = fake_hubspot.add("companies", {"name": "Acme Robotics Inc", "domain": domain})
    report = sync_workspace(day0_ws, now=LATER, crm=hubspot)
    assert any(i.action == "ambiguous" and domain in i.detail for i in report.items)
    assert [c for c in fake_hubspot.objects["companies"].values() if c["domain"] == domain] == [
        {"name": "Acme Robotics", "domain": domain},
        {"name": "Acme Robotics Inc", "domain": domain},
    ]
    tasks = _tasks(day0_ws, "crm:ambiguous:company")
    assert len(tasks) == 1 and a in tasks[0].body and b in tasks[0].body


@pytest.mark.slow
def test_source_of_truth_crm_title_wins_and_phone_is_ours(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """An existing CRM contact is linked, not duplicated; its title (CRM-owned) is copied into
    our prospect and left alone in the CRM, while our phone (ours) is written."""
    o = _sent(day0_ws)[0]
    with Session(engine_for(day0_ws.database_url)) as s:
        p = s.get(Prospect, o.prospect_id)
        assert p is not None
        p.phone = "+1 555 0100"
        s.add(p)
        s.commit()
        email = p.email_norm
    cid = fake_hubspot.add(
        "contacts", {"email": email.upper(), "jobtitle": "Chief Robot Officer", "phone": "1"}
    )
    report = sync_workspace(day0_ws, now=LATER, crm=hubspot)
    assert any(i.action == "conflict" and i.field == "title" for i in report.items)
    contact = fake_hubspot.objects["contacts"][cid]
    assert contact["jobtitle"] == "Chief Robot Officer" and contact["phone"] == "+1 555 0100"
    assert (
        sum(1 for c in fake_hubspot.objects["contacts"].values() if c.get("email", "").lower() == email) == 1
    )
    with Session(engine_for(day0_ws.database_url)) as s:
        assert s.get(Prospect, o.prospect_id).title == "Chief Robot Officer"  # type: ignore[union-attr]


@pytest.mark.slow
def test_hand_off_creates_a_crm_task_and_optionally_a_deal(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """A hand-off task (interested reply) becomes one HubSpot task on the contact, and with
    create_deals one deal, both once."""
    o = _sent(day0_ws)[0]
    with Session(engine_for(day0_ws.database_url)) as s:
        s.add(
            Task(
                workspace=day0_ws.id,
                dedupe_key="handoff:evt1",
                prospect_id=o.prospect_id,
                kind="handoff",
                title="Interested reply",
                body="Let's talk",
                created_at=LATER,
            )
        )
        s.commit()
    day0_ws.config = day0_ws.config.model_copy(
        update={"crm": day0_ws.config.crm.model_copy(update={"create_deals": True})}
    )
    sync_workspace(day0_ws, now=LATER, crm=hubspot)
    sync_workspace(day0_ws, now=LATER, crm=hubspot)
    tasks = [t for t in fake_hubspot.objects["tasks"].values() if t.get("outbound_key") == "handoff:evt1"]
    deals = list(fake_hubspot.objects.get("deals", {}).values())
    assert len(tasks) == 1 and tasks[0]["hs_task_subject"] == "Interested reply" and len(deals) == 1


def test_memory_crm_refuses_a_second_contact_with_one_email() -> None:
    """The in-memory CRM answers a duplicate email with a conflict naming the existing id, as HubSpot does."""
    from tools.crm.base import CrmConflict
    from tools.crm.memory import MemoryCrm

    crm = MemoryCrm()
    (first,) = crm.create("contacts", [NewObject({"email": "a@x.example"})])
    with pytest.raises(CrmConflict) as err:
        crm.create("contacts", [NewObject({"email": "A@x.example"})])
    assert err.value.existing_id == first


class _RaceCrm:
    """A Crm where another writer creates one contact between our search and our create."""

    def __init__(self, inner, fake, email: str):  # noqa: ANN001
        self.inner, self.fake, self.email, self.name = inner, fake, email, inner.name

    def __getattr__(self, item: str):  # noqa: ANN204
        return getattr(self.inner, item)

    def create(self, kind, objects):  # noqa: ANN001, ANN201
        if kind == "contacts" and self.email:
            self.fake.add("contacts", {"email": self.email})
            self.email = ""
        return self.inner.create(kind, objects)


@pytest.mark.slow
def test_a_409_from_a_racing_writer_links_the_existing_contact(day0_ws, fake_hubspot, hubspot) -> None:  # noqa: ANN001
    """A contact created by someone else after our search (HubSpot answers 409 with its id)
    is linked and updated, not duplicated, and the rest of the batch is created."""
    with Session(engine_for(day0_ws.database_url)) as s:
        p = s.get(Prospect, next(o.prospect_id for o in _sent(day0_ws) if o.channel == "email"))
        assert p is not None
        email = p.email_norm
    report = sync_workspace(day0_ws, now=LATER, crm=_RaceCrm(hubspot, fake_hubspot, email))
    assert report.errors == []
    assert any(c.status == 409 for c in fake_hubspot.calls)
    _no_duplicates(fake_hubspot)
    assert len(fake_hubspot.objects["contacts"]) == len({o.prospect_id for o in _sent(day0_ws)})
