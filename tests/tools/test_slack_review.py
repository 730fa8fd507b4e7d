"""Slack review cards, modals, signatures, interaction parsing and the Web API notifier."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from core.errors import (
    ConfigError,
    InputError,
    InvalidInput,
    NotFound,
    ProviderConfigError,
    Transient,
)
from tests.fakes.slack_api import (
    FakeSlackApi,
    block_actions_payload,
    block_problems,
    signed_request,
    view_problems,
    view_submission_payload,
)
from tools.slack_review import (
    Interaction,
    ReviewCard,
    SlackReviewNotifier,
    edit_modal,
    fallback_text,
    parse_interaction,
    reject_modal,
    review_blocks,
    slack_error,
    slack_len,
    verify_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


def make_card(**overrides: Any) -> ReviewCard:
    values: dict[str, Any] = dict(
        review_id="rev-42",
        workspace="acme",
        prospect_id="p-7",
        prospect_name="Ada Lovelace",
        prospect_email="ada@engines.example",
        title="CTO",
        company="Analytical Engines",
        company_domain="engines.example",
        owner="U0OWNER",
        channel="email",
        step_id="intro",
        subject="Your hiring push",
        body="Hi Ada,\n\nSaw you are hiring 20 engineers.\n\nBest,\nSam",
        reasons=["tier-1 prospect", "claim not backed by evidence: 'doubled revenue'"],
        evidence=[
            {
                "id": "ev1",
                "quote": "We are hiring 20 engineers this quarter",
                "url": "https://engines.example/careers",
            },
            {"id": "ev2", "quote": "Series B announced", "url": "https://news.example/b"},
        ],
        cost_so_far={"credits": 3.0, "usd": 0.03},
        requested_at="2025-03-03T09:30:00Z",
    )
    values.update(overrides)
    return ReviewCard(**values)


def block(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == kind]


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def form(payload: Any) -> bytes:
    body, _ = signed_request(SECRET, payload, timestamp=NOW)
    return body


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


@pytest.fixture
def notifier(fake: FakeSlackApi) -> SlackReviewNotifier:
    return SlackReviewNotifier(WebClient(token=fake.token, base_url=fake.base_url), channel="#reviews")


# ----------------------------------------------------------------- review_blocks


def test_pending_card_has_the_four_buttons_carrying_the_review_id() -> None:
    """A pending card ends with one actions block `review:<id>` holding the four buttons."""
    blocks = review_blocks(make_card())
    actions = block(blocks, "actions")
    assert len(actions) == 1 and blocks[-1] is actions[0]
    assert actions[0]["block_id"] == "review:rev-42"
    buttons = actions[0]["elements"]
    assert [b["action_id"] for b in buttons] == [
        "review_approve",
        "review_edit",
        "review_reject",
        "review_snooze",
    ]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Edit", "Reject", "Snooze"]
    assert {b["value"] for b in buttons} == {"rev-42"}
    styles = {b["action_id"]: b.get("style") for b in buttons}
    assert styles == {
        "review_approve": "primary",
        "review_edit": None,
        "review_reject": "danger",
        "review_snooze": None,
    }


def test_card_shows_prospect_account_reasons_draft_channel_and_cost() -> None:
    """The header names prospect and account; the sections carry reasons, draft, channel, cost."""
    blocks = review_blocks(make_card())
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Review: Ada Lovelace · Analytical Engines", "emoji": False},
    }
    text = all_text(blocks)
    assert "*Why review was asked*\\n• tier-1 prospect\\n• claim not backed" in text
    assert "*Subject:* Your hiring push" in text
    body_sections = [b for b in block(blocks, "section") if b["text"]["type"] == "plain_text"]
    assert body_sections[0]["text"]["text"] == make_card().body
    context = block(blocks, "context")[0]["elements"][0]["text"]
    assert "Channel: *email*" in context
    assert "3 credits / $0.03" in context
    assert "owner <@U0OWNER>" in text and "ada@engines.example" in text


def test_evidence_is_listed_with_links() -> None:
    """Each evidence item shows its quote and its source URL as a link (not an evidence id);
    an unsafe URL is not linked and not shown."""
    card = make_card(
        evidence=[
            {"id": "ev1", "quote": "Hiring 20 engineers", "url": "https://engines.example/careers"},
            {"id": "ev2", "quote": "Q&A page", "url": "https://engines.example/q?a=1&b=2"},
            {"id": "ev3", "quote": "odd link", "url": "javascript:alert(1)"},
        ]
    )
    section = next(
        b["text"]["text"]
        for b in block(review_blocks(card), "section")
        if b["text"]["text"].startswith("*Evidence*")
    )
    lines = section.split("\n")
    assert lines[1] == "• “Hiring 20 engineers” — <https://engines.example/careers|engines.example/careers>"
    assert (
        lines[2] == "• “Q&amp;A page” — <https://engines.example/q?a=1&amp;b=2|engines.example/q?a=1&amp;b=2>"
    )
    assert lines[3] == "• “odd link” — (source not linked: not an http(s) URL)"
    assert "javascript:" not in section and "ev1" not in section


def test_evidence_lines_name_the_sentence_they_back() -> None:
    """A cited item carrying its sentence shows the sentence, then the quote and the URL."""
    card = make_card(
        evidence=[
            {
                "id": "ev1",
                "sentence": "Congrats on hiring 20 engineers.",
                "quote": "Hiring 20 engineers",
                "url": "https://engines.example/careers",
            }
        ]
    )
    section = next(
        b["text"]["text"]
        for b in block(review_blocks(card), "section")
        if b["text"]["text"].startswith("*Evidence*")
    )
    assert (
        "• _Congrats on hiring 20 engineers._\n    “Hiring 20 engineers” — <https://engines.example/careers|engines.example/careers>"
        in section
    )


def test_user_text_is_escaped_in_mrkdwn() -> None:
    """Angle brackets and ampersands from prospect data cannot form Slack links or mentions."""
    card = make_card(company="<!channel> & Co", reasons=["<https://evil.example|click>"])
    text = all_text([b for b in review_blocks(card) if b["type"] != "header"])
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; Co" in text
    assert "&lt;https://evil.example|click&gt;" in text


def test_long_drafts_and_lists_stay_within_slack_limits() -> None:
    """A 10k-character body, emoji, 200 evidence items and a long name fit Slack's limits."""
    card = make_card(
        prospect_name="N" * 300,
        body="😀" * 10_000,
        reasons=["r" * 900] * 30,
        evidence=[{"id": f"e{i}", "quote": "q" * 400, "url": f"https://x.example/{i}"} for i in range(200)],
    )
    blocks = review_blocks(card)
    assert block_problems(blocks, max_blocks=50) == ""
    for b in block(blocks, "section"):
        assert slack_len(b["text"]["text"]) <= 3000
    assert slack_len(blocks[0]["text"]["text"]) <= 150
    body = [b for b in block(blocks, "section") if b["text"]["type"] == "plain_text"][0]
    assert "10000 characters in all" in body["text"]["text"]
    evidence = next(
        b["text"]["text"] for b in block(blocks, "section") if b["text"]["text"].startswith("*Evidence*")
    )
    assert evidence.rstrip().split("\n")[-1].startswith("…and ")
    assert evidence.count("<https://") < 200


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("approved", "Approved by <@U0BOB> at <!date^"),
        ("edited", "Edited and approved by <@U0BOB> at <!date^"),
        ("rejected", "Rejected by <@U0BOB> at <!date^"),
        ("snoozed", "Snoozed by <@U0BOB> at <!date^"),
    ],
)
def test_decided_cards_show_who_decided_instead_of_buttons(status: str, expected: str) -> None:
    """Once decided the actions are gone and a context line names the reviewer and time."""
    card = make_card(
        status=status, decided_by="U0BOB", decided_at="2025-03-03T10:00:00Z", decision_note="tone is off"
    )
    blocks = review_blocks(card)
    assert block(blocks, "actions") == []
    last = blocks[-1]["elements"][0]["text"]
    assert expected in last
    assert "|2025-03-03T10:00:00Z>" in last
    assert last.endswith(": tone is off")


