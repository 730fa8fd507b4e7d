"""Runs every rule for a proposed action and combines the verdicts:
deny over review over defer over allow. Every verdict is returned, not only the winner.

A rule may declare the actions it can judge (`policies.rules.common.applies_to`): for
any other action it returns None, so the engine does not call it. The rules that can
apply to each action are indexed once per engine, in catalogue order, so the verdicts and
their order are exactly those of running every rule."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from policies.config import PolicyConfig
from policies.observation import Observation
from policies.types import ACTIONS, OUTCOME_RANK, Decision, Outcome, PolicyInput, Verdict

Rule = Callable[[PolicyInput, PolicyConfig], Verdict | None]
_BY_RANK: tuple[Outcome, ...] = tuple(sorted(OUTCOME_RANK, key=OUTCOME_RANK.__getitem__, reverse=True))  # type: ignore[arg-type]
# Parsed observations an engine keeps by the key its caller gives (the observation digest).
VIEW_MEMO = 256


def combine(verdicts: Sequence[Verdict]) -> Decision:
    """Deny > review > defer > allow; a defer waits until the latest deferral."""
    if not verdicts:
        return Decision(outcome="allow", verdicts=())
    outcomes = {v.outcome for v in verdicts}
    # the highest-ranked outcome present (OUTCOME_RANK: deny > review > defer > allow)
    outcome = next(o for o in _BY_RANK if o in outcomes)
    until = None
    if outcome == "defer":
        until = max(v.until for v in verdicts if v.outcome == "defer" and v.until)
    return Decision(outcome=outcome, verdicts=tuple(verdicts), until=until)


def rule_actions(rule: Rule) -> frozenset[str] | None:
    """The actions a rule declared it can judge, or None (it may judge any action)."""
    declared = getattr(rule, "applies_to", None)
    return frozenset(declared) if declared is not None else None


class PolicyEngine:
    """Holds the rule list and the workspace's policy config. Pure: no I/O."""

    def __init__(self, config: PolicyConfig, rules: Iterable[tuple[str, Rule]] | None = None):
        from policies.rules import DEFAULT_RULES

        self.config = config
        chosen = list(rules) if rules is not None else list(DEFAULT_RULES)
        self.rules = [(rid, fn) for rid, fn in chosen if rid not in config.disabled_rules]
        self._by_action: dict[str, tuple[Rule, ...]] = {
            action: self._applicable(action) for action in ACTIONS
        }
        self._views: OrderedDict[str, Observation] = OrderedDict()

    def _applicable(self, action: str) -> tuple[Rule, ...]:
        out = []
        for _rid, fn in self.rules:
            declared = rule_actions(fn)
            if declared is None or action in declared:
                out.append(fn)
        return tuple(out)

    @property
    def rule_ids(self) -> list[str]:
        return [rid for rid, _ in self.rules]

    def rules_for(self, action: str) -> tuple[Rule, ...]:
        """The rules that can give a verdict on `action`, in catalogue order."""
        found = self._by_action.get(action)
        return found if found is not None else tuple(fn for _rid, fn in self.rules)

    def observation(self, obs: Mapping[str, Any], key: str | None = None) -> Observation:
        """The typed view of a JSON observation. With `key` (the observation's digest: the
        same key always names the same content), the view is parsed once and kept (at
        most VIEW_MEMO of them); without one it is parsed each time."""
        if key is None:
            return Observation.from_json(obs)
        view = self._views.get(key)
        if view is None:
            view = Observation.from_json(obs)
            self._views[key] = view
            if len(self._views) > VIEW_MEMO:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return view

    def evaluate(self, inp: PolicyInput) -> Decision:
        verdicts = []
        cfg = self.config
        for rule in self.rules_for(inp.proposal.action):
            verdict = rule(inp, cfg)
            if verdict is not None:
                verdicts.append(verdict)
        return combine(verdicts)
