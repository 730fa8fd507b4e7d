"""Content family and the grounding score."""

from __future__ import annotations

import pytest

from policies.config import ContentConfig, PolicyConfig
from policies.rules import content as ct
from tests.policies.factories import BODY, Replace, make_input

CFG = PolicyConfig()
EVIDENCE = {
    "ev1": {"quote": "Acme Corp opened its new Boston office in January 2024.", "url": "u"},
    "ev2": {"quote": "Revenue grew 40% to $12,000,000 last year.", "url": "u"},
}
LI_NOTE = {"channel": "linkedin", "kind": "linkedin_connect", "step_id": "linkedin_connect"}


def with_draft(proposal=None, **draft):
    return make_input(drafts={"email_intro": draft}, proposal=proposal)


def outcome(fn, inp, cfg=CFG):
    v = fn(inp, cfg)
    return v.outcome if v else None


@pytest.mark.parametrize(
    "drafts, proposal, expected",
    [
        ({}, {}, "allow"),
        (None, {"step_id": "email_followup"}, "deny"),
        (None, {"action": "request_review", "step_id": "email_followup"}, "deny"),
        (None, {**LI_NOTE, "step_id": None}, "allow"),
        ({"email_intro": {"channel": "linkedin"}}, {}, "deny"),
        ({}, {"action": "draft"}, None),
    ],
    ids=["stored", "missing", "missing-for-review", "connect-without-note", "wrong-channel", "draft-action"],
)
def test_draft_present(drafts, proposal, expected):
    """A message is sent or reviewed only with a stored draft on its own channel."""
    inp = make_input(drafts=drafts or {}, proposal=proposal)
    assert outcome(ct.draft_present, inp) == expected


@pytest.mark.parametrize(
    "body, sender, expected",
    [
        (BODY, {}, "allow"),
        (
            BODY.replace(
                "Not interested? Unsubscribe here: https://ledgerly.example/unsubscribe",
                "https://ledgerly.example/unsubscribe",
            ),
            {},
            "deny",
        ),
        (BODY.replace("548 Market St #41200, ", ""), {}, "deny"),
        (
            BODY.replace("548 Market St #41200, San Francisco", "548 Market St #41200\nSan Francisco"),
            {},
            "allow",
        ),
        (BODY, {"postal_address": ""}, "deny"),
    ],
    ids=["both", "link-only-is-not-a-line", "partial-address", "address-reflowed", "no-address-on-record"],
)
def test_content_opt_out(body, sender, expected):
    """Email needs an opt-out line in words and the sender's full postal address."""
    inp = make_input(drafts={"email_intro": {"body": body}}, sender=sender)
    assert outcome(ct.content_opt_out, inp) == expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        (
            {
                "List-Unsubscribe": "<https://x.example/u>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "allow",
        ),
        (
            {
                "list-unsubscribe": "<https://x.example/u>",
                "list-unsubscribe-post": "List-Unsubscribe=One-Click",
            },
            "allow",
        ),
        (
            {
                "List-Unsubscribe": "<mailto:u@x.example>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "deny",
        ),
        ({"List-Unsubscribe": "<https://x.example/u>"}, "deny"),
        ({}, "deny"),
    ],
    ids=["rfc8058", "case-insensitive-names", "mailto-only", "no-post-header", "none"],
)
def test_content_list_unsubscribe(headers, expected):
    """Email carries RFC 8058 List-Unsubscribe (https) and List-Unsubscribe-Post headers."""
    inp = make_input(drafts={"email_intro": {"headers": Replace(headers)}})
    assert outcome(ct.content_list_unsubscribe, inp) == expected


EARLIER = [{"step_id": "email_intro", "channel": "email", "kind": "email", "at": "2024-03-01T15:00:00Z"}]


