"""The fake Messages API, driven by the real anthropic SDK: citations point at real spans,
tool use is forced, caching shows in usage, batches and rate limits behave like the API."""

from __future__ import annotations

import socket

import anthropic
import pytest

from tests.fakes.anthropic_api import FakeAnthropic, Scripted


def _doc(text: str) -> dict:
    return {
        "type": "document",
        "source": {"type": "content", "content": [{"type": "text", "text": text}]},
        "title": "ev_1",
        "citations": {"enabled": True},
    }


def test_citations_are_real_spans_of_the_documents(sdk: anthropic.Anthropic) -> None:
    """Every citation's cited_text equals the block of the document its index names."""
    docs = [_doc("Kranich raised EUR 12M in May 2026."), _doc("Kranich is hiring a Controller.")]
    msg = sdk.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=400,
        system="TASK: draft",
        messages=[
            {"role": "user", "content": [*docs, {"type": "text", "text": "<facts>\nkind: email\n</facts>"}]}
        ],
    )
    cited = [(c, b.text) for b in msg.content if b.type == "text" for c in (b.citations or [])]
    assert len(cited) == 2
    texts = ["Kranich raised EUR 12M in May 2026.", "Kranich is hiring a Controller."]
    for c, sentence in cited:
        assert c.cited_text == texts[c.document_index]
        assert c.cited_text in sentence


def test_research_citations_carry_correct_character_ranges(sdk: anthropic.Anthropic) -> None:
    """A text document is cited by character range, and the range slices the cited text."""
    page = "Welcome to Acme. We are moving off QuickBooks to NetSuite this spring. Contact us."
    msg = sdk.messages.create(
        model="m",
        max_tokens=400,
        system="TASK: research",
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": page},
                        "citations": {"enabled": True},
                    },
                    {"type": "text", "text": "Q1: Is the company migrating off QuickBooks?"},
                ],
            }
        ],
    )
    c = next(c for b in msg.content if b.type == "text" for c in (b.citations or []))
    assert page[c.start_char_index : c.end_char_index] == c.cited_text
    assert "QuickBooks" in c.cited_text


def test_forced_tool_use_returns_valid_input(sdk: anthropic.Anthropic) -> None:
    """A forced tool answers with that tool and input that fits its enum."""
    msg = sdk.messages.create(
        model="m",
        max_tokens=50,
        messages=[{"role": "user", "content": "<reply>Not interested, thanks.</reply>"}],
        tools=[
            {
                "name": "classify_reply",
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string", "enum": ["interested", "not_interested", "other"]},
                        "confidence": {"type": "number"},
                    },
                },
            }
        ],
        tool_choice={"type": "tool", "name": "classify_reply"},
    )
    assert msg.stop_reason == "tool_use"
    assert msg.content[0].name == "classify_reply" and msg.content[0].input["label"] == "not_interested"


def test_cache_control_creates_then_reads_the_prefix(sdk: anthropic.Anthropic) -> None:
    """The first call writes the cached prefix, the second reads it; input tokens drop."""
    system = [{"type": "text", "text": "House style. " * 100, "cache_control": {"type": "ephemeral"}}]
    first = sdk.messages.create(
        model="m", max_tokens=5, system=system, messages=[{"role": "user", "content": "a"}]
    )
    second = sdk.messages.create(
        model="m", max_tokens=5, system=system, messages=[{"role": "user", "content": "b"}]
    )
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens < first.usage.input_tokens + first.usage.cache_creation_input_tokens


def test_batches_create_poll_and_stream_results(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    """A batch ends after polling; results come back as JSONL with forced errored/expired ones."""
    fake.batch_polls_until_done = 1
    fake.batch_outcomes = {"b": "errored", "c": "expired"}
    params = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    batch = sdk.messages.batches.create(requests=[{"custom_id": cid, "params": params} for cid in "abc"])
    assert batch.processing_status == "in_progress"
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "ended"
    results = {r.custom_id: r.result.type for r in sdk.messages.batches.results(batch.id)}
    assert results == {"a": "succeeded", "b": "errored", "c": "expired"}


def test_rate_limit_answers_429_with_retry_after_and_headers(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    """Over the requests-per-minute limit the fake answers 429 with retry-after; below it,
    every answer carries anthropic-ratelimit headers."""
    fake.requests_per_minute = 2
    ok = sdk.messages.with_raw_response.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "a"}]
    )
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "2"
    sdk.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "b"}])
    with pytest.raises(anthropic.RateLimitError) as err:
        sdk.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "c"}])
    assert int(err.value.response.headers["retry-after"]) >= 1


def test_injected_failures_and_count_tokens(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    """Scripted 529 and 500 come back as the SDK's error classes; count_tokens answers."""
    fake.script(Scripted(529), Scripted(500))
    with pytest.raises(anthropic.OverloadedError):
        sdk.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "a"}])
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "a"}])
    assert (
        sdk.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hello"}]).input_tokens > 0
    )


def test_connecting_outside_loopback_is_refused() -> None:
    """The test guard refuses a connection to a non-loopback address (and would fail the test)."""
    from tests import conftest

    before = len(conftest._OUTSIDE_ATTEMPTS)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError):
            s.connect(("192.0.2.1", 443))
    finally:
        s.close()
        del conftest._OUTSIDE_ATTEMPTS[before:]  # this test provoked it on purpose
