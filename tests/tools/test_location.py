"""Combined locations, LinkedIn metros and phone numbers to country and time zone
(tools/location.py), with the source of every inference and no guesses."""

from __future__ import annotations

import pytest

from tools.location import resolve_place


@pytest.mark.parametrize(
    ("location", "phone", "expected"),
    [
        ("Austin, Texas, United States", "", ("Austin", "US-TX", "US", "America/Chicago", "city")),
        ("Lyon, Auvergne-Rhône-Alpes, France", "", ("Lyon", "FR-ARA", "FR", "Europe/Paris", "city")),
        ("München, Bayern, Deutschland", "", ("München", "DE-BY", "DE", "Europe/Berlin", "city")),
        ("Munich, Bavaria, Germany", "", ("Munich", "DE-BY", "DE", "Europe/Berlin", "city")),
        ("London, England, United Kingdom", "", ("London", "GB-ENG", "GB", "Europe/London", "city")),
        ("San Francisco, CA", "", ("San Francisco", "US-CA", "US", "America/Los_Angeles", "city")),
        ("Greater Seattle Area", "", ("Seattle", "", "US", "America/Los_Angeles", "city")),
        ("Greater Boston", "", ("Boston", "", "US", "America/New_York", "city")),
        ("San Francisco Bay Area", "", ("San Francisco", "", "US", "America/Los_Angeles", "city")),
        ("Greater Paris Metropolitan Region", "", ("Paris", "", "FR", "Europe/Paris", "city")),
        ("Colorado, United States", "", ("", "US-CO", "US", "America/Denver", "region")),
        ("Germany", "", ("", "", "DE", "Europe/Berlin", "country")),
        ("Nova Scotia, Canada", "", ("", "CA-NS", "CA", "America/Halifax", "region")),
        ("United States", "+1 206 555 0100", ("", "", "US", "America/Los_Angeles", "phone")),
        ("", "+49 30 1234567", ("", "", "DE", "Europe/Berlin", "country")),
    ],
)
def test_locations_resolve_with_their_source(location: str, phone: str, expected: tuple) -> None:
    """Each location (and phone) gives city, region code, ISO country and a zone with the
    source of the inference."""
    p = resolve_place(location=location, phone=phone)
    assert (p.city, p.region_code, p.country, p.timezone, p.timezone_source) == expected
    if not location:  # the number gave the country
        assert p.country_source == "phone"


@pytest.mark.parametrize(
    "location",
    ["United States", "Texas, United States", "Portland, United States", "Canada", "Brazil", "Australia"],
)
def test_ambiguous_places_leave_the_zone_unknown_with_a_reason(location: str) -> None:
    """A country or state with several zones and no deciding city gets no zone: never guessed."""
    p = resolve_place(location=location)
    assert p.country and p.timezone == "" and "several time zones" in p.note


def test_given_zone_and_columns_win_over_inference() -> None:
    """A valid time zone in the file is kept (source given); explicit columns beat the
    combined location."""
    p = resolve_place(location="Austin, Texas, United States", timezone="America/New_York")
    assert (p.timezone, p.timezone_source) == ("America/New_York", "given")
    p = resolve_place(location="Paris, France", city="Hamburg", country="DE")
    assert (p.city, p.country, p.timezone, p.country_source) == ("Hamburg", "DE", "Europe/Berlin", "given")


def test_garbage_locations_never_raise() -> None:
    """Junk, brackets and very long text resolve to nothing rather than an error."""
    for text in ["[", ",,,", "x" * 10_000, "\x00", "🙂, 🙂"]:
        p = resolve_place(location=text, phone=text)
        assert p.timezone in ("", None) and p.country in ("", None), text
    for text in ["Greater", "Area"]:  # words that are also place names somewhere: no error
        assert resolve_place(location=text, phone=text) is not None
