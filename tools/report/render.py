"""The charts of a figures dict (agents/report.py) as inline SVG, and the self-contained
HTML report: one file, no script, no external style, font or image, so it opens offline
and survives being attached to an email."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tools.report import charts

TEMPLATES = Path(__file__).parent / "templates"


def chart_svgs(fig: dict[str, Any]) -> dict[str, str]:
    """Every chart of the report, keyed by name."""
    funnel = fig["funnel"]
    spend = fig["spend"]
    out = {
        "funnel": charts.hbar(
            [(f"{r['step']} ({r['channel']})", r["sent"]) for r in funnel], title="Sent by step"
        ),
        "channels": charts.hbar(
            [(c, n) for c, n in fig["sends_by_channel"].items()],
            title="Sends by channel",
            color=charts.PALETTE[1],
        ),
        "daily": charts.line(
            {c: list(d.items()) for c, d in fig["sends_by_day"].items()}, title="Sends per day by channel"
        ),
        "spend": charts.hbar(
            [(r["provider"], r["usd"]) for r in spend["by_provider"]],
            title="Spend by provider (USD)",
            color=charts.PALETTE[2],
        ),
        "deferred": charts.hbar(
            list(fig["deferred"].items())[:10],
            title="Why sends were deferred (rule)",
            color=charts.PALETTE[3],
        ),
        "denied": charts.hbar(
            list(fig["denied"].items())[:10], title="Why actions were denied (rule)", color=charts.PALETTE[4]
        ),
        "replies": charts.hbar(
            [(f"{r['step']}", r["replied"]) for r in funnel if r["sent"]],
            title="Replies by step",
            color=charts.PALETTE[5],
        ),
    }
    budget = spend["month_budget"]
    if budget.get("usd"):
        out["budget"] = charts.hbar(
            [("month to date", spend["month_to_date"]["usd"]), ("month budget", float(budget["usd"]))],
            title="Spend against the month budget (USD)",
            color=charts.PALETTE[6],
        )
    for step, exp in fig.get("experiments", {}).items():
        out[f"exp_{step}"] = charts.intervals(
            [(v["variant"], v["rate"], v["low"], v["high"]) for v in exp["variants"]],
            title=f"{step}: positive-reply rate per variant (95% credible interval)",
        )
    return out


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    env.filters["pct"] = lambda v: f"{float(v or 0):.1%}"
    env.filters["usd"] = lambda v: "-" if v is None else f"${float(v):,.2f}"
    return env


def render_report(fig: dict[str, Any]) -> str:
    """The client report as one HTML document."""
    return _env().get_template("report.html.j2").render(fig=fig, svg=chart_svgs(fig))
