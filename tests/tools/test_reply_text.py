"""Replies are read as the prospect's own words: quoted history in the formats real mail
clients write (Outlook in six languages, Gmail, Apple Mail, mobile), signatures and the
text we sent them are removed before any classifier runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tools.replies import classify_reply, prospect_text

RECEIVED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

# What we sent, as the template drafter writes it (body and footer).
OURS = (
    "Hi Anna,\n\nI noticed Acme is hiring three finance analysts this quarter, which usually "
    "means month-end close is getting heavier.\n\nWould a 15-minute call next week be useful?\n\n"
    "--\nTom Baker, Account Executive\nAgency Ltd, 1 Main Street, Springfield, IL 62701, USA\n"
    'Not relevant? Reply "unsubscribe" or visit https://agency.example/unsub and we will not '
    "contact you again. You can object to our use of your details for outreach at any time."
)


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def outlook(reply: str, sign_off: str, headers: tuple[str, str, str, str], date: str) -> str:
    """An Outlook desktop reply: the answer, a sign-off, then the localised header block
    and our message unmarked below it."""
    frm, sent, to, subject = headers
    return (
        f"{reply}\n\n{sign_off}\n\n{frm}: Tom Baker <tom@agency.example>\n{sent}: {date}\n"
        f"{to}: Anna <anna@acme.example>\n{subject}: Finance team at Acme\n\n{OURS}"
    )


OUTLOOK_CASES = [
    pytest.param(
        outlook(
            "Sounds interesting, tell me more.",
            "Best regards,\nAnna Svensson",
            ("From", "Sent", "To", "Subject"),
            "Monday, November 23, 2026 3:00 PM",
        ),
        "Sounds interesting, tell me more.",
        "interested",
        id="outlook-en",
    ),
    pytest.param(
        outlook(
            "Klingt interessant, schicken Sie mir bitte mehr Informationen.",
            "Mit freundlichen Grüßen\nJonas Weber",
            ("Von", "Gesendet", "An", "Betreff"),
            "Montag, 23. November 2026 15:00",
        ),
        "Klingt interessant, schicken Sie mir bitte mehr Informationen.",
        "interested",
        id="outlook-de",
    ),
    pytest.param(
        outlook(
            "Ça m'intéresse, pouvons-nous fixer un rendez-vous ?",
            "Cordialement,\nClaire Dubois",
            ("De ", "Envoyé ", "À ", "Objet "),
            "lundi 23 novembre 2026 15:00",
        ),
        "Ça m'intéresse, pouvons-nous fixer un rendez-vous ?",
        "meeting",
        id="outlook-fr",
    ),
    pytest.param(
        outlook(
            "Yes, interested - let's schedule a call next week.",
            "Met vriendelijke groet,\nDaan de Vries",
            ("Van", "Verzonden", "Aan", "Onderwerp"),
            "maandag 23 november 2026 15:00",
        ),
        "Yes, interested - let's schedule a call next week.",
        "meeting",
        id="outlook-nl",
    ),
    pytest.param(
        outlook(
            "Sounds good, I'm interested. Send me more details.",
            "Med vänliga hälsningar\nAnna Lind",
            ("Från", "Skickat", "Till", "Ämne"),
            "den 23 november 2026 15:00",
        ),
        "Sounds good, I'm interested. Send me more details.",
        "interested",
        id="outlook-sv",
    ),
    pytest.param(
        outlook(
            "Interested! Can we set up a call on Tuesday?",
            "Saludos,\nLucía García",
            ("De", "Enviado", "Para", "Asunto"),
            "lunes, 23 de noviembre de 2026 15:00",
        ),
        "Interested! Can we set up a call on Tuesday?",
        "meeting",
        id="outlook-es",
    ),
]

OTHER_CLIENT_CASES = [
    pytest.param(
        "Yes, interested. What time works for you?\n\nOn Mon, Nov 23, 2026 at 3:00 PM Tom Baker "
        "<tom@agency.example>\nwrote:\n\n" + quoted(OURS),
        "Yes, interested. What time works for you?",
        "meeting",
        id="gmail-wrapped-header",
    ),
    pytest.param(
        "Sounds great, let's set up a call.\n\nOn 23 Nov 2026, at 15:00, Tom Baker "
        "<tom@agency.example> wrote:\n\n" + quoted(OURS),
        "Sounds great, let's set up a call.",
        "meeting",
        id="apple-mail",
    ),
    pytest.param(
        "Interested, let's talk tomorrow.\n\nSent from my iPhone\n\nOn Nov 23, 2026, at 3:00 PM, "
        "Tom Baker <tom@agency.example> wrote:\n\n" + quoted(OURS),
        "Interested, let's talk tomorrow.",
        "interested",
        id="iphone",
    ),
    pytest.param(
        "Interested, tell me more\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n"
        "________________________________\nFrom: Tom Baker <tom@agency.example>\n"
        "Sent: Monday, November 23, 2026 3:00:00 PM\nTo: Anna <anna@acme.example>\n"
        "Subject: Finance team at Acme\n\n" + OURS,
        "Interested, tell me more",
        "interested",
        id="outlook-mobile",
    ),
    pytest.param(
        "On Mon, Nov 23, 2026 at 3:00 PM Tom Baker <tom@agency.example> wrote:\n"
        + quoted(OURS)
        + "\n\nSounds good, let's talk.",
        "Sounds good, let's talk.",
        "interested",
        id="bottom-posted",
    ),
]


@pytest.mark.parametrize(("raw", "own", "kind"), OUTLOOK_CASES + OTHER_CLIENT_CASES)
def test_only_the_prospects_words_are_classified(raw: str, own: str, kind: str) -> None:
    """The prospect's text is exactly what they wrote above the quote, and its class is
    theirs: our quoted footer ("Reply unsubscribe") never makes it an unsubscribe."""
    assert prospect_text(raw, [OURS]) == own
    result = classify_reply(raw, received_at=RECEIVED, sent_texts=[OURS])
    assert result.kind == kind
    assert "unsubscribe" not in result.signals


@pytest.mark.parametrize(
    ("headers", "date"),
    [
        (("Van", "Verzonden", "Aan", "Onderwerp"), "maandag 23 november 2026 15:00"),
        (("Från", "Skickat", "Till", "Ämne"), "den 23 november 2026 15:00"),
        (("De", "Enviado", "Para", "Asunto"), "lunes, 23 de noviembre de 2026 15:00"),
    ],
    ids=["nl", "sv", "es"],
)
def test_native_language_positive_reply_is_not_an_unsubscribe(
    headers: tuple[str, str, str, str], date: str
) -> None:
    """A positive reply in Dutch, Swedish or Spanish (no rule knows those words) quoting our
    footer is unclear and goes to a human, never an unsubscribe, even without sent_texts."""
    reply, sign_off = {
        "Van": (
            "Klinkt goed, ik ben geïnteresseerd. Laten we volgende week bellen.",
            "Met vriendelijke groet,\nDaan",
        ),
        "Från": ("Låter bra, jag är intresserad. Vi kan ringas nästa vecka.", "Vänliga hälsningar\nAnna"),
        "De": ("Suena bien, me interesa. Hablamos la semana que viene.", "Saludos,\nLucía"),
    }[headers[0]]
    raw = outlook(reply, sign_off, headers, date)
    for sent in ([OURS], []):
        result = classify_reply(raw, received_at=RECEIVED, sent_texts=sent)
        assert result.kind == "unclear" and result.needs_review
        assert prospect_text(raw, sent) == reply


def test_unmarked_quote_of_our_text_is_removed_by_what_we_sent() -> None:
    """A client that pastes our message without any header or quote marks: the runs of our
    own sent text are removed, so only "Interested!" is theirs."""
    raw = "Interested!\n\n" + OURS.replace("--\n", "")
    assert classify_reply(raw, received_at=RECEIVED).kind == "unsubscribe"  # without what we sent
    assert prospect_text(raw, [OURS]) == "Interested!"
    assert classify_reply(raw, received_at=RECEIVED, sent_texts=[OURS]).kind == "interested"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            outlook(
                "Please remove me from your list.",
                "Daan",
                ("Van", "Verzonden", "Aan", "Onderwerp"),
                "maandag 23 november 2026 15:00",
            ),
            id="own-words-nl-outlook",
        ),
        pytest.param(
            outlook(
                "Thanks, but please take me off your list.",
                "Anna",
                ("From", "Sent", "To", "Subject"),
                "Monday, November 23, 2026 3:00 PM",
            ),
            id="sign-off-word-then-request",
        ),
        pytest.param("Unsubscribe\n\nSent from my iPhone\n\n" + quoted(OURS), id="mobile"),
    ],
)
def test_unsubscribe_when_the_prospects_own_text_says_so(raw: str) -> None:
    """An unsubscribe written by the prospect is found even when a sign-off word starts the
    line ("Thanks, but ...") and our footer is quoted below it."""
    assert classify_reply(raw, received_at=RECEIVED, sent_texts=[OURS]).kind == "unsubscribe"


def test_a_forward_without_comment_has_no_words_of_the_prospect() -> None:
    """A message that is only our quoted email says nothing: empty text, unclear at 0."""
    raw = (
        "From: Tom Baker <tom@agency.example>\nSent: Monday, November 23, 2026 3:00 PM\n"
        "To: Anna <anna@acme.example>\nSubject: Finance team at Acme\n\n" + OURS
    )
    assert prospect_text(raw, [OURS]) == ""
    assert prospect_text(raw) == ""
    result = classify_reply(raw, received_at=RECEIVED)
    assert (result.kind, result.confidence) == ("unclear", 0.0)


def test_signature_is_removed_but_a_closing_with_words_is_kept() -> None:
    """A closing block ("Best regards,\\nAnna\\nCFO ...") is cut; the sentences above stay."""
    raw = "Let's set up a call on Thursday.\n\nBest regards,\nAnna Svensson\nCFO, Acme AB\n+46 8 123 456"
    assert prospect_text(raw) == "Let's set up a call on Thursday."


def test_out_of_office_return_date_read_from_own_text_only() -> None:
    """An OOO auto-reply quoting our email (which mentions "next week") takes its return
    date from the prospect's own lines."""
    raw = (
        "I am out of office until 2 December with limited access to email.\n\n"
        "Van: Tom Baker <tom@agency.example>\nVerzonden: maandag 23 november 2026 15:00\n"
        "Aan: Daan <daan@acme.example>\nOnderwerp: Finance team at Acme\n\n" + OURS
    )
    result = classify_reply(raw, received_at=RECEIVED, sent_texts=[OURS])
    assert result.kind == "out_of_office"
    assert result.return_date is not None and result.return_date.isoformat() == "2026-12-02"


def test_postscript_below_the_signature_is_the_prospects() -> None:
    """A "P.S." after the sign-off is kept, so a request made there is honoured."""
    raw = "Thanks for the note.\n\nBest regards,\nAnna\nCFO, Acme AB\n\nP.S. please remove me from your list"
    assert prospect_text(raw) == "Thanks for the note.\n\nP.S. please remove me from your list"
    assert classify_reply(raw, received_at=RECEIVED).kind == "unsubscribe"
