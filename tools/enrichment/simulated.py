"""Offline enrichment providers for the demo, tests and benchmark: a real lookup over a CSV of
people (`first_name, last_name, company_domain` plus any of `email, phone, title,
employee_count, tech_stack`), with a configurable hit rate per segment, cost per call and per
hit, latency and injected errors. Every draw is a hash of (seed, provider, person, attempt),
so the same run gives the same answers."""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import InvalidInput, ProviderConfigError, QuotaExceeded, Transient
from core.spend_config import EnrichmentProviderConfig
from tools.enrichment.providers import Person, ProviderAnswer, employee_band

INJECTED = {
    "transient": lambda name: Transient("injected transient error", provider=name, retry_after=0.0),
    "auth": lambda name: ProviderConfigError("injected auth error", provider=name, status=401),
    "quota": lambda name: QuotaExceeded("injected quota error", provider=name, status=402),
    "invalid_input": lambda name: InvalidInput("injected invalid input: domain", provider=name, status=422),
}


def draw(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by its parts."""
    h = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def load_people(path: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    if path.exists():
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                p = Person(row.get("first_name", ""), row.get("last_name", ""), row.get("company_domain", ""))
                rows[p.key] = row
    return rows


class SimulatedProvider:
    def __init__(
        self,
        cfg: EnrichmentProviderConfig,
        root: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
        people: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.fields = cfg.fields
        self.sleep = sleep
        self._people = people if people is not None else load_people(root / cfg.data_file)
        self._attempts: dict[str, int] = {}
        if cfg.errors:
            unknown = sorted(set(cfg.errors) - set(INJECTED))
            if unknown:
                raise InvalidInput(
                    f"unknown injected error(s) {unknown}; known: {', '.join(INJECTED)}", provider=self.name
                )

    def hit_rate(self, person: Person) -> float:
        rates = self.cfg.hit_rate
        country, band = (person.country or "?").upper(), employee_band(person.employee_count)
        for key in (f"{country}/{band}", country, band, "*"):
            if key in rates:
                return rates[key]
        return 1.0

    def estimate(self, hit_rate: float) -> float:
        return self.cfg.cost_per_call + self.cfg.cost_per_hit * hit_rate

    def lookup(self, person: Person) -> ProviderAnswer:
        n = self._attempts[person.key] = self._attempts.get(person.key, 0) + 1
        if self.cfg.latency_ms:
            self.sleep(self.cfg.latency_ms / 1000)
        for cls, prob in sorted(self.cfg.errors.items()):
            if draw(self.cfg.seed, self.name, person.key, n, cls) < prob:
                raise INJECTED[cls](self.name)
        row = self._people.get(person.key)
        found = row is not None and draw(self.cfg.seed, self.name, person.key) < self.hit_rate(person)
        values = {f: row[f] for f in self.fields if row and (row.get(f) or "").strip()} if found else {}
        return ProviderAnswer(
            values,
            {f: True for f in values},
            self.cfg.cost_per_call + (self.cfg.cost_per_hit if values else 0.0),
        )
