"""Webhook authentication and engagement-event ingestion.

Each provider has its own secret per workspace (env var named in [webhooks] secret_env,
default ``OUTBOUND_WEBHOOK_SECRET_<ID>_<PROVIDER>``). A request carries either the
secret itself in ``X-Webhook-Secret`` or ``X-Signature: sha256=<hex HMAC-SHA256 of the
raw body>``. A provider without a secret is refused: nothing is accepted unauthenticated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.sites import Site
from tools.events import map_webhook_batch


def authentic(site: Site, provider: str, raw: bytes, headers: Mapping[str, str]) -> bool:
    secret = site.webhook_secret(provider)
    if not secret:
        return False
    given = headers.get("x-webhook-secret", "")
    if given:
        return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))
    signature = headers.get("x-signature", "")
    if signature:
        expected = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
        value = signature.split("=", 1)[1] if signature.startswith("sha256=") else signature
        return hmac.compare_digest(value.strip().lower().encode("ascii", "replace"), expected.encode("ascii"))
    return False


def ingest_webhook(site: Site, provider: str, payload: Any, *, now: datetime) -> dict[str, Any]:
    """Map a provider body to events and store each on its own: a bad event in a batch is
    reported (``rejects`` with its index and reason) and the good ones are kept, so a
    redelivery stores nothing twice and never fails. InputError for a body that is not a
    webhook at all."""
    events, rejects = map_webhook_batch(provider, payload, received_at=now)
    from agents.events_service import ingest

    counts: dict[str, Any] = ingest(site.ws, events, now=now) if events else {"stored": 0, "duplicates": 0}
    failed: list[dict[str, Any]] = counts.pop("failed", [])
    all_rejects = rejects + failed
    counts["rejects"] = all_rejects
    counts["rejected"] = len(all_rejects)
    return counts
