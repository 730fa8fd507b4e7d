"""The enrichment waterfall: for each wanted field, providers are tried in the configured
order (or the learned order) until one returns a verified value.

- A call is never paid twice within the TTL: every answer, hit or miss, is cached per
  (provider, person) and one answer serves every field the provider returned.
- Errors keep their class: not_found is a miss (no retry); transient is retried a bounded
  number of times, honouring Retry-After; invalid_input names the field to fix and moves on;
  auth (configuration) and quota pause the provider (the operator is told once) and the
  waterfall continues with the next provider.
- Before each paid call the expected cost is reserved against the budget (`store.reserve`);
  the actual cost is committed with the answer, and the reservation released on failure.
- Hit rate and cost per hit are tracked per provider, field and segment (country, employee
  band). With `learned_order` the providers are ranked by expected cost per hit in the
  person's segment (a Beta-prior estimate that borrows from the same country's other
  employee bands), with seeded epsilon-greedy exploration; the
  ranking and why is returned for the decision log.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.errors import (
    BudgetExceeded,
    InvalidInput,
    NotFound,
    ProviderConfigError,
    ProviderError,
    QuotaExceeded,
    Transient,
)
from core.spend_config import EnrichmentConfig
from tools.enrichment.providers import Person, Provider, ProviderAnswer


@dataclass
class Stat:
    calls: int = 0
    hits: int = 0
    credits: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.calls if self.calls else 0.0

    @property
    def cost_per_hit(self) -> float | None:
        return self.credits / self.hits if self.hits else None


StatKey = tuple[str, str, str]  # provider, field, segment
POOL = 10  # prior weight (in calls) of the same provider's record in the same country


class WaterfallStore(Protocol):
    def cached(self, provider: str, key: str, *, now: datetime) -> ProviderAnswer | None: ...

    def reserve(
        self, provider: str, key: str, credits: float, *, now: datetime, run_id: str, prospect_id: str
    ) -> str:
        """Hold `credits` against the budget; raises BudgetExceeded when a cap would be crossed."""
        ...

    def release(self, reservation: str) -> None: ...

    def paid(
        self,
        provider: str,
        key: str,
        answer: ProviderAnswer,
        *,
        reservation: str,
        now: datetime,
        run_id: str,
        prospect_id: str,
        detail: dict[str, Any],
    ) -> None:
        """Cache the answer and commit its cost (turning the reservation into the charge)."""
        ...

    def paused(self) -> dict[str, str]: ...

    def pause(self, provider: str, error: ProviderError, *, now: datetime) -> None: ...


@dataclass
class MemoryStore:
    """The in-memory reference store (tests, benchmark): a dict cache with TTL, a list
    ledger and an optional credit cap."""

    ttl_seconds: float = 30 * 86400
    cap: float | None = None
    cache: dict[tuple[str, str], tuple[datetime, ProviderAnswer]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, float] = field(default_factory=dict)
    pauses: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def cached(self, provider: str, key: str, *, now: datetime) -> ProviderAnswer | None:
        hit = self.cache.get((provider, key))
        if hit is None or (now - hit[0]).total_seconds() > self.ttl_seconds:
            return None
        return hit[1]

    def spent(self) -> float:
        return sum(e["credits"] for e in self.ledger) + sum(self.held.values())

    def reserve(
        self, provider: str, key: str, credits: float, *, now: datetime, run_id: str, prospect_id: str
    ) -> str:
        if self.cap is not None and self.spent() + credits > self.cap + 1e-9:
            raise BudgetExceeded(f"{provider}: {credits} credits would cross the cap of {self.cap}")
        token = f"{provider}:{key}:{len(self.ledger)}:{len(self.held)}"
        self.held[token] = credits
        return token

    def release(self, reservation: str) -> None:
        self.held.pop(reservation, None)

    def paid(
        self,
        provider: str,
        key: str,
        answer: ProviderAnswer,
        *,
        reservation: str,
        now: datetime,
        run_id: str,
        prospect_id: str,
        detail: dict[str, Any],
    ) -> None:
        self.held.pop(reservation, None)
        self.cache[(provider, key)] = (now, answer)
        self.ledger.append({"provider": provider, "key": key, "credits": answer.credits, **detail})

    def paused(self) -> dict[str, str]:
        return dict(self.pauses)

    def pause(self, provider: str, error: ProviderError, *, now: datetime) -> None:
        if provider not in self.pauses:
            self.notices.append(f"{provider}: {error.message}")
        self.pauses[provider] = error.message


@dataclass
class Call:
    provider: str
    field: str
    status: str  # hit | miss | cached_hit | cached_miss | error | paused | budget
    credits: float = 0.0
    attempts: int = 0
    error_class: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if v not in ("", 0, 0.0) or k in ("provider", "status")
        }


@dataclass
class WaterfallResult:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    verified: dict[str, bool] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    orders: dict[str, list[str]] = field(default_factory=dict)
    explanations: dict[str, str] = field(default_factory=dict)
    invalid_fields: list[str] = field(default_factory=list)
    budget_stopped: bool = False

    @property
    def credits(self) -> float:
        return sum(c.credits for c in self.calls)

    @property
    def status(self) -> str:
        if self.values:
            return "found"
        if self.budget_stopped:
            return "budget"
        if any(c.status == "error" for c in self.calls) and not any(
            c.status in ("miss", "cached_miss") for c in self.calls
        ):
            return "failed"
        return "not_found"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "fields": sorted(self.values),
            "sources": dict(self.sources),
            "calls": [c.to_dict() for c in self.calls],
            "orders": dict(self.orders),
            "explanations": dict(self.explanations),
            "invalid_fields": list(self.invalid_fields),
            "credits": round(self.credits, 6),
        }


class Waterfall:
    name = "waterfall"

    def __init__(
        self,
        providers: Sequence[Provider],
        cfg: EnrichmentConfig,
        store: WaterfallStore,
        *,
        stats: Mapping[StatKey, Stat] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.providers = {p.name: p for p in providers}
        self.cfg = cfg
        self.store = store
        self.stats: dict[StatKey, Stat] = {
            k: Stat(v.calls, v.hits, v.credits) for k, v in (stats or {}).items()
        }
        self.sleep = sleep
        self.rng = random.Random(cfg.seed)

    # -- order -------------------------------------------------------------------------
    def configured_order(self, fld: str) -> list[str]:
        if fld in self.cfg.order:
            return [n for n in self.cfg.order[fld] if n in self.providers]
        return [n for n, p in self.providers.items() if fld in p.fields]

    def expected_cost_per_hit(self, provider: str, fld: str, segment: str) -> tuple[float, float, int]:
        """(expected credits per hit, expected hit rate, calls seen) in a segment. The hit
        rate has a Beta prior worth up to `POOL` calls taken from the provider's record in the
        same country (other employee bands), else Beta(1, 1); the price per call has one
        prior call at the configured price."""
        st = self.stats.get((provider, fld, segment), Stat())
        country = segment.split("/", 1)[0] + "/"
        pooled = Stat()
        for (prov, f, seg), o in self.stats.items():
            if prov == provider and f == fld and seg.startswith(country) and seg != segment:
                pooled.calls, pooled.hits = pooled.calls + o.calls, pooled.hits + o.hits
        rate0 = (pooled.hits + 1) / (pooled.calls + 2)
        weight = min(pooled.calls, POOL) + 2
        p = (st.hits + rate0 * weight) / (st.calls + weight)
        prior_call = self.providers[provider].estimate(p)
        per_call = (st.credits + prior_call) / (st.calls + 1)
        return per_call / p, p, st.calls

    def order_for(self, fld: str, segment: str) -> tuple[list[str], str]:
        base = self.configured_order(fld)
        if not self.cfg.learned_order or len(base) < 2:
            return base, "configured order"
        if self.rng.random() < self.cfg.exploration:
            order = base[:]
            self.rng.shuffle(order)
            return order, f"exploring (chance {self.cfg.exploration:g}): random order {', '.join(order)}"
        scored = {n: self.expected_cost_per_hit(n, fld, segment) for n in base}
        order = sorted(base, key=lambda n: (scored[n][0], base.index(n)))
        why = "; ".join(
            f"{n} {scored[n][0]:.2f} cr/hit (hit rate {scored[n][1]:.0%}, {scored[n][2]} calls)"
            for n in order
        )
        return order, f"learned order for {fld} in {segment}: {why}"

    # -- lookups -----------------------------------------------------------------------
    def _call(self, prov: Provider, person: Person) -> tuple[ProviderAnswer, int]:
        attempts = 0
        while True:
            attempts += 1
            try:
                return prov.lookup(person), attempts
            except NotFound:
                return ProviderAnswer(
                    credits=getattr(getattr(prov, "cfg", None), "cost_per_call", 0.0)
                ), attempts
            except Transient as exc:
                if attempts > self.cfg.max_retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 0.5 * 2 ** (attempts - 1)
                self.sleep(min(wait, self.cfg.max_retry_after_seconds))

    def enrich(
        self, person: Person, fields: Sequence[str], *, now: datetime, run_id: str = "", prospect_id: str = ""
    ) -> WaterfallResult:
        res = WaterfallResult()
        answers: dict[str, ProviderAnswer] = {}
        paused = self.store.paused()
        seg = person.segment
        for fld in fields:
            if fld in res.values and res.verified.get(fld):
                continue
            order, why = self.order_for(fld, seg)
            res.orders[fld], res.explanations[fld] = order, why
            for name in order:
                if name in paused:
                    res.calls.append(Call(name, fld, "paused", message=paused[name]))
                    continue
                prov = self.providers[name]
                answer = answers.get(name)
                status = ""
                if answer is None:
                    answer = self.store.cached(name, person.key, now=now)
                    status = "cached_hit" if answer is not None and answer.values else "cached_miss"
                    if answer is None:
                        est = prov.estimate(self.expected_cost_per_hit(name, fld, seg)[1])
                        try:
                            token = self.store.reserve(
                                name, person.key, est, now=now, run_id=run_id, prospect_id=prospect_id
                            )
                        except BudgetExceeded as exc:
                            res.calls.append(
                                Call(name, fld, "budget", error_class=exc.error_class, message=exc.message)
                            )
                            res.budget_stopped = True
                            return res
                        try:
                            answer, attempts = self._call(prov, person)
                        except (ProviderConfigError, QuotaExceeded) as exc:
                            self.store.release(token)
                            self.store.pause(name, exc, now=now)
                            paused[name] = exc.message
                            res.calls.append(
                                Call(
                                    name,
                                    fld,
                                    "error",
                                    attempts=1,
                                    error_class=exc.error_class,
                                    message=exc.message,
                                )
                            )
                            continue
                        except InvalidInput as exc:
                            self.store.release(token)
                            res.invalid_fields.append(getattr(exc, "field", "") or exc.message)
                            res.calls.append(
                                Call(
                                    name,
                                    fld,
                                    "error",
                                    attempts=1,
                                    error_class=exc.error_class,
                                    message=exc.message,
                                )
                            )
                            continue
                        except ProviderError as exc:
                            self.store.release(token)
                            res.calls.append(
                                Call(
                                    name,
                                    fld,
                                    "error",
                                    attempts=self.cfg.max_retries + 1,
                                    error_class=exc.error_class,
                                    message=exc.message,
                                )
                            )
                            continue
                        hit = fld in answer.values
                        self.store.paid(
                            name,
                            person.key,
                            answer,
                            reservation=token,
                            now=now,
                            run_id=run_id,
                            prospect_id=prospect_id,
                            detail={
                                "field": fld,
                                "segment": seg,
                                "hit": hit,
                                "fields": sorted(answer.values),
                            },
                        )
                        st = self.stats.setdefault((name, fld, seg), Stat())
                        st.calls, st.hits, st.credits = (
                            st.calls + 1,
                            st.hits + int(hit),
                            st.credits + answer.credits,
                        )
                        res.calls.append(
                            Call(
                                name, fld, "hit" if hit else "miss", credits=answer.credits, attempts=attempts
                            )
                        )
                        answers[name] = answer
                        self._take(res, name, answer)
                        if hit and answer.verified.get(fld, False):
                            break
                        continue
                    answers[name] = answer
                    res.calls.append(Call(name, fld, status))
                else:
                    res.calls.append(Call(name, fld, "cached_hit" if fld in answer.values else "cached_miss"))
                self._take(res, name, answer)
                if fld in answer.values and answer.verified.get(fld, False):
                    break
        return res

    @staticmethod
    def _take(res: WaterfallResult, provider: str, answer: ProviderAnswer) -> None:
        for f, v in answer.values.items():
            verified = answer.verified.get(f, False)
            if f not in res.values or (verified and not res.verified.get(f)):
                res.values[f], res.sources[f], res.verified[f] = v, provider, verified


def stats_by_segment(stats: Mapping[StatKey, Stat]) -> list[dict[str, Any]]:
    """Hit rate and cost per hit per provider, field and segment, for reports."""
    return [
        {
            "provider": p,
            "field": f,
            "segment": s,
            "calls": st.calls,
            "hits": st.hits,
            "hit_rate": round(st.hit_rate, 4),
            "credits": round(st.credits, 4),
            "cost_per_hit": None if st.cost_per_hit is None else round(st.cost_per_hit, 4),
        }
        for (p, f, s), st in sorted(stats.items())
    ]
