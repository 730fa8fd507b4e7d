"""Prometheus metrics, one registry per app (so two apps in one process, as in tests,
never share counters)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,  # noqa: F401  (re-exported for the route)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "outbound_runs_total",
            "Runs started (daily, wake-up, inbound).",
            ["workspace", "kind"],
            registry=r,
        )
        self.decisions = Counter(
            "outbound_decisions_total",
            "Prospect outcomes and review decisions, by action.",
            ["workspace", "action"],
            registry=r,
        )
        self.sends = Counter(
            "outbound_sends_total", "Messages sent, by channel.", ["workspace", "channel"], registry=r
        )
        self.approvals_pending = Gauge(
            "outbound_approvals_pending", "Review requests waiting for a human.", ["workspace"], registry=r
        )
        self.queue_latency = Histogram(
            "outbound_inbound_queue_latency_seconds",
            "From an inbound lead's receipt to its decision.",
            ["workspace"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0),
        )
        self.provider_errors = Counter(
            "outbound_provider_errors_total",
            "Failed calls to outside systems, by class.",
            ["workspace", "provider", "error_class"],
            registry=r,
        )
        self.slack_requests = Counter(
            "outbound_slack_interactions_total",
            "Slack interaction requests, by result.",
            ["result"],
            registry=r,
        )

    def count_outcome(self, workspace: str, outcome: Mapping[str, Any]) -> None:
        """One prospect outcome from process_prospect (or a resumed review)."""
        self.decisions.labels(workspace, str(outcome.get("kind", "wait"))).inc()
        for sent in outcome.get("sent") or []:
            self.sends.labels(workspace, str(sent.get("channel", ""))).inc()

    def count_summary(self, workspace: str, kind: str, summary: Mapping[str, Any]) -> None:
        """A RunSummary.to_dict() of a daily or wake-up run."""
        self.runs.labels(workspace, kind).inc()
        for channel, n in (summary.get("sent") or {}).items():
            if n:
                self.sends.labels(workspace, channel).inc(n)
        for action, key in (
            ("review", "review_requested"),
            ("wait", "deferred"),
            ("stop", "stopped"),
            ("error", "errors"),
        ):
            if summary.get(key):
                self.decisions.labels(workspace, action).inc(summary[key])
        for err in summary.get("error_details") or []:
            self.provider_errors.labels(workspace, "run", str(err.get("error_class", ""))).inc()

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh is not None:
            refresh()
        return generate_latest(self.registry)
