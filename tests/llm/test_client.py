"""The LLM client: recorded calls replay without the network and are paid once, retries
are bounded and only for 429/529/5xx, failures are classified, cost reaches the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anthropic
import pytest
from sqlmodel import Session, select

from core.errors import InvalidInput, ProviderConfigError, Transient
from core.workspace import LlmPrice, load_workspace
from state.db import engine_for
from state.ledger import spend
from state.models import CostEntry
from state.models_llm import LlmCall
from tests.conftest import copy_demo
from tests.fakes.anthropic_api import FakeAnthropic, Scripted
from tools.llm.client import CallScope, LlmClient, build_client, classify, redact
from tools.llm.costs import usage_usd
from tools.llm.limiter import RateLimiter
from tools.llm.prompts import prompt

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
MSG = [{"role": "user", "content": "<reply>Sounds good, tell me more.</reply>"}]


@pytest.fixture
def ws(tmp_path: Path):  # noqa: ANN201
    return load_workspace(copy_demo(tmp_path / "demo"))


def _client(ws, sdk: anthropic.Anthropic, sleeps: list[float]) -> LlmClient:  # noqa: ANN001
    return LlmClient(
        sdk=sdk, config=ws.config, engine=engine_for(ws.database_url), workspace=ws.id, sleep=sleeps.append
    )


def test_a_recorded_call_is_answered_without_network_and_paid_once(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """The same request twice reaches the API once; the ledger has one row with its tokens."""
    client = _client(ws, sdk, [])
    scope = CallScope(at=NOW, run_id="run1", prospect_id="p1")
    first = client.create("reply", prompt("reply"), messages=MSG, scope=scope)
    fake.stop()  # no network from here on
    again = client.create("reply", prompt("reply"), messages=MSG, scope=scope)
    assert not first.replayed and again.replayed and again.message == first.message
    assert client.network_calls == 1 and again.cost()["usd"] == 0.0
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(CostEntry).where(CostEntry.workspace == ws.id, CostEntry.kind == "llm")).all()
        call = s.exec(select(LlmCall).where(LlmCall.workspace == ws.id)).one()
        assert len(rows) == 1 and rows[0].llm_usd == first.usd > 0 and rows[0].tokens_in > 0
        assert spend(s, workspace=ws.id, run_id="run1").llm_usd == pytest.approx(first.usd)
        assert spend(s, workspace=ws.id, prospect_id="p1").llm_usd == pytest.approx(first.usd)
        assert call.prompt_version == prompt("reply").version and call.digest == first.digest


def test_secrets_never_reach_the_record(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """The API key travels in a header only; the stored request has no key-shaped strings."""
    client = _client(ws, sdk, [])
    client.create("reply", prompt("reply"), messages=MSG, scope=CallScope(at=NOW))
    with Session(engine_for(ws.database_url)) as s:
        stored = str(s.exec(select(LlmCall)).one().request)
    assert "test-key" not in stored
    assert redact({"api_key": "x", "a": ["sk-ant-abc"]}) == {"api_key": "[redacted]", "a": ["[redacted]"]}


def test_429_is_retried_after_its_retry_after_then_succeeds(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """A 429 with retry-after 7 blocks the limiter 7 s and the call is retried; 529 and 500 too."""
    sleeps: list[float] = []
    client = _client(ws, sdk, sleeps)
    fake.script(Scripted(429, headers={"retry-after": "7"}), Scripted(529), Scripted(500))
    result = client.create("reply", prompt("reply"), messages=MSG, scope=CallScope(at=NOW))
    assert result.message.content and client.network_calls == 4
    assert sleeps[0] == pytest.approx(7, abs=0.1)


def test_retries_are_bounded_and_end_transient(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """After max_retries 5xx answers the client raises Transient and stops calling."""
    client = _client(ws, sdk, [])
    fake.script(*[Scripted(503)] * 10)
    with pytest.raises(Transient):
        client.create("reply", prompt("reply"), messages=MSG, scope=CallScope(at=NOW))
    assert client.network_calls == ws.config.llm.max_retries + 1


def test_other_4xx_are_not_retried(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """A 400 is raised at once as InvalidInput, a 401 as ProviderConfigError."""
    client = _client(ws, sdk, [])
    fake.script(Scripted(400), Scripted(401))
    with pytest.raises(InvalidInput):
        client.create("reply", prompt("reply"), messages=MSG, scope=CallScope(at=NOW))
    with pytest.raises(ProviderConfigError):
        client.create("reply", prompt("reply"), messages=MSG, scope=CallScope(at=NOW))
    assert client.network_calls == 2


def test_connection_failure_is_transient() -> None:
    """An unreachable API is a transient failure, not a crash."""
    sdk = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0, timeout=2)
    with pytest.raises(anthropic.APIConnectionError) as err:
        sdk.messages.create(model="m", max_tokens=5, messages=MSG)
    assert isinstance(classify(err.value), Transient)


def test_missing_key_is_a_configuration_error(ws) -> None:  # noqa: ANN001
    """Without the key in the configured env var the client is not built, with a next step."""
    with pytest.raises(ProviderConfigError, match="ANTHROPIC_API_KEY"):
        build_client(ws.config, engine=None, workspace=ws.id, env={})


def test_usage_is_priced_per_field_with_cache_and_batch_rates() -> None:
    """Input, output, cache write (1.25x / 2x) and cache read (0.1x) are priced apart; batches at half."""
    price = LlmPrice(input=3.0, output=15.0)
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
    }
    assert usage_usd(price, usage) == pytest.approx(3 + 15 + 3.75 + 0.3)
    assert usage_usd(price, usage, ttl="1h") == pytest.approx(3 + 15 + 6 + 0.3)
    assert usage_usd(price, usage, batch=True) == pytest.approx((3 + 15 + 3.75 + 0.3) / 2)


def test_limiter_keeps_requests_per_minute_and_honours_exhausted_headers() -> None:
    """Requests at 2 per minute go 30 s apart; a header saying no requests remain until
    reset blocks until then."""
    t = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        t[0] += s

    lim = RateLimiter(
        requests_per_minute=2,
        input_tokens_per_minute=10**6,
        output_tokens_per_minute=10**6,
        clock=lambda: t[0],
        sleep=sleep,
        wall=lambda: NOW,
    )
    lim.acquire(10, 10)
    lim.acquire(10, 10)
    lim.acquire(10, 10)
    assert waits == [pytest.approx(30.0), pytest.approx(30.0)]
    lim.observe(
        {
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2026-11-23T15:00:30Z",
        }
    )
    lim.acquire(10, 10)
    assert waits[-1] == pytest.approx(30.0)


def _batch_items(n: int) -> list:
    from tools.llm.client import BatchRequest

    return [
        BatchRequest(
            "reply",
            prompt("reply"),
            [{"role": "user", "content": f"<reply>Sounds good, tell me more ({i}).</reply>"}],
            CallScope(at=NOW, run_id="r", prospect_id=f"p{i}"),
        )
        for i in range(n)
    ]


def test_batch_results_are_discounted_and_failures_fall_back_to_sync(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """Batch answers are priced at the batch rate; an errored and an expired item are each
    answered by one synchronous call."""
    client = _client(ws, sdk, [])
    items = _batch_items(4)
    keys = [
        client.digest(i.task, i.prompt, client.params(i.task, i.prompt, messages=i.messages, batch=True))
        for i in items
    ]
    fake.batch_outcomes = {keys[1][:64]: "errored", keys[2][:64]: "expired"}
    results = client.run_batch(items, poll_s=0)
    assert all(not isinstance(r, Exception) for r in results)
    assert [r.message.usage.service_tier for r in results] == ["batch", "standard", "standard", "batch"]
    assert len(fake.calls()) == 2 and len(fake.calls("/v1/messages/batches")) == 1
    assert results[0].usd < results[1].usd  # same size, batch at half price


def test_a_waiting_batch_is_collected_after_a_restart_not_resubmitted(ws, fake: FakeAnthropic, sdk) -> None:  # noqa: ANN001
    """Items of an unfinished batch stay waiting; a new client (after a crash) collects the
    same batch instead of submitting (and paying for) the requests again."""
    fake.batch_polls_until_done = 3
    first = _client(ws, sdk, [])
    pending = first.run_batch(_batch_items(3), poll_s=0, max_polls=1)
    assert all(isinstance(r, Transient) for r in pending)
    second = _client(ws, sdk, [])
    done = second.run_batch(_batch_items(3), poll_s=0, max_polls=10)
    assert all(not isinstance(r, Exception) for r in done)
    assert len(fake.calls("/v1/messages/batches")) == 1 and fake.calls() == []


def test_prompt_version_is_a_hash_of_the_prompt_text() -> None:
    """The version names the task and changes when the prompt text changes."""
    from tools.llm.prompts import Prompt

    a, b = prompt("draft"), Prompt("draft", prompt("draft").text + " One more rule.")
    assert a.version.startswith("draft@") and len(a.version) == len("draft@") + 10
    assert a.version != b.version and prompt("draft").version == a.version
