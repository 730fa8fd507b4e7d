"""structlog configuration, done once at the entry point. Secrets are redacted from every
event: any key that looks like a credential, and any value that equals a known secret."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = re.compile(r"(api[_-]?key|token|secret|password|authorization|signing)", re.I)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    known = {v for k, v in os.environ.items() if SECRET_KEYS.search(k) and len(v) >= 8}
    for key, value in list(event.items()):
        if SECRET_KEYS.search(key):
            event[key] = "[redacted]"
        elif isinstance(value, str) and any(s in value for s in known):
            for s in known:
                value = value.replace(s, "[redacted]")
            event[key] = value
    return event


class _Stderr:
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, verbose: bool = False) -> None:
    level = logging.INFO if verbose else logging.WARNING
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        # Tests turn the cache off (OUTBOUND_LOG_CACHE=0): a cached logger keeps the processors
        # it first saw, so structlog.testing.capture_logs would miss it.
        cache_logger_on_first_use=os.environ.get("OUTBOUND_LOG_CACHE", "1") != "0",
    )
