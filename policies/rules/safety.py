"""Agent safety: the kill switch, the actions each workspace mode allows, and the step cap
per run. "wait" and "stop" stay allowed where noted so a halted agent can still park."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.rules.common import ACTIVE_ACTIONS, applies_to
from policies.types import PolicyInput, Verdict


@applies_to(ACTIVE_ACTIONS)
def kill_switch(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """With the kill switch on, no active action runs (waiting and stopping still do)."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if inp.obs.kill_switch:
        return Verdict(
            "kill_switch",
            "deny",
            "the workspace kill switch is on; nothing runs until an operator turns it off",
        )
    return Verdict("kill_switch", "allow", "kill switch off")


def workspace_mode(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """The workspace mode (research_only, draft_only, send) limits the actions allowed;
    an absent mode is read as draft_only."""
    mode = str(inp.obs.mode or "draft_only")
    allowed = cfg.safety.mode_actions.get(mode, ("wait", "stop"))
    action = inp.proposal.action
    if action in allowed:
        return Verdict("workspace_mode", "allow", f"'{action}' is allowed in {mode} mode")
    return Verdict(
        "workspace_mode",
        "deny",
        f"the workspace is in {mode} mode, which does not allow '{action}' (allowed: {', '.join(allowed)})",
    )


@applies_to(ACTIVE_ACTIONS)
def step_cap(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """One prospect's run takes at most N steps; after that only wait or stop."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    cap = cfg.safety.max_steps_per_run
    if inp.steps_this_run >= cap:
        return Verdict(
            "step_cap",
            "deny",
            f"this run already took {inp.steps_this_run} steps for the prospect "
            f"(cap {cap}); the run stops here",
        )
    return Verdict("step_cap", "allow", f"step {inp.steps_this_run + 1} of at most {cap}")
