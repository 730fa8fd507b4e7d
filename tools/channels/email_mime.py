"""Build the RFC 5322 message for one outbound email. Pure: no I/O, so the SMTP
adapter and the file outbox produce byte-for-byte the same headers and parts.

- Message-ID is derived from the idempotency key, so a resend after a crash carries
  the same id and the recipient's server can drop the duplicate.
- ``List-Unsubscribe`` holds the https URL (and the mailto when the sender has one);
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` is added for an https URL
  (RFC 8058, required by Gmail and Yahoo for bulk senders).
- ``In-Reply-To`` / ``References`` are set only for real follow-ups, i.e. when
  ``message.thread`` carries them; a first touch never pretends to be a reply.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from tools.channels.base import OutboundMessage

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_URL = re.compile(r"https?://[^\s<>\"]+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def message_id(idempotency_key: str, *, domain: str) -> str:
    """The stable Message-ID for an idempotency key: ``<{key[:32]}@{domain}>``."""
    local = _ID_UNSAFE.sub("-", idempotency_key[:32]) or "message"
    return f"<{local}@{domain}>"


def text_to_html(text: str) -> str:
    """Escape plain text into simple HTML: paragraphs, line breaks, clickable links."""
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(text.strip()):
        escaped = html.escape(block, quote=True)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(paragraphs) + "\n</body></html>\n"


def list_unsubscribe(https_url: str, mailto: str) -> str:
    """The List-Unsubscribe value: ``<https-url>, <mailto:...>`` (either may be absent)."""
    parts = []
    if https_url:
        parts.append(f"<{https_url}>")
    if mailto:
        parts.append(f"<{mailto if mailto.startswith('mailto:') else 'mailto:' + mailto}>")
    return ", ".join(parts)


def _date(message: OutboundMessage) -> datetime:
    raw = message.metadata.get("date")
    if isinstance(raw, datetime):
        when = raw
    elif raw:
        when = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    else:
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def build_email(message: OutboundMessage, *, domain: str) -> EmailMessage:
    """The complete multipart/alternative email for ``message``."""
    sender, recipient = message.sender, message.recipient
    mail = EmailMessage()
    mail["Message-ID"] = message_id(message.idempotency_key, domain=domain)
    mail["Date"] = format_datetime(_date(message))
    mail["From"] = formataddr((sender.name, sender.email))
    mail["To"] = formataddr((recipient.name, recipient.email))
    mail["Subject"] = message.subject
    unsubscribe = list_unsubscribe(sender.unsubscribe_url, sender.unsubscribe_mailto)
    if unsubscribe:
        mail["List-Unsubscribe"] = unsubscribe
    if sender.unsubscribe_url.startswith("https://"):
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    in_reply_to = message.thread.get("in_reply_to", "")
    references = message.thread.get("references", "") or in_reply_to
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    mail.set_content(message.body)
    mail.add_alternative(
        message.html if message.html is not None else text_to_html(message.body), subtype="html"
    )
    return mail
