"""outbound: the command line. Thin: parse, call a service function, render.

Every command takes --workspace (a folder with workspace.toml) and --json; commands
that depend on "now" take --now so runs can be simulated and replayed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.batches import batches_app
from cli.channels import channels_app
from cli.clay import clay_app
from cli.common import (
    JsonOpt,
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    escape_help,
    handle_errors,
    install_help_fixes,
    now_from,
    progress_bar,
    table,
    workspace,
)
from cli.costs import costs_command, forecast_command, research_command
from cli.crm import crm_app
from cli.doctor import doctor_command
from cli.lists import events_app, render_import, signals_app, suppress_app
from cli.mcp import mcp_command
from cli.policy import app as policy_app
from cli.queue import app as queue_app
from cli.records import audit_app, outbox_app, prospects_app, replay_command
from cli.report import report_command
from cli.runs import app as runs_app
from cli.runs import worker_command
from cli.serve import serve_command
from cli.summary import print_daily_summary
from cli.web import web_app
from cli.workspace_new import workspace_app
from core.logging import configure_logging

app = typer.Typer(
    help="Agentic outbound orchestration: one state machine per prospect, "
    "policy guardrails, a tamper-evident decision log.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(prospects_app, name="prospects")
app.add_typer(signals_app, name="signals")
app.add_typer(suppress_app, name="suppress")
app.add_typer(events_app, name="events")
app.add_typer(queue_app, name="queue")
app.add_typer(outbox_app, name="outbox")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(channels_app, name="channels")
app.add_typer(batches_app, name="batches")
app.command("replay")(replay_command)
app.command("costs")(costs_command)
app.command("forecast")(forecast_command)
app.command("research")(research_command)
app.command("serve")(serve_command)
app.add_typer(workspace_app, name="workspace")
app.command("doctor")(doctor_command)
app.command("report")(report_command)
app.add_typer(web_app, name="web")
app.add_typer(crm_app, name="crm")
app.add_typer(clay_app, name="clay")
app.command("mcp")(mcp_command)
app.command("worker")(worker_command)
app.add_typer(runs_app, name="runs")
install_help_fixes()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log to stderr.")) -> None:
    configure_logging(verbose=verbose)


@app.command("import")
@handle_errors
def import_cmd(
    file: Path = typer.Argument(..., help="CSV (Clay export) or JSONL file."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Import prospects: validate each row, resolve identities, report rejects by line."""
    from agents.services import import_file

    ws = workspace(workspace_dir)
    with progress_bar("importing", not as_json) as update:
        counter = {"n": 0}

        def tick(n: int) -> None:
            counter["n"] += n
            if counter["n"] % 200 == 0:
                update(counter["n"], 0)

        result = import_file(ws, file, now=now_from(now), progress=tick)
    if as_json:
        emit_json(result.to_dict())
    else:
        render_import(result, file.name)
    if not result.accepted:  # a file that yields no usable row is a failed import
        raise typer.Exit(1)


@app.command("init")
@handle_errors
def init_cmd(workspace_dir: str = WorkspaceOpt, now: str | None = NowOpt, as_json: bool = JsonOpt) -> None:
    """Create the workspace's database and import its bundled files (prospects.csv,
    signals.csv, suppressions.csv) when present. Safe to run again."""
    from agents.services import init_workspace

    result = init_workspace(workspace(workspace_dir), now=now_from(now))
    if as_json:
        emit_json(result)
        return
    rows = [
        [
            name,
            r.get("imported", 0),
            r.get("updated", 0),
            r.get("merged", 0),
            r.get("rejected", 0),
            r.get("rejects_file") or "",
        ]
        for name, r in result["files"].items()
    ]
    console.print(
        table(
            f"workspace {result['workspace']} ready ({result['database']})",
            ["file", "imported", "updated", "merged", "rejected", "rejects file"],
            rows,
        )
    )


