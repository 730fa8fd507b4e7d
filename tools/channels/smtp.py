"""Send email over SMTP with smtplib (STARTTLS when configured, AUTH when a username is
given). One connection per message: outbound volumes are tens per inbox per day.

Error mapping:
    connection refused / timeout / disconnect / any 4xx reply -> Transient
    recipient refused 550 / 551 / 553 (and other 5xx except 552) -> PermanentFailure
    535 and other 5xx AUTH failures, STARTTLS or AUTH not offered,
      certificate not trusted, sender or session refused 5xx  -> ProviderConfigError
    message refused at DATA with 5xx                          -> InvalidInput
    connection dropped, reset or timed out after the message
      content was sent (DATA) and before the server's reply   -> OutcomeUnknown

The envelope is sent step by step (MAIL, RCPT, DATA) so a failure is known to have
happened before or after the content left: only the latter is OutcomeUnknown, because
the server may have queued the message. A failing QUIT after an accepted message is
ignored (the message was accepted).

SMTP cannot be asked whether a message was delivered, so ``lookup`` returns None; the
stable Message-ID lets the receiving side drop a duplicate after a crash.
"""

from __future__ import annotations

import io
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import ClassVar

from core.errors import (
    InvalidInput,
    OutcomeUnknown,
    PermanentFailure,
    ProviderConfigError,
    ProviderError,
    Transient,
)
from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.email_mime import build_email

PROVIDER = "smtp"
_BAD_MAILBOX = (550, 551, 553)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


def _classify_recipient(code: int, reply: bytes | str, address: str) -> ProviderError:
    text = f"recipient {address} refused: {code} {_reply_text(reply)}"
    if 400 <= code < 500 or code == 552:  # RFC 5321 4.5.3.1.10: 552 at RCPT is temporary
        return Transient(text, provider=PROVIDER, status=code)
    return PermanentFailure(text, provider=PROVIDER, status=code)


def classify_smtp_error(exc: Exception) -> ProviderError:
    """The typed error for an smtplib or socket failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        address, (code, reply) = next(iter(exc.recipients.items()))
        return _classify_recipient(code, reply, address)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return Transient(
                f"authentication deferred: {exc.smtp_code}", provider=PROVIDER, status=exc.smtp_code
            )
        return ProviderConfigError(
            f"authentication rejected: {exc.smtp_code}", provider=PROVIDER, status=exc.smtp_code
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ProviderConfigError(f"server does not support a required extension: {exc}", provider=PROVIDER)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Transient("server disconnected", provider=PROVIDER)
    if isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, _reply_text(exc.smtp_error)
        if 400 <= code < 500:
            return Transient(f"{code} {text}", provider=PROVIDER, status=code)
        if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
            return ProviderConfigError(
                f"server refused the session: {code} {text}", provider=PROVIDER, status=code
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return ProviderConfigError(f"sender refused: {code} {text}", provider=PROVIDER, status=code)
        if code in _BAD_MAILBOX:
            return PermanentFailure(f"{code} {text}", provider=PROVIDER, status=code)
        return InvalidInput(f"{code} {text}", provider=PROVIDER, status=code)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProviderConfigError("server certificate not trusted", provider=PROVIDER)
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return Transient(f"connection failed ({type(exc).__name__})", provider=PROVIDER)
    raise TypeError(f"not an SMTP failure: {type(exc).__name__}")


def _international(*addresses: str) -> bool:
    return not "".join(addresses).isascii()


def _flatten(mail: EmailMessage, *, international: bool) -> bytes:
    """The message bytes exactly as ``smtplib.SMTP.send_message`` sends them (CRLF line
    ends; raw UTF-8 headers only for an address that needs SMTPUTF8)."""
    buffer = io.BytesIO()
    policy = mail.policy.clone(utf8=True) if international else mail.policy  # type: ignore[call-arg]
    BytesGenerator(buffer, policy=policy).flatten(mail, linesep="\r\n")
    return buffer.getvalue()


def _envelope(smtp: smtplib.SMTP, sender: str, recipient: str, content: bytes) -> None:
    """MAIL FROM and RCPT TO for one recipient; raise the smtplib error for a refusal."""
    options: list[str] = []
    if smtp.does_esmtp and smtp.has_extn("size"):
        options.append(f"size={len(content)}")
    if _international(sender, recipient):
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("the server does not support SMTPUTF8")
        options += ["SMTPUTF8", "BODY=8BITMIME"]
    code, reply = smtp.mail(sender, options)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        _reset(smtp, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """Abandon the transaction after a refusal (the refusal, not a failing RSET, is reported)."""
    if code == 421:
        _close(smtp)
        return
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        _close(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session; the message is accepted already, so a failing QUIT changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        _close(smtp)


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


@dataclass
class SmtpChannel:
    """The Channel for plain SMTP submission (port 587 with STARTTLS by default)."""

    host: str
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    timeout: float = 30.0
    domain: str = "localhost"
    smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP
    ssl_context: ssl.SSLContext | None = None
    name: str = PROVIDER
    # SMTP has no key: a second submission is a second email (the receiver may or may not
    # drop it by Message-ID), so a crashed send is never repeated blindly.
    idempotent_by_key: ClassVar[bool] = False

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if not message.recipient.email:
            raise InvalidInput("recipient has no email address", provider=PROVIDER)
        mail = build_email(message, domain=self.domain)
        smtp: smtplib.SMTP | None = None
        content_sent = False
        try:
            smtp = self.smtp_factory(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
            content = _flatten(
                mail, international=_international(message.sender.email, message.recipient.email)
            )
            _envelope(smtp, message.sender.email, message.recipient.email, content)
            content_sent = True  # from here the server may have queued the message
            code, reply = smtp.data(content)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPResponseException as exc:
            _close(smtp)
            raise classify_smtp_error(exc) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            if content_sent:
                raise OutcomeUnknown(
                    f"connection lost after the message was sent ({type(exc).__name__}); "
                    "the server may have accepted it",
                    provider=PROVIDER,
                ) from exc
            raise classify_smtp_error(exc) from exc
        _quit(smtp)
        return DeliveryResult(
            provider=PROVIDER, provider_message_id=mail["Message-ID"], detail={"host": self.host}
        )

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None
