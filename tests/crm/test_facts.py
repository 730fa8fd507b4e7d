"""CRM facts before a send: a CRM customer, unsubscribe, do-not-contact flag or open deal
stops the send through the existing rules (cited), facts are cached with a TTL, and an
unreachable CRM defers the send instead of letting it out unchecked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from agents.observation import build_observation
from policies.engine import PolicyEngine
from policies.types import PolicyInput, Proposal
from state.db import engine_for
from state.models import OutboxMessage, Prospect
from tests.conftest import at
from tools.crm.hubspot import HubSpotCrm, hubspot_client

NOW = at("2026-11-24T15:00:00Z")


def _with_crm(ws, host: str):  # noqa: ANN001, ANN202
    crm = ws.config.crm.model_copy(update={"provider": "hubspot", "host": host})
    ws.config = ws.config.model_copy(update={"crm": crm})
    return ws


def _target(ws) -> Prospect:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        sent = s.exec(
            select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.channel == "email")
        ).first()
        assert sent is not None
        p = s.get(Prospect, sent.prospect_id)
        assert p is not None
        p.status = "active"
        s.add(p)
        s.commit()
        s.refresh(p)
        return p


def _decide(ws, p: Prospect, now=NOW):  # noqa: ANN001, ANN202
    with Session(engine_for(ws.database_url)) as s:
        obs = build_observation(s, ws, s.get(Prospect, p.id), now)  # type: ignore[arg-type]
    proposal = Proposal(action="send", reason="next step", channel="email", kind="email", step_id="email_2")
    return obs, PolicyEngine(ws.config.policy).evaluate(PolicyInput.from_observation(obs, proposal))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("props", "rule", "words"),
    [
        ({"lifecyclestage": "customer"}, "suppression", "lifecycle stage customer"),
        ({"hs_email_optout": "true"}, "suppression", "unsubscribed in hubspot"),
        ({"do_not_contact": "true"}, "do_not_contact", "do-not-contact"),
    ],
)
def test_crm_flag_stops_the_send_with_the_rule_cited(
    day0_ws, fake_hubspot, monkeypatch, props, rule, words
) -> None:  # noqa: ANN001
    """A CRM customer, unsubscribe or do-not-contact flag denies the send, citing the rule."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake_hubspot.token)
    ws = _with_crm(day0_ws, fake_hubspot.base_url)
    p = _target(ws)
    fake_hubspot.add("contacts", {"email": p.email_norm, **props})
    obs, decision = _decide(ws, p)
    assert obs["crm"]["status"] == "ok"
    assert decision.outcome == "deny"
    assert any(v.rule == rule and words in v.reason for v in decision.deciding)


@pytest.mark.slow
def test_open_deal_feeds_the_open_opportunity_rule_and_facts_are_cached(
    day0_ws, fake_hubspot, monkeypatch
) -> None:  # noqa: ANN001
    """An open deal on the CRM contact denies through open_opportunity; within the TTL the
    facts come from the cache (no new CRM call), after it they are read again."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake_hubspot.token)
    ws = _with_crm(day0_ws, fake_hubspot.base_url)
    p = _target(ws)
    cid = fake_hubspot.add("contacts", {"email": p.email_norm})
    did = fake_hubspot.add("deals", {"dealstage": "presentationscheduled"})
    fake_hubspot.associate("deals", did, "contacts", cid)
    _, decision = _decide(ws, p)
    assert decision.outcome == "deny" and any(v.rule == "open_opportunity" for v in decision.deciding)
    calls = len(fake_hubspot.calls)
    obs, _ = _decide(ws, p, NOW + timedelta(minutes=10))
    assert obs["crm"]["cached"] is True and len(fake_hubspot.calls) == calls
    obs, _ = _decide(ws, p, NOW + timedelta(minutes=61))
    assert obs["crm"]["cached"] is False and len(fake_hubspot.calls) > calls


@pytest.mark.slow
def test_unreachable_crm_defers_the_send(day0_ws, monkeypatch) -> None:  # noqa: ANN001
    """A CRM that cannot be reached defers the send (transient) with crm_reachable cited."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-x")
    ws = _with_crm(day0_ws, "http://127.0.0.1:9")
    p = _target(ws)
    obs, decision = _decide(ws, p)
    assert obs["crm"]["status"] == "unavailable"
    assert decision.outcome in ("defer", "deny")
    assert any(v.rule == "crm_reachable" and v.outcome == "defer" for v in decision.verdicts)
    assert decision.outcome != "allow"


def test_crm_adapter_classifies_a_permission_error(fake_hubspot) -> None:  # noqa: ANN001
    """A 403 for missing scopes is classified as a permission error, not retried."""
    from tools.crm.base import CrmError

    fake_hubspot.forbidden_types.add("contacts")
    crm = HubSpotCrm(
        hubspot_client(token=fake_hubspot.token, host=fake_hubspot.base_url), sleep=lambda s: None
    )
    with pytest.raises(CrmError) as err:
        crm.facts("a@b.example")
    assert err.value.cause == "permission" and len(fake_hubspot.calls) == 1


@pytest.mark.slow
def test_demo_day_with_hubspot_configured_end_to_end(tmp_path, fake_hubspot, monkeypatch) -> None:  # noqa: ANN001
    """The demo's first day with [crm] pointed at the fake: a CRM customer is stopped by the
    suppression rule citing HubSpot, the others run; `crm sync` then creates each touched
    prospect once with its touches, and a second sync writes nothing."""
    from agents.runner import run_daily
    from agents.services import init_workspace
    from core.workspace import load_workspace
    from tests.conftest import copy_demo
    from tools.crm.sync import sync_workspace

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake_hubspot.token)
    root = copy_demo(tmp_path / "demo")
    toml = root / "workspace.toml"
    toml.write_text(toml.read_text() + f'\n[crm]\nprovider = "hubspot"\nhost = "{fake_hubspot.base_url}"\n')
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    customer = "carlos.mendez@acmerobotics.example"
    fake_hubspot.add("contacts", {"email": customer, "lifecyclestage": "customer"})
    summary = run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    assert summary.errors == 0 and summary.sent["email"] > 0
    with Session(engine_for(ws.database_url)) as s:
        p = s.exec(select(Prospect).where(Prospect.workspace == ws.id, Prospect.email_norm == customer)).one()
        assert (
            p.status == "stopped"
            and "suppression" in p.stop_reason
            and "hubspot lifecycle stage customer" in p.stop_reason
        )
        touched = {
            o.prospect_id
            for o in s.exec(
                select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
            )
        }
    first = sync_workspace(ws, now=at("2026-11-23T18:00:00Z"))
    assert first.errors == [] and first.writes > 0
    contacts = list(fake_hubspot.objects["contacts"].values())
    assert len(contacts) == len(touched) + 1  # the pre-existing customer is never duplicated
    assert sum(1 for c in contacts if c.get("email") == customer) == 1
    assert sync_workspace(ws, now=at("2026-11-23T19:00:00Z")).writes == 0
