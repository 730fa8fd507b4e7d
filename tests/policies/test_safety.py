"""Agent safety: kill switch, workspace modes, step cap per run."""

from __future__ import annotations

import pytest

from policies.config import PolicyConfig
from policies.rules.safety import kill_switch, step_cap, workspace_mode
from tests.policies.factories import make_input

CFG = PolicyConfig()


@pytest.mark.parametrize(
    "on, action, expected",
    [
        (True, "send", "deny"),
        (True, "research", "deny"),
        (True, "wait", None),
        (True, "stop", None),
        (False, "send", "allow"),
    ],
    ids=["on-send", "on-research", "on-wait-free", "on-stop-free", "off"],
)
def test_kill_switch(on, action, expected):
    """The kill switch denies every active action and leaves wait/stop alone."""
    v = kill_switch(make_input(kill_switch=on, proposal={"action": action}), CFG)
    assert (v.outcome if v else None) == expected


@pytest.mark.parametrize(
    "mode, action, expected",
    [
        ("research_only", "research", "allow"),
        ("research_only", "enrich", "allow"),
        ("research_only", "draft", "deny"),
        ("research_only", "send", "deny"),
        ("draft_only", "draft", "allow"),
        ("draft_only", "request_review", "allow"),
        ("draft_only", "send", "deny"),
        ("draft_only", "call_task", "deny"),
        ("send", "send", "allow"),
        ("send", "call_task", "allow"),
        (None, "send", "deny"),
        ("bogus", "research", "deny"),
        ("bogus", "stop", "allow"),
    ],
    ids=[
        "ro-research",
        "ro-enrich",
        "ro-draft",
        "ro-send",
        "do-draft",
        "do-review",
        "do-send",
        "do-call",
        "send-send",
        "send-call",
        "absent-means-draft-only",
        "unknown-mode-research",
        "unknown-mode-stop",
    ],
)
def test_workspace_mode(mode, action, expected):
    """Each workspace mode allows exactly its actions; an absent mode reads as draft_only."""
    v = workspace_mode(make_input(mode=mode, proposal={"action": action}), CFG)
    assert v.outcome == expected


@pytest.mark.parametrize(
    "steps, action, expected",
    [
        (0, "send", "allow"),
        (11, "send", "allow"),
        (12, "send", "deny"),
        (40, "research", "deny"),
        (12, "wait", None),
        (12, "stop", None),
    ],
    ids=["first", "one-below-cap", "at-cap", "over-cap", "wait-at-cap", "stop-at-cap"],
)
def test_step_cap(steps, action, expected):
    """A run takes at most max_steps_per_run active steps; waiting or stopping is always allowed."""
    v = step_cap(make_input(steps_this_run=steps, proposal={"action": action}), CFG)
    assert (v.outcome if v else None) == expected
