"""The enrichment provider contract: a `Provider` looks one `Person` up and returns a
`ProviderAnswer` (a miss is an answer with no values, not an exception). Failures raise
the classified errors of `core.errors`: `NotFound` (a miss reported as 404),
`Transient` (retry later, maybe with `retry_after`), `InvalidInput` (names the field to fix),
`ProviderConfigError` (bad key) and `QuotaExceeded` (out of credits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.normalize import fold, normalize_domain

BANDS = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000"))


def employee_band(n: int | None) -> str:
    if n is None:
        return "?"
    for top, label in BANDS:
        if n <= top:
            return label
    return "5000+"


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    domain: str
    linkedin_url: str = ""
    country: str = ""
    employee_count: int | None = None

    @property
    def key(self) -> str:
        return (
            f"{fold(self.first_name).strip()}|{fold(self.last_name).strip()}|{normalize_domain(self.domain)}"
        )

    @property
    def segment(self) -> str:
        """Country and employee band, e.g. ``US/51-200``: what hit rates are tracked by."""
        return f"{(self.country or '?').upper()}/{employee_band(self.employee_count)}"

    def template_values(self) -> dict[str, str]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": f"{self.first_name} {self.last_name}".strip(),
            "domain": self.domain,
            "linkedin_url": self.linkedin_url,
        }


@dataclass(frozen=True)
class ProviderAnswer:
    values: dict[str, Any] = field(default_factory=dict)  # field -> value (only non-empty ones)
    verified: dict[str, bool] = field(default_factory=dict)  # field -> the provider vouches for it
    credits: float = 0.0  # what this call cost

    @property
    def hit(self) -> bool:
        return bool(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "verified": dict(self.verified), "credits": self.credits}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProviderAnswer:
        return cls(dict(d.get("values") or {}), dict(d.get("verified") or {}), float(d.get("credits") or 0.0))


class Provider(Protocol):
    name: str
    fields: tuple[str, ...]

    def lookup(self, person: Person) -> ProviderAnswer:
        """One paid call; raises the classified errors of core.errors on failure."""
        ...

    def estimate(self, hit_rate: float) -> float:
        """Expected credits of one call at this hit rate."""
        ...
