"""Small pure helpers every rule family shares: which actions a family looks at, the
prospect's and sender's zones, the window for a prospect, the next allowed instant, and
period boundaries (day, week, month) in a given zone. No I/O."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from core.timeutil import Window, local_instant, to_utc, zone_country
from policies.config import PolicyConfig
from policies.types import TOUCH_ACTIONS, PolicyInput

# Actions that spend money or reach the prospect; "wait" and "stop" are always allowed.
ACTIVE_ACTIONS = frozenset({"research", "enrich", "draft", "request_review", "send", "call_task"})
# Actions that prepare or deliver a message on a channel.
OUTREACH_ACTIONS = frozenset({"draft", "request_review", "send", "call_task"})
# Actions that carry a finished draft (content is checked for these).
MESSAGE_ACTIONS = frozenset({"request_review", "send"})

UTC_ZONE = ZoneInfo("UTC")
# Entries kept by each memo of a pure text helper (drafts repeat across prospects: the same
# template body, address and phrases); bounded so a long-lived process stays flat.
TEXT_MEMO = 4096
R = TypeVar("R")
V = TypeVar("V")


class ConfigMemo:
    """A bounded memo of a pure function of (a frozen config object, a hashable key). An
    entry holds the config itself, so its id is never reused while the entry lives, and a
    hit requires the very same config object: two configs never share results."""

    def __init__(self, size: int = TEXT_MEMO) -> None:
        self._size = size
        self._entries: dict[tuple[int, Hashable], tuple[object, Any]] = {}
        self._lock = threading.Lock()

    def get(self, cfg: object, key: Hashable, compute: Callable[[], V]) -> V:
        k = (id(cfg), key)
        hit = self._entries.get(k)
        if hit is not None and hit[0] is cfg:
            return hit[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[k] = (cfg, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def applies_to(actions: frozenset[str]) -> Callable[[R], R]:
    """Declare the actions a rule can return a verdict for: for any other action it returns
    None without reading anything else (its first statement checks it). The engine skips
    it for those actions; tests/policies/test_engine.py checks every declaration."""

    def mark(rule: R) -> R:
        rule.applies_to = frozenset(actions)  # type: ignore[attr-defined]
        return rule

    return mark


def country(inp: PolicyInput) -> str:
    """The prospect's ISO alpha-2 country, upper-case ("UK" read as "GB"); "" if unusable."""
    return inp.obs.prospect.country_code


def prospect_zone(inp: PolicyInput) -> ZoneInfo | None:
    return inp.obs.prospect.zone


def sender_zone(inp: PolicyInput) -> ZoneInfo:
    """The zone the sender's daily/weekly/monthly counters reset in (UTC when unknown)."""
    return inp.obs.sender.zone


def window_for(inp: PolicyInput, cfg: PolicyConfig) -> Window:
    """The configured sending window with the no-send days of the prospect's country
    (its public holidays unless switched off, plus the configured extra dates)."""
    tz = prospect_zone(inp)
    # Without a country, the zone's country (America/New_York -> US) decides the holidays.
    where = country(inp) or (zone_country(tz.key) if tz is not None else "")
    return cfg.window.window_for(where, local_date(inp.now, tz or UTC_ZONE))


def windowed(inp: PolicyInput, cfg: PolicyConfig) -> bool:
    """Whether this proposal is held to the recipient's local sending window."""
    return inp.proposal.action in TOUCH_ACTIONS and inp.channel in cfg.window.channels


def next_allowed(inp: PolicyInput, cfg: PolicyConfig, not_before: datetime) -> datetime:
    """The first instant >= not_before at which the proposal could go: the next opening of
    the recipient's window when it is held to one and the zone is known."""
    tz = prospect_zone(inp)
    if tz is not None and windowed(inp, cfg):
        return window_for(inp, cfg).next_open(not_before, tz)
    return to_utc(not_before)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return to_utc(instant).astimezone(tz).date()


# The period boundaries and local texts below are pure functions of (instant, zone); a
# run evaluates many prospects at the same `now` in a few zones, so they are memoised.
@lru_cache(maxsize=TEXT_MEMO)
def next_day_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """Local midnight after `instant` in tz, as UTC (DST-safe)."""
    return local_instant(local_date(instant, tz) + timedelta(days=1), time(0), tz)


@lru_cache(maxsize=TEXT_MEMO)
def next_week_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """Next Monday 00:00 local in tz, as UTC."""
    day = local_date(instant, tz)
    return local_instant(day + timedelta(days=7 - day.weekday()), time(0), tz)


@lru_cache(maxsize=TEXT_MEMO)
def next_month_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """The first day of next month, 00:00 local in tz, as UTC."""
    day = local_date(instant, tz)
    first = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return local_instant(first, time(0), tz)


@lru_cache(maxsize=TEXT_MEMO)
def week_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """This week's Monday 00:00 local in tz, as UTC."""
    day = local_date(instant, tz)
    return local_instant(day - timedelta(days=day.weekday()), time(0), tz)


@lru_cache(maxsize=TEXT_MEMO)
def local_text(instant: datetime, tz: ZoneInfo) -> str:
    return to_utc(instant).astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def email_parts(inp: PolicyInput) -> tuple[str, str]:
    """(local part, domain) of the prospect's email, lower-case; ("", "") when absent."""
    p = inp.obs.prospect
    return p.email_local, p.email_host


def domain_matches(domain: str, listed: tuple[str, ...] | list[str]) -> str | None:
    """The listed domain that `domain` equals or is a subdomain of, else None."""
    return _domain_matches(domain, tuple(listed))


@lru_cache(maxsize=4096)
def _domain_matches(domain: str, listed: tuple[str, ...]) -> str | None:
    d = domain.strip().lower().rstrip(".")
    for item in listed:
        item = item.strip().lower().lstrip("@").rstrip(".")
        if item and (d == item or d.endswith("." + item)):
            return item
    return None


def number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def money(value: float) -> str:
    return f"${value:,.2f}"


def amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


_NOT_ALNUM = re.compile(r"[\W_]+")
_URL_TEXT = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S+", re.IGNORECASE)


def says_any(text: str, phrases: tuple[str, ...] | list[str]) -> str | None:
    """The first phrase the text states in words (case-insensitive); words that only occur
    inside a link do not count. Memoised by (text, phrases): a pure function of both."""
    return _says_any(text, tuple(phrases))


@lru_cache(maxsize=TEXT_MEMO)
def _says_any(text: str, phrases: tuple[str, ...]) -> str | None:
    low = _URL_TEXT.sub(" ", text).lower()
    return next((p for p in phrases if p.lower() in low), None)


@lru_cache(maxsize=TEXT_MEMO)
def squash(text: str) -> str:
    """The text's letters and digits, lower-case (how a postal address is looked for in a
    body, whatever its punctuation and line breaks). Memoised by text."""
    return _NOT_ALNUM.sub("", text.lower())  # [^\W_] is exactly str.isalnum()
