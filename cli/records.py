"""CLI: prospects, outbox, audit verify and replay."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlmodel import Session

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
    status: str | None = typer.Option(None, "--status"),
    limit: int | None = typer.Option(None, "--limit"),
    as_json: bool = JsonOpt,
) -> None:
    """Prospects with their company, zone, tier, status and next action."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        rows = repo.list_prospects(s, workspace=ws.id, status=status, limit=limit)
        comps = repo.companies_by_id(s, workspace=ws.id, ids=[p.company_id for p in rows])
        data = [_prospect_dict(p, comps.get(p.company_id)) for p in rows]
    if as_json:
        emit_json(data)
        return
    console.print(
        table(
            f"prospects ({len(data)})",
            [
                "id",
                "name",
                "email",
                "company",
                "domain",
                "country",
                "tz",
                "tier",
                "status",
                "next action",
                "when",
            ],
            [
                [
                    d["id"],
                    d["full_name"],
                    d["email"],
                    d["company"],
                    d["domain"],
                    d["country"],
                    d["timezone"],
                    d["tier"],
                    d["status"],
                    d["next_action"] or d["stop_reason"],
                    d["next_action_at"],
                ]
                for d in data
            ],
        )
    )


@prospects_app.command("show")
@handle_errors
def prospects_show(
    ref: str = typer.Argument(..., help="Prospect id or email."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One prospect, with its score, messages and latest decisions."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        p = repo.get_prospect(s, workspace=ws.id, ref=ref)
        if p is None:
            raise InputError(f"no prospect {ref!r} in workspace {ws.id}")
        company = repo.companies_by_id(s, workspace=ws.id, ids=[p.company_id]).get(p.company_id)
        data = _prospect_dict(p, company)
        data["attributes"] = p.attributes
        from agents.scoring import score_now

        data["score"] = score_now(s, ws, p.id, now_from(now))
        s.commit()
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
            f"{data['full_name']} ({data['id']})",
            ["field", "value"],
            [
                [k, data[k]]
                for k in (
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
    if data["score"]:
        console.print(
            f"score {data['score']['score']:g} (tier {data['score']['tier']}): {data['score']['explanation']}"
        )
    console.print(
        table(
            "messages",
            ["step", "channel", "status", "sent at"],
            [[o["step_id"], o["channel"], o["status"], o["sent_at"]] for o in data["outbox"]],
        )
    )
    console.print(
        table(
            "latest decisions",
            ["seq", "at", "node", "action"],
            [[d["seq"], d["at"], d["node"], d["action"]] for d in data["decisions"]],
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
    console.print(
        table(
            f"outbox ({len(data)})",
            ["prospect", "step", "channel", "status", "sent at", "file / error"],
            [
                [
                    d["prospect_id"],
                    d["step_id"],
                    d["channel"],
                    d["status"],
                    d["sent_at"],
                    d["path"] or d["error"],
                ]
                for d in data
            ],
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
    run: str | None = typer.Option(None, "--run", help="A run id."),
    prospect: str | None = typer.Option(None, "--prospect", help="A prospect id or email."),
    policy_file: Path | None = typer.Option(
        None,
        "--policy-file",
        help="What-if: a TOML file with a [policy] and/or [playbook] section to replay against.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Print the decision timeline and re-run planner and policies over the recorded
    observations; report every decision that comes out different (exit 1 if any)."""
    from agents.replay import replay, what_if_config

    ws = workspace(workspace_dir)
    policy, playbook = what_if_config(ws, policy_file) if policy_file else (None, None)
    result = replay(ws, run_id=run, prospect_id=prospect, policy=policy, playbook=playbook)
    if as_json:
        emit_json(result)
    else:
        console.print(
            table(
                f"timeline ({result['decisions']} decisions)",
                ["seq", "at", "prospect", "node", "action", "why", "verdicts", "cost"],
                [
                    [
                        t["seq"],
                        t["at"],
                        t["prospect_id"],
                        t["node"],
                        t["action"],
                        t["why"],
                        "; ".join(f"{v['rule']}={v['outcome']}" for v in t["verdicts"]),
                        _cost(t["cost"]),
                    ]
                    for t in result["timeline"]
                ],
            )
        )
        if result["divergences"]:
            console.print(
                table(
                    "divergences",
                    ["seq", "prospect", "what changed"],
                    [
                        [
                            d["seq"],
                            d["prospect_id"],
                            {k: v for k, v in d.items() if k in ("proposal", "verdicts")},
                        ]
                        for d in result["divergences"]
                    ],
                )
            )
        for pid, why in sorted(result.get("scores", {}).items()):
            console.print(f"  [dim]{pid}[/] {why}")
        console.print(f"replayed {result['replayed']} decisions: {len(result['divergences'])} divergence(s)")
    if result["divergences"]:
        raise typer.Exit(1)


def _cost(c: dict) -> str:
    parts = [f"{c[k]:g} {k}" for k in ("credits", "tokens", "usd") if c.get(k)]
    return ", ".join(parts)