@pytest.mark.parametrize(
    ("status", "note", "expected"),
    [
        ("stale", "", "Stale: the prospect replied"),
        ("stale", "the draft changed", "Stale: the draft changed"),
        ("expired", "", "Expired: no decision was made in time"),
    ],
)
def test_stale_and_expired_cards_say_why(status: str, note: str, expected: str) -> None:
    """Stale and expired cards lose their buttons and explain what happened."""
    blocks = review_blocks(make_card(status=status, decision_note=note))
    assert block(blocks, "actions") == []
    assert blocks[-1]["elements"][0]["text"].endswith(expected)


def test_cli_decider_is_shown_as_plain_text() -> None:
    """A decision made from the CLI shows the user name, not a broken mention."""
    card = make_card(status="approved", decided_by="sam <cli>", decided_at="2025-03-03T10:00Z")
    line = review_blocks(card)[-1]["elements"][0]["text"]
    assert "Approved by sam &lt;cli&gt; at" in line and "<@" not in line


def test_unknown_status_is_rejected() -> None:
    """A card with a status outside the queue's vocabulary cannot be built."""
    with pytest.raises(InputError, match="unknown review status 'done'"):
        make_card(status="done")


def test_fallback_text_names_prospect_and_subject() -> None:
    """The notification text says a review is needed, for whom, and the subject."""
    assert fallback_text(make_card()) == (
        "Review needed: Ada Lovelace (Analytical Engines) — Your hiring push"
    )
    assert fallback_text(make_card(status="rejected")).startswith("Review rejected:")


