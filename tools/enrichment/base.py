"""Contact enrichment. The offline provider looks people up in the workspace's
`enrichment.csv` (a real lookup over a data file, with a credit cost per hit, like a
paid provider). Results, found or not, are cached by the caller so a lookup is never
paid twice."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.errors import NotFound
from tools.normalize import fold, normalize_domain


@dataclass(frozen=True)
class EnrichmentResult:
    email: str = ""
    phone: str = ""
    linkedin_url: str = ""
    credits: float = 0.0
    source: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Enricher(Protocol):
    name: str

    def lookup_key(self, first_name: str, last_name: str, domain: str) -> str: ...

    def enrich(self, first_name: str, last_name: str, domain: str) -> EnrichmentResult:
        """Raise NotFound when the provider has no match (a miss still costs credits)."""
        ...


class FileEnricher:
    name = "file"

    def __init__(self, path: Path, credits_per_lookup: float = 2.0):
        self.path = path
        self.credits = credits_per_lookup
        self._rows: dict[str, dict[str, str]] | None = None

    def lookup_key(self, first_name: str, last_name: str, domain: str) -> str:
        return f"{fold(first_name).strip()}|{fold(last_name).strip()}|{normalize_domain(domain)}"

    def _table(self) -> dict[str, dict[str, str]]:
        # Built whole before it is published: another thread of a daily run never sees a
        # half-read table (and a person in it as not found).
        if self._rows is None:
            rows: dict[str, dict[str, str]] = {}
            if self.path.exists():
                with self.path.open(encoding="utf-8-sig", newline="") as fh:
                    for row in csv.DictReader(fh):
                        key = self.lookup_key(
                            row.get("first_name", ""), row.get("last_name", ""), row.get("company_domain", "")
                        )
                        rows[key] = row
            self._rows = rows
        return self._rows

    def enrich(self, first_name: str, last_name: str, domain: str) -> EnrichmentResult:
        row = self._table().get(self.lookup_key(first_name, last_name, domain))
        if not row or not (row.get("email") or row.get("linkedin_url")):
            raise NotFound(
                f"no contact data for {first_name} {last_name} at {domain}",
                provider=self.name,
                next_step="Add the person's LinkedIn URL or email by hand, or leave "
                "them: the playbook skips steps it cannot use.",
            )
        credits = float(row.get("credits") or self.credits)
        return EnrichmentResult(
            email=(row.get("email") or "").strip().lower(),
            phone=row.get("phone", ""),
            linkedin_url=row.get("linkedin_url", ""),
            credits=credits,
            source=self.name,
        )