@pytest.mark.parametrize(
    "subject, in_reply_to, touches, expected",
    [
        ("Closing faster at Acme", False, [], "allow"),
        ("Re: our call", False, [], "deny"),
        ("FWD: numbers", False, EARLIER, "deny"),
        ("Re: Closing faster at Acme", True, [], "deny"),
        ("Re: Closing faster at Acme", True, EARLIER, "allow"),
        ("Regarding Acme", False, [], "allow"),
    ],
    ids=[
        "plain",
        "fake-re",
        "fake-fwd-no-thread",
        "thread-header-without-earlier-email",
        "real-follow-up",
        "word-starting-with-re",
    ],
)
def test_content_honest_subject(subject, in_reply_to, touches, expected):
    """'Re:'/'Fwd:' only on a real follow-up with In-Reply-To after an earlier email."""
    headers = {"In-Reply-To": "<m1@ledgerly.example>"} if in_reply_to else {}
    inp = make_input(drafts={"email_intro": {"subject": subject, "headers": headers}}, touches=touches)
    assert outcome(ct.content_honest_subject, inp) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("We help finance teams close faster.", "allow"),
        ("Results guaranteed.", "deny"),
        ("We are the #1 close tool.", "deny"),
        ("A RISK-FREE pilot.", "deny"),
        ("Call me at #12 Main.", "allow"),
    ],
    ids=["clean", "guaranteed", "number-one-sign", "case-insensitive", "not-#1"],
)
def test_content_banned_phrases(text, expected):
    """Banned phrases and unsubstantiated claims are denied, matched as whole phrases."""
    assert outcome(ct.content_banned_phrases, with_draft(body=text)) == expected


@pytest.mark.parametrize(
    "text, ids, expected",
    [
        ("Saw that Acme Corp opened a Boston office in January.", ["ev1"], "allow"),
        ("Saw that Acme Corp opened a Chicago office in January.", ["ev1"], "deny"),
        ("Congrats on growing revenue 40% last year.", ["ev2"], "allow"),
        ("Congrats on growing revenue 45% last year.", ["ev2"], "deny"),
        ("Revenue reached $12,000,000, impressive.", ["ev2"], "allow"),
        ("Dana, saw the Boston news.", ["ev1"], "allow"),
        ("Saw the Boston news.", [], "deny"),
        ("Saw the Boston news.", ["ev9"], "deny"),
        ("Acme's Boston office and 40% growth.", ["ev1", "ev2"], "allow"),
    ],
    ids=[
        "grounded",
        "invented-city",
        "number-found",
        "invented-number",
        "amount-with-commas",
        "prospect-name-allowed",
        "no-citation",
        "unknown-evidence-id",
        "two-sources-possessive",
    ],
)
def test_content_grounding(text, ids, expected):
    """Personal sentences cite existing evidence, and their names and numbers are in it."""
    inp = make_input(
        evidence=EVIDENCE,
        drafts={"email_intro": {"sentences": [{"text": text, "evidence_ids": ids, "personal": True}]}},
    )
    assert outcome(ct.content_grounding, inp) == expected


@pytest.mark.parametrize(
    "sentences, expected",
    [
        ([], 1.0),
        ([{"text": "We help Finance teams.", "evidence_ids": [], "personal": False}], 1.0),
        ([{"text": "Saw the Boston news.", "evidence_ids": ["ev1"], "personal": True}], 1.0),
        ([{"text": "Saw the Boston news.", "evidence_ids": [], "personal": True}], 0.0),
        ([{"text": "Saw Boston and Chicago news.", "evidence_ids": ["ev1"], "personal": True}], 0.5),
        (
            [
                {"text": "Saw the Boston news.", "evidence_ids": ["ev1"], "personal": True},
                {"text": "Saw the Denver news.", "evidence_ids": ["ev1"], "personal": True},
            ],
            0.5,
        ),
    ],
    ids=["none", "non-personal-ignored", "grounded", "uncited", "half-tokens", "mean-of-sentences"],
)
def test_grounding_score(sentences, expected):
    """grounding_score is the mean share of backed names and numbers per personal sentence."""
    assert ct.grounding_score(sentences, EVIDENCE) == pytest.approx(expected)


