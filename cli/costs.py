"""CLI: `costs` (spend from the ledger, grouped) and `forecast` (the next run's spend)."""

from __future__ import annotations

from datetime import datetime

import typer

from cli.common import (
    JsonOpt,
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    handle_errors,
    now_from,
    progress_bar,
    table,
    workspace,
)
from core.errors import InputError


def _day(value: str | None, opt: str) -> datetime | None:
    if not value:
        return None
    try:
        return now_from(value if "T" in value else value + "T00:00:00Z")
    except Exception as exc:  # noqa: BLE001  (any parse failure is the user's input)
        raise InputError(f"{opt}: expected a date (2026-11-01) or an instant, got {value!r}") from exc


@handle_errors
def costs_command(
    workspace_dir: str = WorkspaceOpt,
    by: str = typer.Option(
        "provider", "--by", help="Group by provider, day, prospect, step, month, run or kind."
    ),
    since: str | None = typer.Option(None, "--from", help="First day (inclusive), e.g. 2026-11-01."),
    until: str | None = typer.Option(None, "--to", help="Last instant (exclusive), e.g. 2026-12-01."),
    as_json: bool = JsonOpt,
) -> None:
    """Spend recorded in the cost ledger (credits, dollars, LLM dollars, tokens), grouped."""
    from sqlmodel import Session

    from state.db import engine_for
    from state.ledger import GROUPS, report

    if by not in (*GROUPS, "segment"):
        raise InputError(f"--by: expected one of {', '.join(GROUPS)}, segment; got {by!r}")
    ws = workspace(workspace_dir)
    if by == "segment":
        _segments(ws, as_json)
        return
    with Session(engine_for(ws.database_url)) as session:
        rows = report(session, workspace=ws.id, by=by, since=_day(since, "--from"), until=_day(until, "--to"))
    total = {k: round(sum(r[k] for r in rows), 4) for k in ("calls", "credits", "usd", "llm_usd", "tokens")}
    if as_json:
        emit_json({"workspace": ws.id, "by": by, "from": since, "to": until, "rows": rows, "total": total})
        return
    cols = [by, "calls", "credits", "usd", "llm usd", "tokens"]
    body = [
        [r[by], r["calls"], f"{r['credits']:g}", f"${r['usd']:.2f}", f"${r['llm_usd']:.2f}", r["tokens"]]
        for r in rows
    ]
    body.append(
        [
            "[bold]total[/]",
            total["calls"],
            f"{total['credits']:g}",
            f"${total['usd']:.2f}",
            f"${total['llm_usd']:.2f}",
            total["tokens"],
        ]
    )
    console.print(table(f"costs by {by} ({ws.id})", cols, body))


@handle_errors
def forecast_command(
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    limit: int | None = typer.Option(None, "--limit", help="Forecast at most N due prospects."),
    as_json: bool = JsonOpt,
) -> None:
    """Estimate the next run's calls, credits, tokens and dollars from the due prospects, the
    playbook, the cache and observed hit rates (nothing is paid or sent)."""
    from agents.forecast import forecast, preview
    from state.db import engine_for

    ws = workspace(workspace_dir)
    with progress_bar("forecast", not as_json) as update:
        rows = preview(ws, engine_for(ws.database_url), now=now_from(now), limit=limit, progress=update)
    fc = forecast(rows, ws)
    if as_json:
        emit_json({"workspace": ws.id, "now": now_from(now).isoformat(), **fc})
        return
    console.print(
        table(
            f"forecast for the run at {now_from(now).isoformat()} ({ws.id})",
            ["due", "acting", "calls", "credits", "tokens", "usd", "sends", "reviews", "carried over"],
            [
                [
                    fc["prospects"],
                    fc["acting"],
                    ", ".join(f"{k} {v}" for k, v in sorted(fc["calls"].items())) or "-",
                    f"{fc['credits']:g}",
                    fc["tokens"],
                    f"${fc['usd']:.2f}",
                    ", ".join(f"{k} {v}" for k, v in sorted(fc["sends"].items())) or "-",
                    fc["reviews"],
                    ", ".join(f"{k} {v}" for k, v in sorted(fc["carried_over"].items())) or "-",
                ]
            ],
        )
    )


@handle_errors
def research_command(
    domain: str = typer.Argument(..., help="The company's domain (e.g. acme.com)."),
    workspace_dir: str = WorkspaceOpt,
    live: bool = typer.Option(
        False, "--live", help="Read the live site even if the workspace uses snapshots."
    ),
    scheme: str | None = typer.Option(
        None, "--scheme", help="http or https for the live site (default https)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port of the live site (local test servers)."),
    as_json: bool = JsonOpt,
) -> None:
    """Research one company now: pages read, pages skipped and why, and the evidence found."""
    from agents.research_run import research_domain

    if scheme not in (None, "http", "https"):
        raise InputError(f"--scheme: expected http or https, got {scheme!r}")
    result = research_domain(workspace(workspace_dir), domain, live=live, scheme=scheme, port=port)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result['researcher']} research of {domain}: {len(result['pages'])} page(s) read")
    for s in result["skipped"]:
        console.print(f"  [yellow]skipped[/] {s['url']}: {s['why']}")
    console.print(
        table(
            "evidence",
            ["kind", "quote", "source"],
            [[e["kind"], e["quote"][:100], e["url"]] for e in result["evidence"]],
        )
    )


def _segments(ws: object, as_json: bool) -> None:
    from datetime import timedelta

    from state.db import engine_for
    from tools.enrichment.store import DbWaterfallStore
    from tools.enrichment.waterfall import stats_by_segment

    store = DbWaterfallStore(engine_for(ws.database_url), ws.id, ttl=timedelta(days=1), credit_usd=0.0)  # type: ignore[attr-defined]
    rows = stats_by_segment(store.stats())
    if as_json:
        emit_json({"workspace": ws.id, "by": "segment", "rows": rows})  # type: ignore[attr-defined]
        return
    console.print(
        table(
            "enrichment by provider, field and segment",
            ["provider", "field", "segment", "calls", "hits", "hit rate", "credits", "cost per hit"],
            [
                [
                    r["provider"],
                    r["field"],
                    r["segment"],
                    r["calls"],
                    r["hits"],
                    f"{r['hit_rate']:.0%}",
                    f"{r['credits']:g}",
                    "-" if r["cost_per_hit"] is None else f"{r['cost_per_hit']:g}",
                ]
                for r in rows
            ],
        )
    )
