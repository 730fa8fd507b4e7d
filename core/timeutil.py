"""Clocks, time zones and business days. Pure functions; "now" is always passed in.

All instants are timezone-aware datetimes in UTC at the edges; local calendar logic
(business days, sending windows) is done in the prospect's own zone with zoneinfo, so
DST changes are handled by the tz database rather than by fixed offsets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = UTC
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a naive value is taken as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_utc(value: datetime) -> datetime:
    """Make a datetime aware UTC (SQLite gives naive values back: they are UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: datetime | None) -> str | None: ...
def iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat().replace("+00:00", "Z")


def zone(name: str | None) -> ZoneInfo | None:
    """The ZoneInfo for an IANA name, or None when unknown or empty."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1024)
def public_holidays(country: str, year: int, subdivision: str = "") -> frozenset[date]:
    """The public holidays (observed days included) of an ISO alpha-2 country, optionally
    one of its subdivisions, in one year, from the maintained ``holidays`` library;
    empty for a country the library does not know."""
    import holidays

    code = country.strip().upper()
    if not code:
        return frozenset()
    try:
        calendar = holidays.country_holidays(code, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        return frozenset()
    return frozenset(calendar.keys())


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    from importlib import resources

    try:
        text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#"):
            out[parts[2]] = parts[0]
    return out


def zone_country(name: str | None) -> str:
    """The ISO country of an IANA zone per the tz database's zone.tab
    ("America/New_York" -> "US"); "" for zones like "UTC" that belong to none."""
    return _zone_countries().get(name or "", "")


def holiday_name(country: str, day: date, subdivision: str = "") -> str:
    """The library's name of a public holiday ("Thanksgiving Day"), or "" when `day` is none."""
    if day not in public_holidays(country, day.year, subdivision):
        return ""
    import holidays

    calendar = holidays.country_holidays(country.strip().upper(), subdiv=subdivision or None, years=day.year)
    return str(calendar.get(day) or "")


@lru_cache(maxsize=1)
def holiday_countries() -> dict[str, tuple[str, ...]]:
    """Every country code the holiday library knows, with its subdivision codes."""
    import holidays

    return {code: tuple(subs) for code, subs in holidays.list_supported_countries().items()}


def is_business_day(day: date, workdays: Iterable[str] = WEEKDAYS[:5], holidays: Iterable[date] = ()) -> bool:
    return WEEKDAYS[day.weekday()] in set(workdays) and day not in set(holidays)


def add_business_days(
    day: date, n: int, workdays: Iterable[str] = WEEKDAYS[:5], holidays: Iterable[date] = ()
) -> date:
    """The local date n business days after `day` (n=0: `day` itself if a business day,
    else the next business day)."""
    wd, hol = tuple(workdays), frozenset(holidays)
    current = day
    while not is_business_day(current, wd, hol):
        current += timedelta(days=1)
    remaining = n
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current, wd, hol):
            remaining -= 1
    return current


def business_days_between(
    start: date, end: date, workdays: Iterable[str] = WEEKDAYS[:5], holidays: Iterable[date] = ()
) -> int:
    """Business days in (start, end]; 0 when end <= start."""
    wd, hol = tuple(workdays), frozenset(holidays)
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current, wd, hol):
            count += 1
    return count


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; a time skipped by a DST jump moves
    forward to the first valid instant, an ambiguous one takes the first occurrence."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz, fold=0)
    # A non-existent local time round-trips to a different wall time: move past the gap.
    back = aware.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != naive:
        aware = (naive + timedelta(hours=1)).replace(tzinfo=tz)
        aware = aware.replace(minute=0, second=0) if at.minute == 0 else aware
    return aware.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A weekly sending window in local time: days and [start, end) hours."""

    days: tuple[str, ...] = WEEKDAYS[:5]
    start: time = time(8, 0)
    end: time = time(17, 0)
    holidays: frozenset[date] = frozenset()

    def contains(self, instant: datetime, tz: ZoneInfo) -> bool:
        local = to_utc(instant).astimezone(tz)
        return (
            is_business_day(local.date(), self.days, self.holidays) and self.start <= local.time() < self.end
        )

    def next_open(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """The first instant >= `instant` inside the window (UTC)."""
        if self.contains(instant, tz):
            return to_utc(instant)
        local = to_utc(instant).astimezone(tz)
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(400):
            if is_business_day(day, self.days, self.holidays):
                candidate = local_instant(day, self.start, tz)
                if candidate >= to_utc(instant):
                    return candidate
            day += timedelta(days=1)
        raise ValueError("sending window has no open day within 400 days")
