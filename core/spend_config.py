"""Workspace config sections for enrichment providers (`[enrichment]`) and scoring
(`[scoring]`). Validated with the rest of `workspace.toml`; errors name the key."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENRICH_FIELDS = ("email", "phone", "title", "employee_count", "tech_stack")
SIGNAL_TYPES = ("hiring", "funding", "tech_change", "website_visit", "job_change", "news")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrichmentProviderConfig(_Section):
    """One enrichment provider: an HTTP API described by config, or a simulated one."""

    name: str = Field(pattern=r"^[a-z0-9_-]+$", description="Provider name used in order lists and reports.")
    kind: Literal["http", "simulated"] = Field("http", description="http: a real API; simulated: offline.")
    fields: tuple[str, ...] = Field(("email",), description="Fields this provider can return.")
    url: str = Field(
        "",
        description="URL template; {first_name} {last_name} {full_name} {domain} {linkedin_url} "
        "are filled in (URL-encoded).",
    )
    key_env: str = Field("", description="Env var holding the API key (never the key itself).")
    auth_header: str = Field(
        "", description='Header carrying the key, e.g. "Authorization: Bearer {key}" or "X-Api-Key".'
    )
    auth_query: str = Field("", description="Query parameter carrying the key instead of a header.")
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Field -> dotted path in the JSON response (e.g. data.email)."
    )
    verified_path: str = Field(
        "", description="Dotted path of a boolean saying the value is verified; empty: any value counts."
    )
    hit: Literal["any_field", "verified"] = Field(
        "any_field", description="What counts as a hit (and is charged cost_per_hit)."
    )
    cost_per_call: float = Field(0.0, ge=0, description="Credits charged for every call, hit or miss.")
    cost_per_hit: float = Field(0.0, ge=0, description="Credits charged in addition when it is a hit.")
    timeout_seconds: float = Field(10.0, gt=0)
    # simulated providers
    data_file: str = Field("", description="Simulated: CSV of people (relative to the workspace).")
    hit_rate: dict[str, float] = Field(
        default_factory=dict,
        description='Simulated: chance a known person is found, by segment ("US", "51-200", "US/51-200") or "*".',
    )
    latency_ms: float = Field(0.0, ge=0, description="Simulated: time per call.")
    errors: dict[str, float] = Field(
        default_factory=dict,
        description="Simulated: chance per call of an injected error (transient, auth, quota, invalid_input).",
    )
    seed: int = 0


class EnrichmentConfig(_Section):
    providers: tuple[EnrichmentProviderConfig, ...] = ()
    order: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Field -> provider names tried in order (email, phone, ...)."
    )
    ttl_days: float = Field(30.0, gt=0, description="A lookup (hit or miss) is not paid again for this long.")
    max_retries: int = Field(2, ge=0, le=5, description="Retries of a transient error per call.")
    max_retry_after_seconds: float = Field(30.0, ge=0, description="Longest Retry-After honoured.")
    learned_order: bool = Field(False, description="Rank providers by observed cost per hit per segment.")
    exploration: float = Field(0.1, ge=0, le=1, description="Learned order: chance of trying a random order.")
    seed: int = Field(0, description="Learned order: random seed (runs are reproducible).")

    @model_validator(mode="after")
    def _known(self) -> EnrichmentConfig:
        names = {p.name for p in self.providers}
        for fld, order in self.order.items():
            if fld not in ENRICH_FIELDS:
                raise ValueError(
                    f"unknown field {fld!r} in enrichment.order; known: {', '.join(ENRICH_FIELDS)}"
                )
            unknown = [n for n in order if n not in names]
            if unknown:
                raise ValueError(f"enrichment.order.{fld} names unknown provider(s) {unknown}")
        return self


class IcpRule(_Section):
    """One firmographic rule: a prospect or company field compared with values."""

    field: str = Field(
        description="industry | country | title | employee_count | tier | an imported attribute."
    )
    op: Literal["in", "contains", "between"] = "in"
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    weight: float = Field(1.0, ge=0)


class ScoringConfig(_Section):
    rules: tuple[IcpRule, ...] = Field((), description="Fit rules; empty: derived from [icp].")
    exclusions: tuple[IcpRule, ...] = Field((), description="A prospect matching any of these scores 0.")
    fit_weight: float = Field(
        0.6, ge=0, le=1, description="Share of the score from ICP fit (the rest is intent)."
    )
    half_life_days: dict[str, float] = Field(
        default_factory=lambda: {
            "hiring": 30.0,
            "funding": 90.0,
            "tech_change": 60.0,
            "website_visit": 7.0,
            "job_change": 45.0,
            "news": 30.0,
        },
        description="Signal type -> days after which it counts half.",
    )
    signal_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "hiring": 0.6,
            "funding": 0.7,
            "tech_change": 0.8,
            "website_visit": 0.5,
            "job_change": 0.5,
            "news": 0.3,
        },
        description="Signal type -> strength of a fresh signal (0..1).",
    )
    tier: Literal["imported", "score"] = Field(
        "imported", description="imported: keep an imported tier; score: tiers from the score thresholds."
    )
    tier_thresholds: tuple[float, float] = Field((70.0, 40.0), description="Score for tier 1 and tier 2.")
    imported_score_field: str = Field("", description="Attribute with an imported (e.g. Clay) score 0-100.")
    imported_score: Literal["ignore", "keep", "blend"] = Field(
        "ignore", description="keep: use the imported score as is; blend: average it with ours."
    )
