"""CLI: `run.py report` - the client report for a period, as an HTML file and/or JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import (
    JsonOpt,
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    handle_errors,
    now_from,
    table,
    workspace,
)


@handle_errors
def report_command(
    workspace_dir: str = WorkspaceOpt,
    start: str = typer.Option(
        None, "--from", help="First day (YYYY-MM-DD) or instant; default 30 days before --to."
    ),
    end: str = typer.Option(
        None, "--to", help="Last day included (YYYY-MM-DD) or an instant (excluded); default --now."
    ),
    html: Path = typer.Option(
        None, "--html", help="Write the self-contained HTML report (charts as SVG) here."
    ),
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Funnel by step and channel, reply rates, hand-offs, bounces, spend, deferral
    reasons, top openings and experiments for a period; --html writes a file for the client."""
    from datetime import timedelta

    from agents.report import compute_figures, parse_day
    from tools.report.render import render_report

    ws = workspace(workspace_dir)
    stop = now_from(now)
    if end:
        stop = parse_day(end, field="--to") + (timedelta(days=1) if len(end) == 10 else timedelta(0))
    first = parse_day(start, field="--from") if start else stop - timedelta(days=30)
    fig = compute_figures(ws, start=first, end=stop)
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_report(fig), encoding="utf-8")
    if as_json:
        emit_json({**fig, "html": str(html) if html else None})
        return
    console.print(
        table(
            f"{fig['client']} ({fig['workspace']}) {fig['from']} to {fig['to']}",
            [
                "sent",
                "contacted",
                "reply rate",
                "positive",
                "hand-offs",
                "bounces",
                "unsubscribes",
                "spend USD",
            ],
            [
                [
                    sum(fig["sends_by_channel"].values()),
                    fig["contacted"],
                    f"{fig['reply_rate']:.1%}",
                    f"{fig['positive_reply_rate']:.1%}",
                    fig["handoffs"],
                    fig["bounces"],
                    fig["unsubscribes"],
                    f"{fig['spend']['total_usd']:.2f}",
                ]
            ],
        )
    )
    console.print(
        table(
            "funnel",
            ["step", "channel", "drafted", "reviewed", "sent", "replied", "positive"],
            [
                [
                    r["step"],
                    r["channel"],
                    r["drafted"],
                    r["review_requested"],
                    r["sent"],
                    r["replied"],
                    r["positive"],
                ]
                for r in fig["funnel"]
            ],
        )
    )
    for step, exp in fig["experiments"].items():
        console.print(f"experiment [bold]{step}[/]: {exp['verdict']}")
    if html:
        console.print(f"report written to [bold]{html}[/]")
