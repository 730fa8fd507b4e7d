"""The waterfall inside the daily run: providers from workspace.toml (a local HTTP API and a
simulated one), each paid call in the ledger, decisions that show the calls, a provider
without its key paused with one operator task."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.runner import run_daily
from agents.services import init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, Prospect, Task
from state.models_ledger import CostEntry
from tests.conftest import at, copy_demo
from tests.fakes.enrich_api import FakeEnrichApi

WATERFALL = """
[[enrichment.providers]]
name = "api"
url = "{url}/person?first={{first_name}}&last={{last_name}}&domain={{domain}}"
key_env = "TEST_ENRICH_KEY"
auth_header = "X-Api-Key"
fields = ["email"]
mapping = {{ email = "data.email" }}
cost_per_call = 1.0
cost_per_hit = 1.0

[[enrichment.providers]]
name = "offline"
kind = "simulated"
data_file = "enrichment.csv"
fields = ["email", "phone"]
cost_per_call = 0.5
hit_rate = {{ "*" = 1.0 }}

[enrichment]
order = {{ email = ["api", "offline"] }}
"""


@pytest.mark.parametrize("key", ["k-123", ""], ids=["api-works", "api-key-missing"])
def test_waterfall_enriches_in_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Prospects without email are enriched through the configured order; every paid call is a
    ledger row; without its key the API provider is paused with one task and the simulated
    provider still finds the emails."""
    if key:
        monkeypatch.setenv("TEST_ENRICH_KEY", key)
    else:
        monkeypatch.delenv("TEST_ENRICH_KEY", raising=False)
    with FakeEnrichApi(
        {("priya", "raman", "thamesbridge.example"): {"email": "priya@thamesbridge.example"}}
    ) as api:
        root = copy_demo(tmp_path / "demo", relaxed=True)
        toml = root / "workspace.toml"
        text = toml.read_text(encoding="utf-8").replace("[providers]\n", "")
        toml.write_text(
            text + '\n[providers]\nenrichment = "waterfall"\n' + WATERFALL.format(url=api.url),
            encoding="utf-8",
        )
        ws = load_workspace(root)
        init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
        summary = run_daily(ws, now=at("2026-11-23T15:00:00Z"))
        requests = len(api.requests)
    assert summary.errors == 0
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(CostEntry).where(CostEntry.kind == "enrichment")).all()
        enriched = s.exec(select(Prospect).where(Prospect.enrichment_status != "")).all()
        bodies = [
            load_body(r)
            for r in s.exec(select(DecisionRecord).where(DecisionRecord.action == "enrich")).all()
        ]
        tasks = s.exec(select(Task).where(Task.kind == "provider_paused")).all()
    assert enriched and not [r for r in rows if r.status == "reserved"]  # every hold committed or released
    providers = {r.provider for r in rows if r.status == "committed"}
    calls = [c for b in bodies for c in b["tool"]["result"]["calls"]]
    if key:
        assert requests > 0 and "enrich:api" in providers and not tasks
        priya = next(p for p in enriched if p.first_name == "Priya")
        assert priya.email_norm == "priya@thamesbridge.example"
    else:
        assert requests == 0 and "enrich:api" not in providers and len(tasks) == 1
        assert any(c["provider"] == "api" and c["status"] == "paused" for c in calls)
    assert "enrich:offline" in providers and any(p.email_norm for p in enriched)


def test_costs_by_segment_reports_hit_rate_and_cost_per_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a waterfall run, `costs --by segment` gives each provider's calls, hit rate and cost
    per hit per field and segment (country/employee band)."""
    import json

    from typer.testing import CliRunner

    from run import app

    monkeypatch.delenv("TEST_ENRICH_KEY", raising=False)
    root = copy_demo(tmp_path / "demo", relaxed=True)
    toml = root / "workspace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8")
        + '\n[providers]\nenrichment = "waterfall"\n'
        + WATERFALL.format(url="http://127.0.0.1:9"),
        encoding="utf-8",
    )
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    out = CliRunner().invoke(app, ["costs", "-w", str(root), "--by", "segment", "--json"])
    rows = json.loads(out.output)["rows"]
    offline = [r for r in rows if r["provider"] == "offline"]
    assert offline and all(r["field"] == "email" and "/" in r["segment"] for r in offline)
    assert sum(r["calls"] for r in offline) >= sum(r["hits"] for r in offline) > 0
    assert all(r["cost_per_hit"] == pytest.approx(r["credits"] / r["hits"]) for r in offline if r["hits"])
