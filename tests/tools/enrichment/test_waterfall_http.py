"""The enrichment waterfall with config-driven HTTP providers against local servers on
127.0.0.1: hits, misses, error classes, retries, pauses, the cache and its TTL, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from core.spend_config import EnrichmentConfig, EnrichmentProviderConfig
from state.db import engine_for
from state.ledger import spend
from state.models import Task
from state.models_ledger import CostEntry
from tests.fakes.enrich_api import Answer, FakeEnrichApi
from tools.enrichment.http import HttpProvider
from tools.enrichment.providers import Person
from tools.enrichment.store import DbWaterfallStore
from tools.enrichment.waterfall import MemoryStore, Waterfall

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
PEOPLE = {
    ("dana", "whitfield", "acme.example"): {
        "email": "dana@acme.example",
        "phone": "+1 555 0100",
        "title": "CFO",
    },
    ("lars", "eklund", "fjall.example"): {"email": "lars@fjall.example"},
}
DANA = Person("Dana", "Whitfield", "acme.example", country="US", employee_count=120)
LARS = Person("Lars", "Eklund", "fjall.example", country="SE", employee_count=40)
NOBODY = Person("Nobody", "Here", "acme.example", country="US", employee_count=120)
ENV = {"ALPHA_KEY": "k-123", "BETA_KEY": "k-123"}


def provider_cfg(name: str, url: str, **kw: object) -> EnrichmentProviderConfig:
    base: dict = {
        "name": name,
        "url": url + "/person?first={first_name}&last={last_name}&domain={domain}",
        "key_env": f"{name.upper()}_KEY",
        "auth_header": "X-Api-Key",
        "fields": ("email", "phone", "title"),
        "mapping": {"email": "data.email", "phone": "data.phone", "title": "data.title"},
        "verified_path": "verified",
        "cost_per_call": 0.5,
        "cost_per_hit": 1.5,
        "timeout_seconds": 0.5,
    }
    base.update(kw)
    return EnrichmentProviderConfig(**base)


def waterfall(store, *providers: HttpProvider, **cfg: object) -> Waterfall:  # noqa: ANN001
    opts: dict = {"order": {"email": tuple(p.name for p in providers)}, "max_retries": 2, **cfg}
    return Waterfall(
        list(providers),
        EnrichmentConfig(providers=tuple(p.cfg for p in providers), **opts),
        store,
        sleep=SLEEPS.append,
    )


SLEEPS: list[float] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    SLEEPS.clear()


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    return engine_for(f"sqlite:///{tmp_path / 'e.db'}")


def db_store(engine, cap: float | None = None) -> DbWaterfallStore:  # noqa: ANN001
    from policies.config import BudgetConfig, SpendCaps

    budget = BudgetConfig(run=SpendCaps(credits=cap), month=SpendCaps(), prospect=SpendCaps())
    return DbWaterfallStore(engine, "w", ttl=timedelta(days=30), credit_usd=0.01, budget=budget)


def test_hit_is_charged_once_and_second_lookup_within_ttl_is_free(engine) -> None:  # noqa: ANN001
    """A hit costs per call + per hit and fills every mapped field; the same lookup again within
    the TTL makes no request and costs nothing; after the TTL it is paid again."""
    with FakeEnrichApi(PEOPLE) as api:
        wf = waterfall(db_store(engine), HttpProvider(provider_cfg("alpha", api.url), httpx.Client(), ENV))
        first = wf.enrich(DANA, ["email", "phone"], now=NOW, run_id="r1", prospect_id="p1")
        again = wf.enrich(
            DANA, ["email", "phone"], now=NOW + timedelta(days=1), run_id="r2", prospect_id="p1"
        )
        assert len(api.requests) == 1
        later = wf.enrich(DANA, ["email"], now=NOW + timedelta(days=31), run_id="r3", prospect_id="p1")
        assert len(api.requests) == 2
    assert first.values == {"email": "dana@acme.example", "phone": "+1 555 0100", "title": "CFO"}
    assert first.credits == 2.0 and again.credits == 0.0 and later.credits == 2.0
    assert [c.status for c in again.calls] == ["cached_hit"]  # one answer serves email and phone
    with Session(engine) as s:
        assert spend(s, workspace="w").credits == 4.0
        assert spend(s, workspace="w", run_id="r2").credits == 0.0


def test_miss_is_cached_too(engine) -> None:  # noqa: ANN001
    """A 404 miss costs the per-call price once; asking again within the TTL makes no request."""
    with FakeEnrichApi(PEOPLE) as api:
        wf = waterfall(db_store(engine), HttpProvider(provider_cfg("alpha", api.url), httpx.Client(), ENV))
        first = wf.enrich(NOBODY, ["email"], now=NOW)
        second = wf.enrich(NOBODY, ["email"], now=NOW + timedelta(hours=1))
        assert len(api.requests) == 1
    assert (first.status, first.credits, [c.status for c in first.calls]) == ("not_found", 0.5, ["miss"])
    assert (second.credits, [c.status for c in second.calls]) == (0.0, ["cached_miss"])


def test_stops_at_first_verified_value() -> None:
    """The second provider is not called when the first returns a verified email; an unverified
    one makes the waterfall go on and prefer the verified value."""
    people = {
        **PEOPLE,
        ("lars", "eklund", "fjall.example"): {"email": "guess@fjall.example", "verified": False},
    }
    with FakeEnrichApi(PEOPLE) as good, FakeEnrichApi(people) as guessy:
        a = HttpProvider(provider_cfg("alpha", guessy.url), httpx.Client(), ENV)
        b = HttpProvider(provider_cfg("beta", good.url), httpx.Client(), ENV)
        res = waterfall(MemoryStore(), a, b).enrich(DANA, ["email"], now=NOW)
        assert (res.sources["email"], len(good.requests)) == ("alpha", 0)
        res = waterfall(MemoryStore(), a, b).enrich(LARS, ["email"], now=NOW)
    assert (res.values["email"], res.sources["email"], res.verified["email"]) == (
        "lars@fjall.example",
        "beta",
        True,
    )


@pytest.mark.parametrize(
    ("answers", "status", "error_class", "requests", "sleeps"),
    [
        ([Answer(429, {}, {"Retry-After": "2"})], "hit", "", 2, [2.0]),
        ([Answer(503, {}), Answer(502, {})], "hit", "", 3, [0.5, 1.0]),
        ([Answer(500, {})] * 3, "error", "transient", 3, [0.5, 1.0]),
        ([Answer(200, "{not json")] * 3, "error", "transient", 3, [0.5, 1.0]),
        ([Answer(200, {}, delay_s=1.0)] * 3, "error", "transient", 3, [0.5, 1.0]),
        ([Answer(422, {"field": "domain"})], "error", "bad_input", 1, []),
    ],
    ids=["429-retry-after", "5xx-then-ok", "5xx-exhausted", "malformed-json", "timeout", "invalid-input"],
)
def test_error_classes_and_bounded_retries(
    answers: list[Answer], status: str, error_class: str, requests: int, sleeps: list[float]
) -> None:
    """Transient errors are retried at most max_retries times (Retry-After honoured, else backoff);
    invalid input is not retried and names the field."""
    with FakeEnrichApi(PEOPLE) as api:
        api.script.extend(answers)
        res = waterfall(
            MemoryStore(), HttpProvider(provider_cfg("alpha", api.url), httpx.Client(), ENV)
        ).enrich(DANA, ["email"], now=NOW)
        assert len(api.requests) == requests
    call = res.calls[0]
    assert (call.status, call.error_class) == (status, error_class)
    assert SLEEPS == sleeps
    if error_class == "bad_input":
        assert res.invalid_fields == ["domain"]
    if status == "error":
        assert res.credits == 0.0 and res.status == "failed"


@pytest.mark.parametrize(
    ("answer", "error_class"),
    [(None, "configuration"), (Answer(402, {}), "quota")],
    ids=["bad-auth", "quota"],
)
def test_auth_and_quota_pause_provider_tell_operator_once_and_continue(
    engine, answer: Answer | None, error_class: str
) -> None:  # noqa: ANN001
    """A bad key (401) or exhausted quota (402) pauses that provider, opens one operator task,
    and the waterfall continues with the next provider; later lookups skip the paused one."""
    env = {"ALPHA_KEY": "wrong" if answer is None else "k-123", "BETA_KEY": "k-123"}
    with FakeEnrichApi(PEOPLE) as bad, FakeEnrichApi(PEOPLE) as good:
        if answer is not None:
            bad.script.append(answer)
        a = HttpProvider(provider_cfg("alpha", bad.url), httpx.Client(), env)
        b = HttpProvider(provider_cfg("beta", good.url), httpx.Client(), env)
        store = db_store(engine)
        first = waterfall(store, a, b).enrich(DANA, ["email"], now=NOW)
        second = waterfall(store, a, b).enrich(LARS, ["email"], now=NOW)
        assert len(bad.requests) == 1
    assert [(c.provider, c.status, c.error_class) for c in first.calls] == [
        ("alpha", "error", error_class),
        ("beta", "hit", ""),
    ]
    assert first.values["email"] == "dana@acme.example"
    assert [(c.provider, c.status) for c in second.calls] == [("alpha", "paused"), ("beta", "hit")]
    with Session(engine) as s:
        tasks = s.exec(select(Task).where(Task.kind == "provider_paused")).all()
    assert len(tasks) == 1 and "alpha" in tasks[0].title and "k-123" not in tasks[0].body


def test_key_goes_in_query_when_configured_and_never_in_records(engine) -> None:  # noqa: ANN001
    """With auth_query the key travels as a query parameter; the ledger and result never hold it."""
    with FakeEnrichApi(PEOPLE) as api:
        p = HttpProvider(
            provider_cfg("alpha", api.url, auth_header="", auth_query="api_key"), httpx.Client(), ENV
        )
        res = waterfall(db_store(engine), p).enrich(DANA, ["email"], now=NOW)
        assert api.requests[0]["api_key"] == "k-123"
    assert "k-123" not in str(res.to_dict())
    with Session(engine) as s:
        assert all("k-123" not in str(r.detail) + r.key for r in s.exec(select(CostEntry)).all())


def test_reservation_stops_at_the_cap(engine) -> None:  # noqa: ANN001
    """With 3 credits left in the run, a 2-credit estimate is reserved, the next one is refused
    before any request is made, and the run's spend never crosses the cap."""
    with FakeEnrichApi(PEOPLE) as api:
        p = HttpProvider(provider_cfg("alpha", api.url), httpx.Client(), ENV)
        wf = waterfall(db_store(engine, cap=3.0), p)
        first = wf.enrich(DANA, ["email"], now=NOW, run_id="r1", prospect_id="p1")
        second = wf.enrich(LARS, ["email"], now=NOW, run_id="r1", prospect_id="p2")
        assert len(api.requests) == 1
    assert first.status == "found" and second.status == "budget" and second.calls[0].status == "budget"
    with Session(engine) as s:
        assert spend(s, workspace="w", run_id="r1").credits <= 3.0
