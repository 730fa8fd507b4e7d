"""Pure helpers for the CLI's `policy check` / `explain` views: every rule's verdict for
one proposal, including the rules that do not apply. No I/O; the CLI renders."""

from __future__ import annotations

from typing import Any

from policies.engine import PolicyEngine
from policies.rules import RULE_FAMILIES
from policies.types import PolicyInput

NOT_APPLICABLE = "not applicable"


def explain(engine: PolicyEngine, inp: PolicyInput) -> list[dict[str, Any]]:
    """One row per enabled rule, in engine order: rule id, family, outcome (or
    "not applicable"), reason, and `until` for a defer."""
    rows = []
    for rid, rule in engine.rules:
        verdict = rule(inp, engine.config)
        row: dict[str, Any] = {"rule": rid, "family": RULE_FAMILIES.get(rid, "custom")}
        if verdict is None:
            row.update(outcome=NOT_APPLICABLE, reason="")
        else:
            row.update(outcome=verdict.outcome, reason=verdict.reason)
            if verdict.until:
                row["until"] = verdict.until
        rows.append(row)
    return rows


def deciding_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that decide the combined outcome (deny > review > defer > allow)."""
    rank = {"allow": 0, "defer": 1, "review": 2, "deny": 3}
    applied = [r for r in rows if r["outcome"] in rank]
    if not applied:
        return []
    top = max(rank[r["outcome"]] for r in applied)
    return [r for r in applied if rank[r["outcome"]] == top]