@pytest.mark.parametrize(
    "subject, body, expected",
    [
        ("Hi", "Hello Dana", "allow"),
        ("Hi {{first_name}}", "Hello", "deny"),
        ("Hi", "Hello [FIRST_NAME],", "deny"),
        ("Hi", "Hello {first_name},", "deny"),
        ("Hi", "About {{ company.name }}", "deny"),
        ("Hi", "Hello <<Name>>", "deny"),
        ("Hi", "Hello Dana (see [1])", "allow"),
    ],
    ids=[
        "clean",
        "jinja-subject",
        "bracket-caps",
        "python-format",
        "jinja-spaced",
        "angle",
        "footnote-not-placeholder",
    ],
)
def test_content_placeholders(subject, body, expected):
    """Unresolved placeholders in subject or body are denied."""
    assert outcome(ct.content_placeholders, with_draft(subject=subject, body=body)) == expected


@pytest.mark.parametrize(
    "proposal, draft, expected",
    [
        (
            LI_NOTE,
            {"channel": "linkedin", "kind": "linkedin_connect", "body": "x" * 300, "subject": ""},
            "allow",
        ),
        (
            LI_NOTE,
            {"channel": "linkedin", "kind": "linkedin_connect", "body": "x" * 301, "subject": ""},
            "deny",
        ),
        ({}, {"body": "x" * 2000}, "allow"),
        ({}, {"body": "x" * 2001}, "deny"),
        ({}, {"subject": "s" * 91}, "deny"),
    ],
    ids=["li-note-at-300", "li-note-301", "email-at-limit", "email-over", "subject-over"],
)
def test_content_length(proposal, draft, expected):
    """Bodies and subjects stay within the per-kind limits."""
    inp = make_input(drafts={"email_intro": draft, "linkedin_connect": draft}, proposal=proposal)
    assert outcome(ct.content_length, inp) == expected


@pytest.mark.parametrize(
    "body, links, allow, expected",
    [
        ("See https://ledgerly.example/case.", [], (), "allow"),
        ("See https://go.ledgerly.example/x", [], (), "allow"),
        ("See https://bit.ly/abc", [], (), "deny"),
        ("See www.evil.example/x", [], (), "deny"),
        ("Plain text", ["https://g2.com/ledgerly"], ("g2.com",), "allow"),
        ("Plain text", ["https://g2.com.evil.example/"], ("g2.com",), "deny"),
        ("Plain text", [], (), "allow"),
    ],
    ids=[
        "sender-domain",
        "sender-subdomain",
        "shortener",
        "bare-www",
        "allowlisted",
        "lookalike-host",
        "no-links",
    ],
)
def test_content_links(body, links, allow, expected):
    """Links go only to allowlisted domains or the sender's own."""
    cfg = PolicyConfig(content=ContentConfig(link_allowlist=allow))
    assert outcome(ct.content_links, with_draft(body=body, links=links), cfg) == expected


@pytest.mark.parametrize(
    "proposal, draft, expected",
    [
        ({}, {"recipient": "Dana@Acme.com"}, "allow"),
        ({}, {"recipient": "ceo@acme.com"}, "deny"),
        ({}, {"recipient": ""}, "deny"),
        (LI_NOTE, {"channel": "linkedin", "recipient": "linkedin.com/in/danareyes/"}, "allow"),
        (LI_NOTE, {"channel": "linkedin", "recipient": "https://linkedin.com/in/someoneelse"}, "deny"),
        (
            {"channel": "direct_mail", "kind": "direct_mail"},
            {"channel": "direct_mail", "recipient": "p1"},
            "allow",
        ),
    ],
    ids=[
        "email-case-insensitive",
        "other-person",
        "missing",
        "linkedin-normalised",
        "linkedin-other",
        "direct-mail-by-id",
    ],
)
def test_content_recipient(proposal, draft, expected):
    """The draft's recipient is the prospect on record."""
    inp = make_input(drafts={"email_intro": draft, "linkedin_connect": draft}, proposal=proposal)
    assert outcome(ct.content_recipient, inp) == expected
