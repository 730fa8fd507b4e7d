"""CLI: prospects, outbox, audit verify and replay."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from agents.labels import prospect_labels
from cli.common import (
    JsonOpt,
    WorkspaceOpt,
    console,
    emit_json,
    escape_help,
    handle_errors,
    short_time,
    table,
    workspace,
)
from core.errors import InputError
from core.timeutil import iso
from state import repo
from state.db import engine_for

prospects_app = typer.Typer(help="List and inspect prospects.", no_args_is_help=True)
outbox_app = typer.Typer(help="What was sent (or is waiting to be).", no_args_is_help=True)
audit_app = typer.Typer(help="Verify the hash-chained decision log.", no_args_is_help=True)

PROSPECT_FIELDS = (
    "id",
    "full_name",
    "email",
    "title",
    "country",
    "timezone",
    "tier",
    "owner",
    "status",
    "stop_reason",
    "next_action",
    "next_action_at",
)


def _prospect_dict(p, company) -> dict:  # noqa: ANN001
    d = {f: getattr(p, f) for f in PROSPECT_FIELDS if f != "email"}
    d["email"] = p.email_norm
    d["next_action_at"] = iso(p.next_action_at)
    d["company"] = company.name if company else ""
    d["domain"] = company.domain if company else ""
    return d


@prospects_app.command("list")
@handle_errors
def prospects_list(
    workspace_dir: str = WorkspaceOpt,
    status: str | None = typer.Option(
        None,
        "--status",
        help="Only prospects in this status: active | waiting | awaiting_review | stopped | done.",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Show at most N prospects."),
    as_json: bool = JsonOpt,
) -> None:
    """Prospects with their company, zone, tier, status and next action."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        rows = repo.list_prospects(s, workspace=ws.id, status=status, limit=limit)
        comps = repo.companies_by_id(s, workspace=ws.id, ids=[p.company_id for p in rows if p.company_id])
        data = [_prospect_dict(p, comps.get(p.company_id or "")) for p in rows]
    if as_json:
        emit_json(data)
        return
    console.print(
        table(
            f"prospects ({len(data)})",
            ["name", "company", "status", "next action", "when", "tier", "country", "email", "tz", "id"],
            [
                [
                    d["full_name"] or d["email"],
                    d["company"],
                    d["status"],
                    d["next_action"] or d["stop_reason"],
                    short_time(d["next_action_at"]),
                    d["tier"],
                    d["country"],
                    d["email"],
                    d["timezone"],
                    d["id"],
                ]
                for d in data
            ],
            optional=["id", "tz", "email", "country", "tier", "when"],
        )
    )


