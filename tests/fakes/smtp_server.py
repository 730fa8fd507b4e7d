"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives.

It accepts AUTH PLAIN/LOGIN without TLS for the users it is given, refuses the
recipients in ``refuse`` with ``550 5.1.1``, and keeps every accepted message as
bytes; ``parsed(i)`` returns it as an ``EmailMessage``.

``faults=AfterProcessingFaults(rate, ("drop",))`` makes the server accept and keep a
message at DATA and then close the connection without sending its reply: the message is
delivered, the client cannot know it ("SMTP connection dropped after DATA").
"""

from __future__ import annotations

import email
import socket
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fakes.faults import AfterProcessingFaults


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None


@dataclass
class _Handler:
    refuse: frozenset[str]
    faults: AfterProcessingFaults | None = None
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = str(session.auth_data) if session.authenticated else None
        self.messages.append(
            Received(
                envelope.mail_from,
                tuple(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                login,
            )
        )
        if self.faults is not None and self.faults.draw():
            server.transport.close()  # accepted and queued, but the reply never leaves
            return "250 2.0.0 Queued"
        return "250 2.0.0 Queued"


class FakeSmtpServer:
    """Start with ``with FakeSmtpServer(users={"u": "p"}) as server:``."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        refuse: set[str] | frozenset[str] = frozenset(),
        faults: AfterProcessingFaults | None = None,
    ) -> None:
        self.users = dict(users or {})
        self.host = "127.0.0.1"
        self.port = free_port()
        self._handler = _Handler(frozenset(a.lower() for a in refuse), faults)
        self._controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    @property
    def messages(self) -> list[Received]:
        return self._handler.messages

    def parsed(self, index: int = -1) -> EmailMessage:
        return email.message_from_bytes(self.messages[index].content, policy=default_policy)  # type: ignore[return-value]

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def __enter__(self) -> FakeSmtpServer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "AUTH without TLS" is intended here
            self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
