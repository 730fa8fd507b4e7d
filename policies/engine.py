"""Runs every rule for a proposed action and combines the verdicts:
deny over review over defer over allow. Every verdict is returned, not only the winner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from policies.config import PolicyConfig
from policies.types import OUTCOME_RANK, Decision, PolicyInput, Verdict

Rule = Callable[[PolicyInput, PolicyConfig], Verdict | None]


def combine(verdicts: Sequence[Verdict]) -> Decision:
    """Deny > review > defer > allow; a defer waits until the latest deferral."""
    if not verdicts:
        return Decision(outcome="allow", verdicts=())
    outcome = max((v.outcome for v in verdicts), key=OUTCOME_RANK.__getitem__)
    until = None
    if outcome == "defer":
        until = max(v.until for v in verdicts if v.outcome == "defer" and v.until)
    return Decision(outcome=outcome, verdicts=tuple(verdicts), until=until)


class PolicyEngine:
    """Holds the rule list and the workspace's policy config. Pure: no I/O."""

    def __init__(self, config: PolicyConfig, rules: Iterable[tuple[str, Rule]] | None = None):
        from policies.rules import DEFAULT_RULES

        self.config = config
        chosen = list(rules) if rules is not None else list(DEFAULT_RULES)
        self.rules = [(rid, fn) for rid, fn in chosen if rid not in config.disabled_rules]

    @property
    def rule_ids(self) -> list[str]:
        return [rid for rid, _ in self.rules]

    def evaluate(self, inp: PolicyInput) -> Decision:
        verdicts = []
        for _rid, rule in self.rules:
            verdict = rule(inp, self.config)
            if verdict is not None:
                verdicts.append(verdict)
        return combine(verdicts)
