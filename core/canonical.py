"""Canonical JSON: the exact bytes that are hashed (and signed) in the decision log.

Keys sorted, no whitespace, UTF-8 as is. NaN and the infinities are refused: they are
not JSON (RFC 8259) and other implementations cannot reproduce a hash over them."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from core.timeutil import iso


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


class NotCanonical(ValueError):
    """The value has no canonical JSON form (NaN, an infinity, an unsupported type)."""


def canonical_json(value: Any) -> str:
    try:
        return json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_default,
        )
    except ValueError as exc:  # json's message for NaN/inf: "Out of range float values ..."
        raise NotCanonical(f"canonical JSON refuses NaN and infinities ({exc})") from None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest(value: Any) -> str:
    return sha256_hex(canonical_json(value))
