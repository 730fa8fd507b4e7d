"""Budget: enrichment credits, LLM spend and total spend, capped per run, per month and
per prospect. An action whose estimate would cross a cap is denied, and the reason says
what is left. Spend so far comes from `counters.spend.{run,month,prospect}`; the
proposal carries the estimate (`est_credits`, `est_llm_usd`, `est_usd`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from policies.config import PolicyConfig, SpendCaps
from policies.rules.common import ACTIVE_ACTIONS, ConfigMemo, amount, applies_to, money
from policies.types import PolicyInput, Verdict

_SCOPE_WORDS = {"run": "this run's", "month": "this month's", "prospect": "this prospect's"}
# (meter, proposal estimate attribute, how to print an amount, noun)
_METERS: tuple[tuple[str, str, Callable[[float], str], str], ...] = (
    ("credits", "est_credits", amount, "enrichment credits"),
    ("llm_usd", "est_llm_usd", money, "LLM spend"),
    ("usd", "est_usd", money, "total spend"),
)


def spend_lines(
    inp: PolicyInput, cfg: PolicyConfig, scope: str
) -> Iterator[tuple[str, float, float, float, Callable[[float], str]]]:
    """For one scope: (meter noun, spent, estimate, cap, formatter) for every capped meter."""
    spent = inp.counters.spend(scope)
    for meter, attr, fmt, noun, cap in _capped_meters(getattr(cfg.budget, scope)):
        yield noun, getattr(spent, meter), float(getattr(inp.proposal, attr)), cap, fmt


def _capped_meters(caps: SpendCaps) -> list[tuple[str, str, Callable[[float], str], str, float]]:
    """The meters with a cap in one scope's caps, with the cap (the caps are frozen)."""
    return [(m, a, f, n, cap) for m, a, f, n in _METERS if (cap := getattr(caps, m)) is not None]


# A budget verdict is a pure function of (caps, scope, spend so far, the estimates).
_VERDICTS = ConfigMemo()


def _budget(scope: str, inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    p = inp.proposal
    key = (scope, inp.counters.spend(scope), float(p.est_credits), float(p.est_llm_usd), float(p.est_usd))
    return _VERDICTS.get(cfg.budget, key, lambda: _budget_verdict(scope, inp, cfg))


def _budget_verdict(scope: str, inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    rule = f"budget_{scope}"
    crossed, within = [], []
    for noun, spent, est, cap, fmt in spend_lines(inp, cfg, scope):
        left = max(cap - spent, 0.0)
        if spent + est > cap + 1e-9:
            crossed.append(
                f"{noun}: this action needs about {fmt(est)} but only {fmt(left)} of "
                f"{fmt(cap)} is left ({fmt(spent)} spent)"
            )
        else:
            within.append(f"{noun} {fmt(spent + est)} of {fmt(cap)}")
    if crossed:
        return Verdict(rule, "deny", f"{_SCOPE_WORDS[scope]} budget would be crossed - " + "; ".join(crossed))
    if not within:
        return None
    return Verdict(rule, "allow", f"within {_SCOPE_WORDS[scope]} budget (" + ", ".join(within) + ")")


@applies_to(ACTIVE_ACTIONS)
def budget_run(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Credits, LLM spend and total spend of one run stay under the run caps."""
    return _budget("run", inp, cfg)


@applies_to(ACTIVE_ACTIONS)
def budget_month(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Credits, LLM spend and total spend of the month stay under the monthly caps."""
    return _budget("month", inp, cfg)


@applies_to(ACTIVE_ACTIONS)
def budget_prospect(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """What is spent on one prospect stays under the per-prospect caps."""
    return _budget("prospect", inp, cfg)


def budget_ratios(inp: PolicyInput, cfg: PolicyConfig) -> list[tuple[float, str]]:
    """Each capped meter as (share of cap after this action, description), for actions
    that cost something."""
    out = []
    for scope in ("run", "month", "prospect"):
        for noun, spent, est, cap, fmt in spend_lines(inp, cfg, scope):
            if est > 0 and cap > 0:
                out.append(
                    ((spent + est) / cap, f"{_SCOPE_WORDS[scope]} {noun} ({fmt(spent + est)} of {fmt(cap)})")
                )
    return out
