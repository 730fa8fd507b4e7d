"""The research reader: workspace questions answered from pages as cited spans with URL,
character range, statement and date; spans that do not match the page are dropped."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.workspace import load_workspace
from state.db import engine_for
from tests.conftest import copy_demo
from tests.fakes.anthropic_api import FakeAnthropic, Scripted
from tools.llm.client import CallScope, LlmClient
from tools.llm.reader import ClaudeResearcher, Page, read

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
PAGES = [
    Page("https://acme.example/", "Acme builds billing software.\nWe serve 300 customers."),
    Page(
        "https://acme.example/blog",
        "Update. On 2026-10-02 we started moving off QuickBooks to NetSuite. We also hired a Controller.",
    ),
]


@pytest.fixture
def client(tmp_path: Path, sdk) -> LlmClient:  # noqa: ANN001
    ws = load_workspace(copy_demo(tmp_path / "demo"))
    return LlmClient(sdk=sdk, config=ws.config, engine=engine_for(ws.database_url), workspace=ws.id)


def test_answers_are_cited_spans_with_url_range_and_date(client: LlmClient, fake: FakeAnthropic) -> None:
    """A migration question is answered by the exact page sentence, its URL, range and date."""
    items, meta = read(client, ["Is the company moving off QuickBooks?"], PAGES, CallScope(at=NOW))
    assert len(items) == 1 and meta["dropped"] == []
    e = items[0]
    page = PAGES[1].text
    assert e.source_url == "https://acme.example/blog" and "QuickBooks" in e.quote
    assert page[e.data["start_char"] : e.data["end_char"]].strip() == e.quote
    assert e.data["date"] == "2026-10-02" and e.data["question"].startswith("Is the company")
    body = fake.calls()[0]["body"]
    assert all(d["citations"] == {"enabled": True} for d in body["messages"][0]["content"][:2])


def test_a_span_that_is_not_in_the_page_is_dropped(client: LlmClient, fake: FakeAnthropic) -> None:
    """A citation whose text does not match the page at its range never becomes evidence."""
    forged = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "content": [
            {"type": "text", "text": "Q1: "},
            {
                "type": "text",
                "text": "They raised USD 90M.",
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "They raised USD 90M.",
                        "document_index": 0,
                        "document_title": None,
                        "start_char_index": 0,
                        "end_char_index": 20,
                    }
                ],
            },
        ],
    }
    fake.script(Scripted(200, body=forged))
    items, meta = read(client, ["Did they raise money?"], PAGES, CallScope(at=NOW))
    assert items == [] and "does not match" in meta["dropped"][0]


def test_the_researcher_reads_the_workspace_pages(
    client: LlmClient, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """ClaudeResearcher turns web/<domain>/*.html into pages and needs configured questions."""
    web = tmp_path / "web" / "acme.example"
    web.mkdir(parents=True)
    (web / "blog.html").write_text(
        "<p>We are moving off QuickBooks to NetSuite in 2026.</p>", encoding="utf-8"
    )
    r = ClaudeResearcher(client, tmp_path / "web", ["Is the company moving off QuickBooks?"])
    result = r.research("acme.example", CallScope(at=NOW))
    assert result.evidence and result.evidence[0].source_url == "https://acme.example/blog"
    with pytest.raises(ConfigError, match="research_questions"):
        ClaudeResearcher(client, tmp_path / "web", [])


def test_an_answer_obtained_elsewhere_goes_through_the_same_checks(
    client: LlmClient, fake: FakeAnthropic
) -> None:
    """`first=` (a Message Batch result) makes no call and gives the evidence a synchronous
    read gives; a forged span in such an answer is dropped the same way."""
    from tools.llm.prompts import prompt
    from tools.llm.reader import request

    questions = ["Is the company moving off QuickBooks?"]
    sync_items, _ = read(client, questions, PAGES, CallScope(at=NOW))
    params = client.params("research", prompt("research"), messages=request(questions, PAGES))
    answered = client.recorded(client.digest("research", prompt("research"), params))
    assert answered is not None and len(fake.calls()) == 1  # the sync read sent exactly this request
    items, _ = read(client, questions, PAGES, CallScope(at=NOW), first=answered)
    assert [e.to_dict() for e in items] == [e.to_dict() for e in sync_items] and len(fake.calls()) == 1
    forged = answered.message.model_copy(deep=True)
    block = next(b for b in forged.content if b.type == "text" and b.citations)
    assert block.type == "text" and block.citations
    block.citations[0].cited_text = "They raised USD 90M."
    items, meta = read(
        client, questions, PAGES, CallScope(at=NOW), first=dataclasses.replace(answered, message=forged)
    )
    assert items == [] and "does not match" in meta["dropped"][0] and len(fake.calls()) == 1
