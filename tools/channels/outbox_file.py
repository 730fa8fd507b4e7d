"""The file outbox: the embedded default channel. Email is written as an RFC 5322 `.eml`
(the same bytes an SMTP server would receive), LinkedIn and direct mail as JSON.

Files are named after the idempotency key and written atomically (temp file + rename),
so `lookup` can tell after a crash whether a message already went out, and delivering
the same key twice leaves one file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.email_mime import build_email, message_id


class FileOutbox:
    def __init__(self, root: Path, *, channel: str, domain: str):
        self.root = root
        self.channel = channel
        self.domain = domain
        self.name = "file"
        self.idempotent_by_key = True  # one file per key: a second deliver finds the first

    def _path(self, key: str, prospect_id: str = "*", step_id: str = "*") -> Path:
        suffix = "eml" if self.channel == "email" else "json"
        return self.root / self.channel / f"{prospect_id}__{step_id}__{key[:16]}.{suffix}"

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        folder = self.root / self.channel
        if not folder.is_dir():
            return None
        for path in folder.glob(f"*__{idempotency_key[:16]}.*"):
            if not path.name.endswith(".tmp"):
                return DeliveryResult(
                    self.name,
                    self._message_id(idempotency_key),
                    already_delivered=True,
                    detail={"path": str(path)},
                )
        return None

    def _message_id(self, key: str) -> str:
        return message_id(key, domain=self.domain) if self.channel == "email" else f"file:{key[:16]}"

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        existing = self.lookup(message.idempotency_key)
        if existing is not None:
            return existing
        path = self._path(message.idempotency_key, message.recipient.prospect_id, message.step_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.channel == "email":
            data = bytes(build_email(message, domain=self.domain))
        else:
            data = json.dumps(
                {
                    "idempotency_key": message.idempotency_key,
                    "channel": message.channel,
                    "kind": message.kind,
                    "step_id": message.step_id,
                    "from": {
                        "name": message.sender.name,
                        "company": message.sender.company,
                        "linkedin_account_id": message.sender.linkedin_account_id,
                    },
                    "to": {
                        "prospect_id": message.recipient.prospect_id,
                        "name": message.recipient.name,
                        "linkedin_url": message.recipient.linkedin_url,
                        "postal_address": message.recipient.postal_address,
                        "company": message.recipient.company,
                    },
                    "subject": message.subject,
                    "body": message.body,
                    "metadata": dict(message.metadata),
                },
                indent=2,
                ensure_ascii=False,
            ).encode()
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return DeliveryResult(
            self.name, self._message_id(message.idempotency_key), detail={"path": str(path)}
        )
