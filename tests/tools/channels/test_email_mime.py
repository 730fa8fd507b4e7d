"""The pure RFC 5322 builder shared by SMTP and the file outbox."""

from __future__ import annotations

import email
from email.policy import default as default_policy

from tests.tools.channels.factories import (
    KEY,
    POSTAL_ADDRESS,
    UNSUBSCRIBE_URL,
    make_message,
    make_sender,
)
from tools.channels.email_mime import build_email, message_id, text_to_html


def _roundtrip(mail):
    return email.message_from_bytes(mail.as_bytes(), policy=default_policy)


def test_message_id_is_derived_from_the_idempotency_key():
    """The Message-ID is `<key[:32]@domain>` and the same for the same key."""
    first = build_email(make_message(), domain="mail.acme.example")
    second = build_email(make_message(), domain="mail.acme.example")
    assert first["Message-ID"] == f"<{KEY[:32]}@mail.acme.example>"
    assert first["Message-ID"] == second["Message-ID"]


def test_message_id_replaces_characters_not_allowed_in_an_id():
    """Spaces and angle brackets in a key cannot break the Message-ID syntax."""
    assert message_id("a b<c>@d", domain="x.example") == "<a-b-c--d@x.example>"


def test_headers_carry_addresses_subject_and_the_given_date():
    """From, To, Subject and Date come from the message and its metadata date."""
    parsed = _roundtrip(build_email(make_message(), domain="acme.example"))
    assert parsed["From"].addresses[0].addr_spec == "ada@acme.example"
    assert parsed["From"].addresses[0].display_name == "Ada Lovelace"
    assert parsed["To"].addresses[0].addr_spec == "grace@example.com"
    assert parsed["Subject"] == "Platform hiring at Example Corp"
    assert parsed["Date"].datetime.isoformat() == "2025-03-04T15:30:00+00:00"


def test_one_click_unsubscribe_headers_follow_rfc_8058():
    """List-Unsubscribe has the https URL then the mailto, with the One-Click POST header."""
    parsed = _roundtrip(build_email(make_message(), domain="acme.example"))
    assert parsed["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE_URL}>, <mailto:unsubscribe@acme.example?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_click_header_needs_an_https_url():
    """A mailto-only sender gets List-Unsubscribe but no One-Click POST header."""
    message = make_message(sender=make_sender(unsubscribe_url="", unsubscribe_mailto="out@acme.example"))
    mail = build_email(message, domain="acme.example")
    assert mail["List-Unsubscribe"] == "<mailto:out@acme.example>"
    assert mail["List-Unsubscribe-Post"] is None


def test_first_touch_has_no_reply_headers():
    """A message without thread data never claims to be a reply."""
    mail = build_email(make_message(), domain="acme.example")
    assert mail["In-Reply-To"] is None
    assert mail["References"] is None


def test_follow_up_carries_in_reply_to_and_references():
    """A real follow-up threads under the earlier message."""
    thread = {"in_reply_to": "<first@acme.example>", "references": "<zero@acme.example> <first@acme.example>"}
    mail = build_email(make_message(thread=thread), domain="acme.example")
    assert mail["In-Reply-To"] == "<first@acme.example>"
    assert mail["References"] == "<zero@acme.example> <first@acme.example>"


def test_references_default_to_in_reply_to():
    """A follow-up given only In-Reply-To also gets References with that id."""
    mail = build_email(make_message(thread={"in_reply_to": "<first@acme.example>"}), domain="acme.example")
    assert mail["References"] == "<first@acme.example>"


def test_body_is_multipart_alternative_with_escaped_html():
    """Plain text is kept as written and the generated HTML escapes it and links URLs."""
    parsed = _roundtrip(build_email(make_message(), domain="acme.example"))
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content()
    html_part = parsed.get_body(("html",)).get_content()
    assert f"Unsubscribe: {UNSUBSCRIBE_URL}" in plain
    assert POSTAL_ADDRESS in plain
    assert "SREs &amp; a platform lead" in html_part
    assert f'<a href="{UNSUBSCRIBE_URL}">' in html_part
    assert POSTAL_ADDRESS in html_part


def test_given_html_is_used_as_is():
    """When the message brings its own HTML part it is not regenerated."""
    parsed = _roundtrip(build_email(make_message(html="<p>Custom</p>"), domain="acme.example"))
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Custom</p>"


def test_text_to_html_escapes_markup():
    """Angle brackets in text cannot inject markup into the HTML part."""
    assert "&lt;script&gt;" in text_to_html("<script>alert(1)</script>")
    assert "<script>" not in text_to_html("<script>alert(1)</script>")
