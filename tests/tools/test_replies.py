"""The rule-based reply classifier: kinds, precedence, confidence, dates and referrals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tools.replies import KINDS, classify_reply, extract_referral, parse_return_date

UTC = UTC
THURSDAY = datetime(2025, 11, 27, 15, 0, tzinfo=UTC)

KIND_CASES = [
    # interested / meeting
    pytest.param("Yes, I'm interested. Tell me more.", "interested", id="interested"),
    pytest.param(
        "Sounds interesting - could you send over some more details?",
        "interested",
        id="interested-more-details",
    ),
    pytest.param(
        "Sounds great, let's set up a call next week. What time works for you?",
        "meeting",
        id="meeting-set-up-call",
    ),
    pytest.param("Can you send me a calendar invite for Tuesday?", "meeting", id="meeting-calendar-invite"),
    pytest.param("Yes please, send the deck.", "interested", id="interested-send-deck"),
    pytest.param("Happy to chat. How about Thursday at 2pm?", "meeting", id="meeting-proposed-day"),
    pytest.param("Gerne, lass uns einen Termin vereinbaren.", "meeting", id="meeting-german"),
    # not interested
    pytest.param("Not interested, thanks.", "not_interested", id="not-interested"),
    pytest.param("We have no interest in this.", "not_interested", id="no-interest"),
    pytest.param("We already use Salesforce and are happy with it.", "not_interested", id="already-use"),
    pytest.param("No thanks, not a fit for us.", "not_interested", id="no-thanks-not-a-fit"),
    pytest.param("Kein Interesse.", "not_interested", id="german-kein-interesse"),
    pytest.param("Pas intéressé, merci.", "not_interested", id="french-pas-interesse"),
    # unsubscribe
    pytest.param("Please unsubscribe me.", "unsubscribe", id="unsubscribe"),
    pytest.param("Don't contact me again.", "unsubscribe", id="dont-contact-me"),
    pytest.param("Remove me from your list", "unsubscribe", id="remove-me"),
    pytest.param("STOP", "unsubscribe", id="stop"),
    pytest.param(
        "Not interested. Please stop emailing me.", "unsubscribe", id="unsubscribe-beats-not-interested"
    ),
    # out of office / auto reply
    pytest.param(
        "Automatic reply: I'm out of office and back on Monday 2 December.",
        "out_of_office",
        id="ooo-beats-auto-reply",
    ),
    pytest.param(
        "Abwesenheitsnotiz: Ich bin bis zum 3. Dezember nicht im Büro.", "out_of_office", id="ooo-german"
    ),
    pytest.param("Je suis absent du bureau jusqu'au 3 décembre.", "out_of_office", id="ooo-french"),
    pytest.param(
        "Thank you for your email. This is an automated response. We have received "
        "your message and will reply within 2 business days.",
        "auto_reply",
        id="auto-reply",
    ),
    pytest.param("This mailbox is no longer monitored.", "auto_reply", id="auto-reply-unmonitored"),
    # wrong person / referral
    pytest.param("I'm not the right person for this.", "wrong_person", id="wrong-person"),
    pytest.param("Sorry, Bob is no longer with the company.", "wrong_person", id="wrong-person-left"),
    pytest.param(
        "I'm not the right person, please contact Jane Smith (jane.smith@acme.example).",
        "referral",
        id="referral-beats-wrong-person",
    ),
    pytest.param("I've cc'd my colleague Tom Baker who handles procurement.", "referral", id="referral-cc"),
    pytest.param(
        "I'm not the right person but I'm interested - please contact Jane Smith.",
        "referral",
        id="referral-beats-interested",
    ),
    # unclear
    pytest.param("Thanks for reaching out.", "unclear", id="unclear-thanks"),
    pytest.param("Who is this?", "unclear", id="unclear-question"),
    pytest.param("I'm not sure I'm interested.", "unclear", id="negated-interest-unclear"),
    # quoted history is ignored
    pytest.param(
        "Let's talk! I'm free on Tuesday at 3pm.\n\nOn Mon, Nov 24, 2025 at 10:00 AM "
        "Sales <s@x.example> wrote:\n> Not interested? Unsubscribe here.",
        "meeting",
        id="quoted-history-ignored",
    ),
]


@pytest.mark.parametrize(("text", "kind"), KIND_CASES)
def test_reply_kind(text, kind):
    """Each reply gets the kind its strongest, highest-precedence signal says."""
    result = classify_reply(text, received_at=THURSDAY)
    assert result.kind == kind
    assert result.kind in KINDS
    assert 0.0 <= result.confidence <= 1.0
    assert result.needs_review is (result.confidence < 0.6)
    if kind != "unclear":
        assert result.matched


CONFIDENT_CASES = [
    pytest.param("Not interested, thanks.", id="plain-no"),
    pytest.param("Please unsubscribe me.", id="plain-unsubscribe"),
    pytest.param("Yes, I'm interested. Tell me more.", id="plain-yes"),
    pytest.param("Ok, please remove me.", id="weak-ok-does-not-conflict"),
]


@pytest.mark.parametrize("text", CONFIDENT_CASES)
def test_clear_replies_are_confident(text):
    """A reply with one clear signal does not need review."""
    assert not classify_reply(text, received_at=THURSDAY).needs_review


LOW_CONFIDENCE_CASES = [
    pytest.param(
        "Interested, but please remove me from this list.", "unsubscribe", id="interested-and-unsubscribe"
    ),
    pytest.param(
        "Not interested right now, but send me more info for next quarter.",
        "not_interested",
        id="no-but-send-info",
    ),
    pytest.param("Let's schedule a call. Actually, not interested.", "not_interested", id="meeting-then-no"),
    pytest.param(
        "I'll be out next week but let's set up a call after that.", "out_of_office", id="away-and-meeting"
    ),
    pytest.param("Sure", "interested", id="weak-single-word"),
    pytest.param("Hmm.", "unclear", id="nothing-matched"),
    pytest.param("", "unclear", id="empty"),
]


@pytest.mark.parametrize(("text", "kind"), LOW_CONFIDENCE_CASES)
def test_conflicting_or_weak_replies_need_review(text, kind):
    """Conflicting signals or weak/no matches give confidence below 0.6."""
    result = classify_reply(text, received_at=THURSDAY)
    assert result.kind == kind
    assert result.confidence < 0.6
    assert result.needs_review


RETURN_DATE_CASES = [
    pytest.param(
        "Out of office. Back on Monday 2 December.", None, date(2025, 12, 2), id="weekday-day-month"
    ),
    pytest.param(
        "I'm out of the office, returning 12/03.", None, date(2025, 12, 3), id="slash-nearest-coming-date"
    ),
    pytest.param(
        "I'm out of the office, returning 12/03.",
        "America/New_York",
        date(2025, 12, 3),
        id="slash-month-first-in-us",
    ),
    pytest.param(
        "I'm out of the office, returning 12/03.",
        "Europe/Berlin",
        date(2026, 3, 12),
        id="slash-day-first-in-europe",
    ),
    pytest.param("I am out of the office until 3rd December.", None, date(2025, 12, 3), id="until-ordinal"),
    pytest.param("On vacation, back on 2026-12-02.", None, date(2026, 12, 2), id="iso"),
    pytest.param("OOO - out until Dec 3.", None, date(2025, 12, 3), id="month-day"),
    pytest.param(
        "I'm away from the office and will be back on Monday.", None, date(2025, 12, 1), id="relative-weekday"
    ),
    pytest.param("Out of office until next week.", None, date(2025, 12, 1), id="next-week"),
    pytest.param("Out of office, back tomorrow.", None, date(2025, 11, 28), id="tomorrow"),
    pytest.param("Out of office from 25 November to 4 December.", None, date(2025, 12, 4), id="range-end"),
    pytest.param("On annual leave, returning January 5th.", None, date(2026, 1, 5), id="next-year"),
    pytest.param(
        "Abwesenheitsnotiz: Ich bin vom 25.11. bis 3.12. nicht im Büro.",
        None,
        date(2025, 12, 3),
        id="german-dotted-range",
    ),
    pytest.param(
        "Ab Montag, 1. Dezember bin ich wieder im Büro. Abwesenheitsnotiz.",
        None,
        date(2025, 12, 1),
        id="german-anchor-after",
    ),
    pytest.param(
        "Je suis absent du bureau, de retour le 1er décembre.", None, date(2025, 12, 1), id="french"
    ),
    pytest.param("I'm on parental leave until March 2026.", None, date(2026, 3, 1), id="month-and-year"),
    pytest.param(
        "Out of office. I will return on Dec. 8th, 2025.",
        None,
        date(2025, 12, 8),
        id="abbreviated-month-with-year",
    ),
    pytest.param("I am currently out of office with limited access to email.", None, None, id="no-date"),
]


@pytest.mark.parametrize(("text", "tz", "expected"), RETURN_DATE_CASES)
def test_out_of_office_return_date(text, tz, expected):
    """Out-of-office replies carry the return date they name (None when absent)."""
    result = classify_reply(text, received_at=THURSDAY, tz=tz)
    assert result.kind == "out_of_office"
    assert result.return_date == expected


WEEKDAY_TZ_CASES = [
    pytest.param(None, date(2025, 12, 1), id="utc-still-sunday"),
    pytest.param("Europe/Berlin", date(2025, 12, 8), id="berlin-already-monday"),
    pytest.param("Not/AZone", date(2025, 12, 1), id="unknown-zone-is-utc"),
]


@pytest.mark.parametrize(("tz", "expected"), WEEKDAY_TZ_CASES)
def test_relative_weekday_uses_the_local_day(tz, expected):
    """A weekday name is the next such day after the local date of receipt."""
    sunday_late = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)
    assert parse_return_date("Out of office, back Monday.", received_at=sunday_late, tz=tz) == expected


REFERRAL_CASES = [
    pytest.param(
        "I'm not the right person, please contact Jane Smith (jane.smith@acme.example).",
        {"name": "Jane Smith", "email": "jane.smith@acme.example"},
        id="name-and-email",
    ),
    pytest.param(
        "Bob has left the company. You could reach out to Maria Gonzalez at maria@acme.example instead.",
        {"name": "Maria Gonzalez", "email": "maria@acme.example"},
        id="reach-out-to",
    ),
    pytest.param(
        "Actually Jane Doe is the right person for this - jane.doe@acme.example",
        {"name": "Jane Doe", "email": "jane.doe@acme.example"},
        id="name-before-role",
    ),
    pytest.param(
        "The right person is Priya Patel.", {"name": "Priya Patel", "email": None}, id="right-person-is"
    ),
    pytest.param(
        "Not my area - please email procurement@acme.example.",
        {"name": None, "email": "procurement@acme.example"},
        id="email-only",
    ),
    pytest.param(
        "No longer with Acme. Try sarah.lee@acme.example",
        {"name": None, "email": "sarah.lee@acme.example"},
        id="try-address",
    ),
    pytest.param(
        "Not the right contact. Please contact Jane.\n\nBest,\nBob\nbob@acme.example",
        {"name": "Jane", "email": None},
        id="signature-email-not-taken",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFERRAL_CASES)
def test_referral_extraction(text, expected):
    """A referral names the person (and address) the reply points us to."""
    result = classify_reply(text, received_at=THURSDAY)
    assert result.kind == "referral"
    assert result.referral == expected
    assert extract_referral(text) == expected


NO_REFERRAL_CASES = [
    pytest.param("I'm not the right person for this.", id="bare"),
    pytest.param("Thanks for your email Jane, I'm not the right person.", id="thanks-email-name"),
]


@pytest.mark.parametrize("text", NO_REFERRAL_CASES)
def test_wrong_person_without_a_target_has_no_referral(text):
    """A wrong-person reply that names no one to contact has no referral target."""
    result = classify_reply(text, received_at=THURSDAY)
    assert (result.kind, result.referral) == ("wrong_person", None)


def test_matched_lists_the_phrases():
    """The matched phrases are reported for the decision log."""
    result = classify_reply("Not interested. Please stop emailing me.", received_at=THURSDAY)
    assert "stop emailing" in result.matched and "not interested" in result.matched
    assert result.signals == ("unsubscribe", "not_interested")