# ----------------------------------------------------------------- modals


def test_edit_modal_prefills_subject_and_body() -> None:
    """The edit modal carries the review id and workspace, and prefilled inputs."""
    view = edit_modal(make_card())
    assert view["type"] == "modal" and view["callback_id"] == "review_edit_submit"
    assert json.loads(view["private_metadata"]) == {"review_id": "rev-42", "workspace": "acme"}
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["subject"]["initial_value"] == "Your hiring push"
    assert inputs["subject"]["multiline"] is False
    assert inputs["body"]["initial_value"] == make_card().body
    assert inputs["body"]["multiline"] is True
    assert inputs["body"]["action_id"] == "body" and inputs["subject"]["action_id"] == "subject"
    assert view_problems(view) == ""


def test_edit_modal_without_subject_for_linkedin() -> None:
    """A LinkedIn note has no subject, so the modal asks only for the message."""
    view = edit_modal(make_card(channel="linkedin", subject=""))
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["body"]


def test_edit_modal_refuses_a_body_longer_than_a_text_input() -> None:
    """A body over 3000 characters cannot be edited in Slack, and says so by name."""
    with pytest.raises(InputError, match="3001 characters"):
        edit_modal(make_card(body="x" * 3001))


def test_reject_modal_asks_for_a_reason() -> None:
    """The reject modal has one required multiline reason input and the review id."""
    view = reject_modal(make_card())
    assert view["callback_id"] == "review_reject_submit"
    assert json.loads(view["private_metadata"])["review_id"] == "rev-42"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert len(inputs) == 1 and inputs[0]["block_id"] == "reason"
    assert inputs[0]["element"]["multiline"] is True and not inputs[0].get("optional")
    assert view_problems(view) == ""


# ----------------------------------------------------------------- notifier against the fake


def test_post_sends_blocks_and_fallback_and_returns_channel_and_ts(
    fake: FakeSlackApi, notifier: SlackReviewNotifier
) -> None:
    """post() calls chat.postMessage with the card's blocks and returns channel id and ts."""
    card = make_card()
    channel_id, ts = notifier.post(card)
    assert (channel_id, ts) == ("C0REVIEWS", "1700000000.000001")
    [call] = fake.calls
    assert call.method == "chat.postMessage" and call.authorized
    assert call.content_type == "application/json"
    assert call.body["channel"] == "#reviews"
    assert call.body["text"] == fallback_text(card)
    assert call.body["blocks"] == review_blocks(card)
    assert fake.messages[(channel_id, ts)]["blocks"] == review_blocks(card)


