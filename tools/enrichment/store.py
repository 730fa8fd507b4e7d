"""The database side of the waterfall: answers cached in `lookup_cache` (provider
``enrich:<name>``) with a TTL, every paid call in the cost ledger (reserved before the call,
committed with the answer in one transaction), provider pauses in `channel_state` (channel
``enrichment:<name>``) with one operator task per pause, and per-segment stats read back from
the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.errors import ProviderError
from core.timeutil import iso, to_utc
from state.db import session_scope
from state.ledger import caps_from, record_cost, release, reserve
from state.models import ChannelState, LookupCache, Task
from state.models_ledger import CostEntry
from tools.enrichment.providers import ProviderAnswer
from tools.enrichment.waterfall import Stat, StatKey


def cache_name(provider: str) -> str:
    return f"enrich:{provider}"


class DbWaterfallStore:
    def __init__(
        self, engine: Engine, workspace: str, *, ttl: timedelta, credit_usd: float, budget: Any = None
    ) -> None:
        self.engine = engine
        self.workspace = workspace
        self.ttl = ttl
        self.credit_usd = credit_usd
        self.budget = budget

    def cached(
        self, provider: str, key: str, *, now: datetime, session: Session | None = None
    ) -> ProviderAnswer | None:
        """The cached answer younger than the TTL (`session`: read inside a caller's
        transaction, as the forecast does, instead of opening a second one)."""
        if session is not None:
            return self._cached(session, provider, key, now)
        with Session(self.engine) as s:
            return self._cached(s, provider, key, now)

    def _cached(self, s: Session, provider: str, key: str, now: datetime) -> ProviderAnswer | None:
        row = s.exec(
            select(LookupCache).where(
                LookupCache.workspace == self.workspace,
                LookupCache.provider == cache_name(provider),
                LookupCache.key == key,
            )
        ).first()
        if row is None or to_utc(row.created_at) < to_utc(now) - self.ttl:
            return None
        return ProviderAnswer.from_dict(row.result)

    def _ledger_key(self, provider: str, key: str, now: datetime) -> str:
        # One paid call per TTL window: the window's start is part of the key.
        window = int(to_utc(now).timestamp() // self.ttl.total_seconds())
        return f"{cache_name(provider)}:{key}:{window}"

    def reserve(
        self, provider: str, key: str, credits: float, *, now: datetime, run_id: str, prospect_id: str
    ) -> str:
        lkey = self._ledger_key(provider, key, now)
        caps = caps_from(self.budget, now=now, run_id=run_id, prospect_id=prospect_id) if self.budget else []
        with session_scope(self.engine) as s:
            reserve(
                s,
                workspace=self.workspace,
                key=lkey,
                at=now,
                kind="enrichment",
                provider=cache_name(provider),
                credits=credits,
                usd=credits * self.credit_usd,
                caps=caps,
                run_id=run_id,
                prospect_id=prospect_id,
            )
        return lkey

    def release(self, reservation: str) -> None:
        with session_scope(self.engine) as s:
            release(s, workspace=self.workspace, key=reservation)

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
        with session_scope(self.engine) as s:
            row = s.exec(
                select(LookupCache).where(
                    LookupCache.workspace == self.workspace,
                    LookupCache.provider == cache_name(provider),
                    LookupCache.key == key,
                )
            ).first()
            row = row or LookupCache(
                workspace=self.workspace, provider=cache_name(provider), key=key, status="", created_at=now
            )
            row.status = "found" if answer.hit else "not_found"
            row.result, row.credits, row.usd, row.created_at = (
                answer.to_dict(),
                answer.credits,
                answer.credits * self.credit_usd,
                now,
            )
            s.add(row)
            record_cost(
                s,
                workspace=self.workspace,
                key=reservation,
                at=now,
                kind="enrichment",
                provider=cache_name(provider),
                credits=answer.credits,
                usd=answer.credits * self.credit_usd,
                run_id=run_id,
                prospect_id=prospect_id,
                detail={"status": row.status, **detail},
            )

    def paused(self, session: Session | None = None) -> dict[str, str]:
        if session is not None:
            return self._paused(session)
        with Session(self.engine) as s:
            return self._paused(s)

    def _paused(self, s: Session) -> dict[str, str]:
        rows = s.exec(select(ChannelState).where(ChannelState.workspace == self.workspace)).all()
        return {
            r.channel.split(":", 1)[1]: r.reason
            for r in rows
            if r.paused and r.channel.startswith("enrichment:")
        }

    def pause(self, provider: str, error: ProviderError, *, now: datetime) -> None:
        with session_scope(self.engine) as s:
            st = s.get(ChannelState, (self.workspace, f"enrichment:{provider}"))
            st = st or ChannelState(
                workspace=self.workspace, channel=f"enrichment:{provider}", changed_at=now
            )
            st.paused, st.reason, st.error_class, st.changed_at = True, error.message, error.error_class, now
            s.add(st)
            dedupe = f"enrichment_paused:{provider}:{iso(now)}"
            if (
                s.exec(
                    select(Task).where(
                        Task.workspace == self.workspace,
                        Task.dedupe_key.like(f"enrichment_paused:{provider}:%"),  # type: ignore[attr-defined]
                        Task.status == "open",
                    )
                ).first()
                is None
            ):
                s.add(
                    Task(
                        workspace=self.workspace,
                        dedupe_key=dedupe,
                        kind="provider_paused",
                        title=f"Enrichment provider {provider} paused ({error.error_class})",
                        body=f"{error.message}. {error.next_step} The waterfall continues with the next provider; "
                        f"resume with `run.py channels resume enrichment:{provider}` once fixed.",
                        created_at=now,
                    )
                )

    def stats(self) -> dict[StatKey, Stat]:
        """Calls, hits and credits per (provider, field, segment) from committed ledger rows."""
        out: dict[StatKey, Stat] = {}
        with Session(self.engine) as s:
            rows = s.exec(
                select(CostEntry.provider, CostEntry.credits, CostEntry.detail).where(
                    CostEntry.workspace == self.workspace,
                    CostEntry.kind == "enrichment",
                    CostEntry.status == "committed",
                )
            ).all()
        for provider, credits, detail in rows:
            d = detail or {}
            if not provider.startswith("enrich:") or "segment" not in d:
                continue
            st = out.setdefault(
                (provider.split(":", 1)[1], str(d.get("field", "")), str(d["segment"])), Stat()
            )
            st.calls += 1
            st.hits += int(bool(d.get("hit")))
            st.credits += float(credits)
        return out