@app.command("daily")
@handle_errors
def daily_cmd(
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    limit: int | None = typer.Option(None, "--limit", help="Process at most N due prospects."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show each due prospect's next action and verdicts; change nothing."
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        help=escape_help(
            "Worker processes (0: the workspace's [run] workers, default 1). A workspace using "
            "Claude also works on [llm] run_concurrency prospects at once in each process."
        ),
    ),
    queue: bool | None = typer.Option(
        None,
        "--queue/--local",
        help=escape_help(
            "Split the run into jobs on the PostgreSQL job queue for `run.py worker` processes on any "
            "host (--queue), or run it here (--local). Default: the workspace's [scale] queue."
        ),
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="With the queue: wait for the workers and print the run's summary (default), or print "
        "the run id at once (then: run.py runs show RUN_ID).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run the agent for every prospect due at --now."""
    from agents.runner import run_daily

    ws = workspace(workspace_dir)
    at = now_from(now)
    with progress_bar("daily run", not as_json) as update:
        summary = run_daily(
            ws,
            now=at,
            limit=limit,
            dry_run=dry_run,
            workers=workers or ws.config.run.workers,
            progress=update,
            queue=queue,
            wait=wait,
        )
    data = summary.to_dict()
    if as_json:
        emit_json(data)
        return
    if data.get("queue", {}).get("status") == "queued":
        q = data["queue"]
        console.print(
            f"run [bold]{data['run_id']}[/] queued: {q.get('total', 0)} prospect(s) in "
            f"{len(q.get('jobs') or [])} job(s) for `run.py worker`; see it with "
            f"run.py runs show {data['run_id']}"
        )
        return
    print_daily_summary(ws, data)
    render_spend(data)


def render_spend(data: dict) -> None:
    """The dry run's per-prospect preview, carried-over prospects, and forecast vs actual."""
    if data.get("dry_run"):
        rows = [
            [
                r["prospect_id"],
                r["name"],
                f"{r['score']:g}",
                r["action"],
                r["channel"] or "-",
                r["step"] or "-",
                r["recipient"] or "-",
                r["outcome"] if not r["carry_over"] else f"carry over ({r['carry_over']})",
                "; ".join(f"{v['rule']}: {v['reason']}" for v in r["verdicts"] if v["outcome"] != "allow")[
                    :90
                ]
                or "-",
                f"{r['est_credits']:g}",
            ]
            for r in data.get("preview", [])
        ]
        console.print(
            table(
                "what each due prospect would do (highest score first; nothing is paid or sent)",
                [
                    "prospect",
                    "name",
                    "score",
                    "action",
                    "channel",
                    "step",
                    "recipient",
                    "outcome",
                    "deciding verdicts",
                    "est credits",
                ],
                rows,
                optional=["prospect", "est credits", "step", "recipient"],
            )
        )
    for rule, n in sorted((data.get("carried_over") or {}).items()):
        console.print(f"  [yellow]carried over[/] {n} prospect(s): {rule} cap spent")
    fc, act = data.get("forecast") or {}, data.get("actual") or {}
    if fc:
        line = f"  forecast {fc.get('credits', 0):g} credits (${fc.get('usd', 0):.2f})"
        if act:
            line += f"; actual {act.get('credits', 0):g} credits (${act.get('usd', 0):.2f})"
        console.print(line)


@app.command("demo-data")
@handle_errors
def demo_data_cmd(
    prospects: int = typer.Option(1000, "--prospects", min=1, help="How many prospects."),
    out: Path = typer.Option(..., "--out", help="Folder to write the workspace into."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed writes the same workspace."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a synthetic workspace of any size (for trials and benchmarks)."""
    from tools.synthetic import write_synthetic_workspace

    result = write_synthetic_workspace(out, prospects, seed=seed)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"wrote {result['prospects']} prospects at {result['companies']} companies to "
        f"[bold]{result['path']}[/]; next: run.py init -w {result['path']}"
    )


if __name__ == "__main__":
    app()