@prospects_app.command("show")
@handle_errors
def prospects_show(
    ref: str = typer.Argument(..., help="Prospect id or email."),
    workspace_dir: str = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One prospect, with its messages and latest decisions."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        p = repo.get_prospect(s, workspace=ws.id, ref=ref)
        if p is None:
            raise InputError(f"no prospect {ref!r} in workspace {ws.id}")
        cid = p.company_id or ""
        company = repo.companies_by_id(s, workspace=ws.id, ids=[cid]).get(cid)
        data = _prospect_dict(p, company)
        data["attributes"] = p.attributes
        data["outbox"] = [
            {"step_id": o.step_id, "channel": o.channel, "status": o.status, "sent_at": iso(o.sent_at)}
            for o in repo.outbox_for(s, workspace=ws.id, prospect_id=p.id)
        ]
        data["decisions"] = [
            {"seq": d.seq, "at": iso(d.at), "node": d.node, "action": d.action}
            for d in repo.decisions_for(s, workspace=ws.id, prospect_id=p.id)
        ][-15:]
    if as_json:
        emit_json(data)
        return
    console.print(
        table(
            f"{escape(data['full_name'] or data['email'])} ({escape(data['company'])})",
            ["field", "value"],
            [
                [k, data[k]]
                for k in (
                    "id",
                    "email",
                    "title",
                    "company",
                    "domain",
                    "country",
                    "timezone",
                    "tier",
                    "owner",
                    "status",
                    "stop_reason",
                    "next_action",
                    "next_action_at",
                )
            ],
        )
    )
    console.print(
        table(
            "messages",
            ["step", "channel", "status", "sent at"],
            [[o["step_id"], o["channel"], o["status"], short_time(o["sent_at"])] for o in data["outbox"]],
        )
    )
    console.print(
        table(
            "latest decisions",
            ["seq", "at", "node", "action"],
            [[d["seq"], short_time(d["at"]), d["node"], d["action"]] for d in data["decisions"]],
        )
    )


@outbox_app.command("list")
@handle_errors
def outbox_list(
    workspace_dir: str = WorkspaceOpt,
    status: str | None = typer.Option(None, "--status", help="pending | sending | sent | failed"),
    as_json: bool = JsonOpt,
) -> None:
    """Outbox rows: one per (prospect, step, channel), with delivery status."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        data = [
            {
                "id": o.id,
                "prospect_id": o.prospect_id,
                "step_id": o.step_id,
                "channel": o.channel,
                "kind": o.kind,
                "status": o.status,
                "provider": o.provider,
                "provider_message_id": o.provider_message_id,
                "idempotency_key": o.idempotency_key,
                "sent_at": iso(o.sent_at),
                "error_class": o.error_class,
                "error": o.error,
                "path": o.payload.get("path", ""),
            }
            for o in repo.outbox_list(s, workspace=ws.id, status=status)
        ]
    if as_json:
        emit_json(data)
        return
    names = prospect_labels(engine_for(ws.database_url), ws.id, [d["prospect_id"] for d in data])
    console.print(
        table(
            f"outbox ({len(data)})",
            ["prospect", "step", "channel", "status", "sent at", "file / error"],
            [
                [
                    names.get(d["prospect_id"], d["prospect_id"]),
                    d["step_id"],
                    d["channel"],
                    d["status"],
                    short_time(d["sent_at"]),
                    d["path"] or d["error"],
                ]
                for d in data
            ],
            optional=["file / error", "channel", "sent at"],
        )
    )


@audit_app.command("verify")
@handle_errors
def audit_verify(workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Recompute the hash chain; name the first broken record. Exit 1 when broken."""
    from state.decision_log import verify

    ws = workspace(workspace_dir)
    result = verify(engine_for(ws.database_url), ws.id)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        console.print(f"[green]chain intact[/]: {result.records} records, head seq {result.head_seq}")
    else:
        console.print(
            f"[bold red]chain broken[/] at seq {result.first_broken_seq} "
            f"(record {result.first_broken_id}): {result.problem}"
        )
    if not result.ok:
        raise typer.Exit(1)


@handle_errors
def replay_command(
    workspace_dir: str = WorkspaceOpt,
    run: str | None = typer.Option(None, "--run", help="A run id (from daily's output)."),
    prospect: str | None = typer.Option(
        None, "--prospect", help="A prospect id or email: only this prospect, every decision."
    ),
    limit: int = typer.Option(
        10, "--limit", min=0, help="Prospects whose decisions are listed after the summary (0: summary only)."
    ),
    policy_file: Path | None = typer.Option(
        None,
        "--policy-file",
        help=escape_help("What-if: a TOML file with a [policy] and/or [playbook] section to replay against."),
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Re-run planner and policies over the recorded observations and report every
    decision that comes out different (exit 1 if any). Prints a summary first (where the
    prospects ended, actions, rules that held actions back, cost), then each prospect's
    decisions; --prospect and --limit drill in."""
    from agents.replay import replay, what_if_config

    ws = workspace(workspace_dir)
    policy, playbook = what_if_config(ws, policy_file) if policy_file else (None, None)
    result = replay(ws, run_id=run, prospect_id=prospect, policy=policy, playbook=playbook)
    if as_json:
        emit_json(result)
    else:
        groups = result["prospects"]
        shown = groups if prospect else groups[:limit]
        ids = [g["prospect_id"] for g in shown] + [d["prospect_id"] for d in result["divergences"]]
        names = prospect_labels(engine_for(ws.database_url), ws.id, ids)
        _print_replay_summary(
            result, run or "", names.get(groups[0]["prospect_id"], "") if prospect and groups else ""
        )
        _print_divergences(result["divergences"], names)
        if shown:
            more = (
                f"; --limit {len(groups)} lists all, --prospect ID_OR_EMAIL one"
                if len(shown) < len(groups)
                else ""
            )
            console.print(f"\n[bold]decisions per prospect[/] ({len(shown)} of {len(groups)}{more}):")
        _print_prospect_details(result, shown, names)
    if result["divergences"]:
        raise typer.Exit(1)


def _print_replay_summary(result: dict, run: str, who: str) -> None:
    s = result["summary"]
    scope = f"run {run}" if run else f"prospect {who}"
    when = ""
    if s["first_at"]:
        when = (
            f" at {s['first_at']}"
            if s["first_at"] == s["last_at"]
            else f" ({s['first_at']} to {s['last_at']})"
        )
    console.print(
        f"[bold]replay of {escape(scope)}[/]{when}: {s['decisions']} decisions for {s['prospects']} "
        f"prospect(s); {result['replayed']} replayed, "
        + (
            f"[bold red]{s['divergences']} divergence(s)[/]"
            if s["divergences"]
            else "[green]0 divergences[/]"
        )
    )
    ended = ", ".join(f"{n} {label}" for label, n in s["ended"].items()) or "none"
    console.print(f"where they ended: {ended}")
    actions = ", ".join(f"{n} {a}" for a, n in s["actions"].items()) or "none"
    console.print(f"actions: {actions}")
    errors = ", ".join(f"{n} {k}" for k, n in s["errors_by_class"].items())
    console.print(
        f"sent: {s['sent']}; errors: {s['errors']}{f' ({errors})' if errors else ''}; "
        f"cost: {_cost(s['cost']) or 'none'}"
    )
    held = s["held_by_rules"][:8]
    if held:
        console.print(
            table(
                "rules that held actions back",
                ["rule", "verdict", "times"],
                [[h["rule"], h["outcome"], h["count"]] for h in held],
            )
        )
        if len(s["held_by_rules"]) > len(held):
            console.print(f"[dim]... and {len(s['held_by_rules']) - len(held)} more (see --json)[/]")


def _print_divergences(divergences: list, names: dict[str, str]) -> None:
    if not divergences:
        return
    console.print(
        table(
            "divergences",
            ["seq", "prospect", "what changed"],
            [
                [
                    d["seq"],
                    names.get(d["prospect_id"], d["prospect_id"]),
                    {k: v for k, v in d.items() if k in ("proposal", "verdicts")},
                ]
                for d in divergences
            ],
        )
    )


def _print_prospect_details(result: dict, shown: list, names: dict[str, str]) -> None:
    """One block per prospect: a header with where it ended, then its decisions in a
    borderless grid that wraps inside its columns."""
    by_seq = {t["seq"]: t for t in result["timeline"]}
    for g in shown:
        label = names.get(g["prospect_id"], g["prospect_id"])
        console.print(
            f"\n[bold]{escape(label)}[/] - {g['decisions']} decisions, {g['sent']} sent, ended: {g['ended']}"
        )
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for seq in g["seqs"]:
            t = by_seq[seq]
            what = t["action"] if t["node"] == "act" else f"{t['node']}:{t['action']}"
            why = escape(t["why"] or "")
            verdicts = "; ".join(f"{v['rule']}={v['outcome']}" for v in t["verdicts"])
            if verdicts:
                why += f" [yellow]{escape(verdicts)}[/]"
            if t.get("error"):
                why += f" [red]{escape(t['error'].get('error_class', 'error'))}: {escape(t['error'].get('message', ''))}[/]"
            grid.add_row(f"#{t['seq']}", what, why)
        console.print(grid)


def _cost(c: dict) -> str:
    parts = [f"{c[k]:g} {k}" for k in ("credits", "tokens", "usd") if c.get(k)]
    return ", ".join(parts)