def test_update_redraws_the_posted_card(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """update() sends chat.update for the same channel and ts with the decided card."""
    channel_id, ts = notifier.post(make_card())
    decided = make_card(status="approved", decided_by="U0BOB", decided_at="2025-03-03T10:00:00Z")
    notifier.update(decided, channel_id, ts)
    call = fake.calls_to("chat.update")[0]
    assert (call.body["channel"], call.body["ts"]) == (channel_id, ts)
    assert call.body["blocks"] == review_blocks(decided)
    assert "actions" not in {b["type"] for b in fake.messages[(channel_id, ts)]["blocks"]}


def test_update_of_an_unknown_message_is_not_found(notifier: SlackReviewNotifier) -> None:
    """Updating a message Slack does not have raises NotFound."""
    with pytest.raises(NotFound, match="message_not_found"):
        notifier.update(make_card(), "C0REVIEWS", "1.000000")


def test_open_edit_and_reject_send_views_open(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """open_edit/open_reject call views.open with the trigger id and the right modal."""
    card = make_card()
    assert notifier.open_edit("111.222.aaa", card) == "V00000001"
    assert notifier.open_reject("111.222.bbb", card) == "V00000002"
    edit, reject = fake.calls_to("views.open")
    assert edit.body == {"trigger_id": "111.222.aaa", "view": edit_modal(card)}
    assert reject.body == {"trigger_id": "111.222.bbb", "view": reject_modal(card)}


def test_reused_trigger_id_is_invalid_input(notifier: SlackReviewNotifier) -> None:
    """A trigger id can open one view only; a second use is rejected input, not retried."""
    notifier.open_edit("111.222.aaa", make_card())
    with pytest.raises(InvalidInput, match="exchanged_trigger_id"):
        notifier.open_reject("111.222.aaa", make_card())


def test_refuse_posts_an_ephemeral_message(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """refuse() tells only the clicking user, via chat.postEphemeral."""
    notifier.refuse("C0REVIEWS", "U0ALICE", "Already approved by <@U0BOB>.")
    [call] = fake.calls
    assert call.method == "chat.postEphemeral"
    assert call.body == {"channel": "C0REVIEWS", "user": "U0ALICE", "text": "Already approved by <@U0BOB>."}


def test_dm_owner_posts_to_the_user_id(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """dm_owner() posts to the user id, which Slack delivers in the app's DM channel."""
    channel_id, ts = notifier.dm_owner("U0OWNER", "Tier-1 lead replied: Ada Lovelace")
    assert channel_id == "D0OWNER" and ts
    [call] = fake.calls
    assert call.body["channel"] == "U0OWNER"
    assert call.body["text"] == "Tier-1 lead replied: Ada Lovelace"


def test_fake_answers_auth_test_and_form_bodies_like_slack(fake: FakeSlackApi) -> None:
    """auth.test returns the bot's identity (slack_bolt calls it) and form bodies are read."""
    client = WebClient(token=fake.token, base_url=fake.base_url)
    assert client.auth_test()["user_id"] == "U0BOT"
    response = client.api_call("chat.postMessage", data={"channel": "#reviews", "text": "hi"})
    assert response["channel"] == "C0REVIEWS" and response["message"]["text"] == "hi"
    call = fake.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.body == {"channel": "#reviews", "text": "hi"}


# ----------------------------------------------------------------- error mapping


def test_ratelimited_is_transient_with_retry_after(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """HTTP 429 ratelimited becomes Transient carrying Slack's Retry-After seconds."""
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(Transient, match="ratelimited") as info:
        notifier.post(make_card())
    assert info.value.retry_after == 7.0 and info.value.status == 429


def test_server_error_page_is_transient(fake: FakeSlackApi, notifier: SlackReviewNotifier) -> None:
    """A 503 with an HTML page (not JSON) is Transient and its text is not echoed."""
    fake.fail_next("*", "unused", status=503, raw_body="<html>maintenance</html>")
    with pytest.raises(Transient) as info:
        notifier.update(make_card(), "C0REVIEWS", "1.0")
    assert info.value.status == 503 and "maintenance" not in str(info.value)


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "missing_scope"])
def test_setup_errors_are_provider_config_errors(
    fake: FakeSlackApi, notifier: SlackReviewNotifier, error: str
) -> None:
    """Errors that need a person to fix the app or channel pause the channel."""
    fake.fail_next("chat.postMessage", error)
    with pytest.raises(ProviderConfigError, match=error):
        notifier.post(make_card())


@pytest.mark.parametrize(
    ("token", "error"), [("xoxb-wrong-secret-token", "invalid_auth"), ("", "not_authed")]
)
def test_bad_token_is_config_error_without_the_token(fake: FakeSlackApi, token: str, error: str) -> None:
    """A bad or missing token is a ProviderConfigError whose text never holds the token."""
    bad = SlackReviewNotifier(WebClient(token=token or None, base_url=fake.base_url), channel="#reviews")
    with pytest.raises(ProviderConfigError, match=error) as info:
        bad.post(make_card())
    assert info.value.error_class == "configuration"
    if token:
        assert token not in str(info.value) and token not in json.dumps(info.value.to_dict())
    assert fake.calls and not fake.calls[0].authorized


def test_connection_failure_is_transient() -> None:
    """Nothing listening on the port is a Transient error naming only the error type."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WebClient(token="xoxb-abc", base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[])
    with pytest.raises(Transient, match="connection error"):
        SlackReviewNotifier(client, channel="#reviews").post(make_card())


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (429, "ratelimited", Transient),
        (200, "ratelimited", Transient),
        (500, "internal_error", Transient),
        (502, "", Transient),
        (200, "invalid_auth", ProviderConfigError),
        (200, "token_revoked", ProviderConfigError),
        (200, "channel_not_found", ProviderConfigError),
        (200, "message_not_found", NotFound),
        (200, "user_not_found", NotFound),
        (200, "expired_trigger_id", InvalidInput),
        (200, "invalid_blocks", InvalidInput),
    ],
)
def test_slack_error_classification(status: int, error: str, expected: type) -> None:
    """Each Slack error code or status maps to one typed error of core.errors."""
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/x",
        req_args={"headers": {"Authorization": "Bearer xoxb-s3cret"}},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    mapped = slack_error(SlackApiError("failed", response), method="chat.update", token="xoxb-s3cret")
    assert type(mapped) is expected
    assert mapped.provider == "slack" and "xoxb-s3cret" not in str(mapped)


# ----------------------------------------------------------------- signatures


def test_valid_signature_is_accepted() -> None:
    """A request signed with the app's secret within the window verifies."""
    body, headers = signed_request(SECRET, {"type": "block_actions"}, timestamp=NOW)
    assert verify_signature(SECRET, body, headers, now=NOW + 5) is True
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_signature(SECRET, body, lower, now=NOW) is True


def test_forged_signature_is_refused() -> None:
    """A signature made with another secret, or a body changed after signing, fails."""
    body, headers = signed_request("another-secret", {"type": "block_actions"}, timestamp=NOW)
    assert verify_signature(SECRET, body, headers, now=NOW) is False
    body, headers = signed_request(SECRET, {"type": "block_actions"}, timestamp=NOW)
    assert verify_signature(SECRET, body + b"&x=1", headers, now=NOW) is False


def test_stale_timestamp_is_refused() -> None:
    """A timestamp 301 s away from now fails (replay); exactly 300 s still passes."""
    body, headers = signed_request(SECRET, {"type": "block_actions"}, timestamp=NOW)
    assert verify_signature(SECRET, body, headers, now=NOW + 301) is False
    assert verify_signature(SECRET, body, headers, now=NOW - 301) is False
    assert verify_signature(SECRET, body, headers, now=NOW + 300) is True


@pytest.mark.parametrize("drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp"])
def test_missing_signature_headers_are_refused(drop: str) -> None:
    """Without either signature header the request does not verify."""
    body, headers = signed_request(SECRET, {"type": "block_actions"}, timestamp=NOW)
    del headers[drop]
    assert verify_signature(SECRET, body, headers, now=NOW) is False
    assert verify_signature(SECRET, body, {}, now=NOW) is False


def test_malformed_timestamp_is_refused() -> None:
    """A timestamp header that is not a number fails verification instead of raising."""
    body, headers = signed_request(SECRET, {"type": "block_actions"}, timestamp=NOW)
    headers["X-Slack-Request-Timestamp"] = "yesterday"
    assert verify_signature(SECRET, body, headers, now=NOW) is False


def test_empty_signing_secret_is_a_config_error() -> None:
    """An unset signing secret is reported as configuration, not as a forged request."""
    body, headers = signed_request(SECRET, {}, timestamp=NOW)
    with pytest.raises(ConfigError, match="signing secret is empty"):
        verify_signature("", body, headers, now=NOW)


# ----------------------------------------------------------------- parse_interaction


@pytest.mark.parametrize(
    ("action_id", "action"),
    [
        ("review_approve", "approve"),
        ("review_edit", "edit"),
        ("review_reject", "reject"),
        ("review_snooze", "snooze"),
    ],
)
def test_each_button_click_parses(action_id: str, action: str) -> None:
    """A click on each card button gives its action with review, user and message ids."""
    payload = block_actions_payload(action_id, "rev-42", message_ts="1700000000.000009")
    assert parse_interaction(form(payload)) == Interaction(
        kind="block_actions",
        action=action,
        review_id="rev-42",
        workspace="",
        user_id="U0ALICE",
        user_name="alice",
        trigger_id="1234.5678.abcdef",
        channel_id="C0REVIEWS",
        message_ts="1700000000.000009",
        response_url="https://hooks.slack.com/actions/T0FAKE/1/response-url",
        team_id="T0FAKE",
    )


def test_clicks_on_the_real_card_buttons_parse() -> None:
    """The values rendered by review_blocks are the ones parse_interaction reads back."""
    buttons = block(review_blocks(make_card()), "actions")[0]["elements"]
    for button in buttons:
        payload = block_actions_payload(button["action_id"], button["value"])
        assert parse_interaction(form(payload)).review_id == "rev-42"


def test_edit_submission_parses_the_edited_draft() -> None:
    """The edit modal's submission gives the edited subject and body and the workspace."""
    view = edit_modal(make_card())
    payload = view_submission_payload(
        view["callback_id"],
        view["private_metadata"],
        {"subject": "  New subject ", "body": "Hi Ada,\n\nShorter.\n"},
    )
    result = parse_interaction(form(payload))
    assert (result.kind, result.action) == ("view_submission", "edit_submit")
    assert (result.review_id, result.workspace) == ("rev-42", "acme")
    assert result.edited_subject == "New subject"
    assert result.edited_body == "Hi Ada,\n\nShorter."
    assert (result.user_id, result.user_name, result.reason) == ("U0ALICE", "alice", "")


def test_reject_submission_parses_the_reason() -> None:
    """The reject modal's submission gives the typed reason."""
    view = reject_modal(make_card())
    payload = view_submission_payload(
        view["callback_id"], view["private_metadata"], {"reason": "Wrong persona"}
    )
    result = parse_interaction(form(payload))
    assert (result.action, result.review_id, result.reason) == ("reject_submit", "rev-42", "Wrong persona")
    assert result.edited_body == "" and result.workspace == "acme"


def test_signed_request_round_trip() -> None:
    """A signed request verifies on its raw bytes and then parses to the clicked action."""
    body, headers = signed_request(SECRET, block_actions_payload("review_snooze", "r-1"), timestamp=NOW)
    assert verify_signature(SECRET, body, headers, now=NOW)
    assert parse_interaction(body).action == "snooze"


META = json.dumps({"review_id": "rev-42", "workspace": "acme"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "exactly one payload= field"),
        (b"token=abc", "exactly one payload= field"),
        (b"payload=a&payload=b", "exactly one payload= field"),
        (b"payload=%7Bnot+json", "payload is not valid JSON"),
        (b"payload=%5B1%5D", "expected an object"),
        (b"\xff\xfe", "not a urlencoded form body"),
        (form({"type": "view_closed"}), "unsupported interaction type 'view_closed'"),
        (form({**block_actions_payload("review_approve", "r"), "actions": []}), "no actions"),
        (form(block_actions_payload("delete_everything", "r")), "unknown action_id"),
        (
            form(
                {
                    **block_actions_payload("review_approve", ""),
                    "actions": [{"action_id": "review_approve", "block_id": "x", "value": ""}],
                }
            ),
            "no review id",
        ),
        (form(view_submission_payload("other", META, {})), "unknown callback_id 'other'"),
        (
            form(view_submission_payload("review_edit_submit", "{", {"body": "x"})),
            "private_metadata is not valid JSON",
        ),
        (form(view_submission_payload("review_edit_submit", "{}", {"body": "x"})), "carries no review_id"),
        (
            form(view_submission_payload("review_edit_submit", META, {"body": "  "})),
            "edited message is empty",
        ),
        (form(view_submission_payload("review_reject_submit", META, {"reason": None})), "needs a reason"),
    ],
)
def test_malformed_interactions_raise_input_error(body: bytes, message: str) -> None:
    """Bodies that are not a usable review interaction raise InputError saying what is wrong."""
    with pytest.raises(InputError, match=message):
        parse_interaction(body)


def test_card_is_frozen() -> None:
    """Cards are immutable values; a changed card is a new one."""
    card = make_card()
    with pytest.raises(AttributeError):
        card.status = "approved"  # type: ignore[misc]
    assert replace(card, status="approved").status == "approved" and card.status == "pending"
