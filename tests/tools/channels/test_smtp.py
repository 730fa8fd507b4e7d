"""SmtpChannel against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator

import pytest

from core.errors import PermanentFailure, ProviderConfigError, Transient
from tests.fakes.smtp_server import FakeSmtpServer
from tests.tools.channels.factories import (
    KEY,
    POSTAL_ADDRESS,
    UNSUBSCRIBE_URL,
    make_message,
    make_recipient,
)
from tools.channels.smtp import SmtpChannel

USER, PASSWORD = "mailer", "s3cret-smtp-pass"


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FakeSmtpServer(users={USER: PASSWORD}, refuse={"nobody@example.com"}) as server:
            yield server


def _channel(server: FakeSmtpServer, **overrides) -> SmtpChannel:
    values = dict(
        host=server.host,
        port=server.port,
        username=USER,
        password=PASSWORD,
        starttls=False,
        timeout=5.0,
        domain="mail.acme.example",
    )
    values.update(overrides)
    return SmtpChannel(**values)


def test_send_delivers_the_built_message_with_auth(smtp_server):
    """An authenticated send reaches the server with envelope, headers and both parts."""
    result = _channel(smtp_server).deliver(make_message())
    received = smtp_server.messages[-1]
    assert received.login == USER
    assert received.mail_from == "ada@acme.example"
    assert received.rcpt_tos == ("grace@example.com",)
    parsed = smtp_server.parsed()
    assert parsed["Message-ID"] == f"<{KEY[:32]}@mail.acme.example>"
    assert result.provider == "smtp"
    assert result.provider_message_id == parsed["Message-ID"]
    assert parsed["List-Unsubscribe"].startswith(f"<{UNSUBSCRIBE_URL}>, <mailto:")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["In-Reply-To"] is None and parsed["References"] is None
    plain = parsed.get_body(("plain",)).get_content()
    html_part = parsed.get_body(("html",)).get_content()
    for part in (plain, html_part):
        assert UNSUBSCRIBE_URL in part
        assert POSTAL_ADDRESS in part


def test_follow_up_is_threaded_on_the_wire(smtp_server):
    """A follow-up arrives with In-Reply-To and References set."""
    thread = {"in_reply_to": "<first@mail.acme.example>", "references": "<first@mail.acme.example>"}
    _channel(smtp_server).deliver(make_message(thread=thread))
    parsed = smtp_server.parsed()
    assert parsed["In-Reply-To"] == "<first@mail.acme.example>"
    assert parsed["References"] == "<first@mail.acme.example>"


def test_send_without_username_skips_auth(smtp_server):
    """With no username configured the channel sends without AUTH."""
    _channel(smtp_server, username="", password="").deliver(make_message())
    assert smtp_server.messages[-1].login is None


def test_wrong_password_is_a_configuration_error(smtp_server):
    """A 535 authentication failure pauses the channel and never shows the password."""
    with pytest.raises(ProviderConfigError) as caught:
        _channel(smtp_server, password="wrong-password-123").deliver(make_message())
    assert caught.value.status == 535
    assert "wrong-password-123" not in str(caught.value)
    assert smtp_server.messages == []


def test_refused_recipient_is_a_permanent_failure(smtp_server):
    """A 550 for the recipient marks the address unusable."""
    message = make_message(recipient=make_recipient(email="nobody@example.com"))
    with pytest.raises(PermanentFailure) as caught:
        _channel(smtp_server).deliver(message)
    assert caught.value.status == 550
    assert "nobody@example.com" in str(caught.value)


def test_starttls_required_but_not_offered_is_a_configuration_error(smtp_server):
    """Asking for STARTTLS from a server without it fails as configuration, not transient."""
    with pytest.raises(ProviderConfigError):
        _channel(smtp_server, starttls=True).deliver(make_message())


def test_connection_refused_is_transient():
    """Nobody listening on the port is a transient failure worth retrying."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = SmtpChannel(host="127.0.0.1", port=port, starttls=False, timeout=1.0, domain="acme.example")
    with pytest.raises(Transient):
        channel.deliver(make_message())


def test_lookup_cannot_know(smtp_server):
    """SMTP cannot be queried, so lookup always answers None."""
    assert _channel(smtp_server).lookup(KEY) is None
