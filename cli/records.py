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
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    escape_help,
    handle_errors,
    now_from,
    short_time,
    table,
    workspace,
)
from core.errors import UnknownReference
from core.timeutil import iso
from state import repo
from state.db import engine_for

prospects_app = typer.Typer(help="List and inspect prospects.", no_args_is_help=True)
outbox_app = typer.Typer(help="What was sent (or is waiting to be).", no_args_is_help=True)
audit_app = typer.Typer(
    help="Verify the hash-chained decision log and anchor it outside the database.", no_args_is_help=True
)

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
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One prospect, with its score, messages and latest decisions."""
    ws = workspace(workspace_dir)
    with Session(engine_for(ws.database_url)) as s:
        p = repo.get_prospect(s, workspace=ws.id, ref=ref)
        if p is None:
            raise UnknownReference(f"no prospect {ref!r} in workspace {ws.id}")
        cid = p.company_id or ""
        company = repo.companies_by_id(s, workspace=ws.id, ids=[cid]).get(cid)
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
        from agents.batching import waiting_for

        data["waiting_for_batch"] = waiting_for(s, ws.id, p.id)
        from agents.runner import carried_over_in

        data["carried_over"] = carried_over_in(s, ws.id, p.id)
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
    for b in data["waiting_for_batch"]:
        console.print(
            f"waiting for a batch: {b['task']} request {b['status']} {escape(b['batch_id'])} since {short_time(b['since'])}"
        )
    if data["score"]:
        console.print(
            f"score {data['score']['score']:g} (tier {data['score']['tier']}): {data['score']['explanation']}"
        )
    console.print(
        table(
            "messages",
            ["step", "channel", "status", "sent at"],
            [[o["step_id"], o["channel"], o["status"], short_time(o["sent_at"])] for o in data["outbox"]],
        )
    )
    if data["carried_over"]:
        c = data["carried_over"]
        console.print(
            f"not worked in run {escape(c['run_id'])} ({short_time(c['at'])}): carried over by "
            f"{escape(c['rule'])} - {escape(c['reason'])}"
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
    status: str | None = typer.Option(
        None, "--status", help="pending | sending | sent | failed | unknown (the provider may have acted)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Outbox rows: one per (prospect, step, channel), with delivery status and provider calls."""
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
                "provider_calls": int(o.payload.get("provider_calls") or 0),
                "unconfirmed": bool(o.payload.get("unconfirmed")),
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
            ["prospect", "step", "channel", "status", "calls", "sent at", "file / error", "key"],
            [
                [
                    names.get(d["prospect_id"], d["prospect_id"]),
                    d["step_id"],
                    d["channel"],
                    _status_cell(d),
                    d["provider_calls"],
                    short_time(d["sent_at"]),
                    d["path"] or d["error"],
                    d["idempotency_key"] if d["status"] == "unknown" else "",
                ]
                for d in data
            ],
            optional=["key", "calls", "file / error", "channel", "sent at"],
        )
    )
    unknown = sum(1 for d in data if d["status"] == "unknown")
    if unknown:
        console.print(
            f"[yellow]{unknown} send(s) with an unknown outcome[/]: the provider may have acted. "
            "Run `outbox reconcile`, or settle each with `outbox resolve KEY --sent|--not-sent`."
        )


def _status_cell(d: dict) -> str:
    if d["status"] == "unknown":
        return "[bold yellow]unknown[/]"
    if d["status"] == "sent" and d["unconfirmed"]:
        return "sent (unconfirmed)"
    return d["status"]


@outbox_app.command("reconcile")
@handle_errors
def outbox_reconcile(
    workspace_dir: str = WorkspaceOpt, now: str | None = NowOpt, as_json: bool = JsonOpt
) -> None:
    """Ask each provider about the sends whose outcome is unknown; confirmed ones become sent.
    The others stay unknown with their operator task (exit 1 while any remain)."""
    import os

    from agents.context import build_channels
    from agents.delivery import reconcile_unknown

    ws = workspace(workspace_dir)
    channels = build_channels(ws, env=os.environ)
    result = reconcile_unknown(
        engine_for(ws.database_url), workspace=ws.id, channels=channels, now=now_from(now)
    )
    if as_json:
        emit_json(result)
    else:
        console.print(
            table(
                f"unknown sends ({len(result)})",
                ["key", "channel", "now", "provider id / why not"],
                [
                    [
                        r["idempotency_key"],
                        r["channel"],
                        r["status"],
                        r.get("provider_message_id") or r.get("problem", ""),
                    ]
                    for r in result
                ],
            )
        )
    if any(r["status"] == "unknown" for r in result):
        raise typer.Exit(1)


@outbox_app.command("resolve")
@handle_errors
def outbox_resolve(
    key: str = typer.Argument(..., help="The idempotency key of an outbox row in status 'unknown'."),
    sent: bool = typer.Option(
        ...,
        "--sent/--not-sent",
        help="--sent: it reached the recipient; --not-sent: send it once on the next run.",
    ),
    actor: str | None = typer.Option(
        None, "--as", help="Who settles it (recorded in the decision log); defaults to cli:<login>."
    ),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Settle one send whose outcome is unknown, after checking with the provider."""
    import getpass

    from agents.delivery import resolve_unknown

    ws = workspace(workspace_dir)
    result = resolve_unknown(
        engine_for(ws.database_url),
        workspace=ws.id,
        key=key,
        delivered=sent,
        actor=actor or f"cli:{getpass.getuser()}",
        now=now_from(now),
    )
    if as_json:
        emit_json(result)
    elif result["status"] == "sent":
        console.print(f"{key}: recorded as sent (unconfirmed by the provider); it is never sent again.")
    else:
        console.print(f"{key}: back to pending; the next run sends it once.")


@audit_app.command("verify")
@handle_errors
def audit_verify(
    workspace_dir: str = WorkspaceOpt,
    anchor: Path | None = typer.Option(
        None,
        "--anchor",
        help="A JSONL file of signed anchors (from `audit anchor`): also check that the chain still "
        "holds every anchored head (detects truncation, a replaced tail, a rewritten chain).",
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="The anchors' public key (PEM); default: the one beside the anchor file."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Recompute the hash chain; name the first broken record. Exit 1 when broken."""
    from state.decision_log import verify

    ws = workspace(workspace_dir)
    engine = engine_for(ws.database_url)
    if anchor is not None:
        from agents.audit import verify_with_anchors

        result = verify_with_anchors(engine, ws.id, anchor, public_key_file=public_key)
    else:
        result = verify(engine, ws.id).to_dict()
    if as_json:
        emit_json(result)
    elif result["ok"]:
        console.print(f"[green]chain intact[/]: {result['records']} records, head seq {result['head_seq']}")
        if anchor is not None and result.get("newest_anchor"):
            newest = result["newest_anchor"]
            console.print(
                f"matches {result['anchors']} anchor(s); newest at seq {newest['seq']} ({newest['at']}); "
                f"{result['unanchored_records']} record(s) after it are not anchored yet"
            )
    else:
        console.print(f"[bold red]chain broken[/] at seq {result['first_broken_seq']}:")
        for problem in result.get("problems") or [result["problem"]]:
            console.print(f"  - {problem}")
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("anchor")
@handle_errors
def audit_anchor(
    workspace_dir: str = WorkspaceOpt,
    out: Path | None = typer.Option(
        None, "--out", help="Anchor file to append to; default: the workspace's audit.anchor_file setting."
    ),
    slack: bool = typer.Option(
        False, "--slack", help="Also post the anchor to the workspace's Slack channel."
    ),
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Sign the decision log's head (workspace, seq, hash, time) with the anchor key and
    append it to the anchor file (and Slack). Keep that file away from the database."""
    from agents.audit import write_anchor

    ws = workspace(workspace_dir)
    client = None
    if slack:
        from service.sites import default_slack_client

        client = default_slack_client(ws)
        if client is None:
            raise typer.BadParameter(
                "Slack is not set up for this workspace (bot token env var and slack.channel)",
                param_hint="--slack",
            )
    result = write_anchor(ws, engine_for(ws.database_url), now=now_from(now), out=out, slack_client=client)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"anchored {ws.id} at seq {result['seq']} (head {result['hash'][:16]}…) in {result['file']}"
        + (f"; posted to Slack {result['slack']['channel']}" if "slack" in result else "")
    )
    if "slack_error" in result:
        console.print(f"[yellow]Slack post failed[/]: {result['slack_error']} (the file anchor is written)")


@audit_app.command("keygen")
@handle_errors
def audit_keygen(
    workspace_dir: str = WorkspaceOpt,
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="Where to write the private key (mode 0600, never overwritten); default: the "
        "audit.anchor_key_file setting, else ~/.config/outbound-agent/anchor-WORKSPACE.key.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Create the Ed25519 key that signs anchors (outside the database) and its public key."""
    from agents.audit import generate_key

    ws = workspace(workspace_dir)
    result = generate_key(ws, path=key_file)
    if as_json:
        emit_json(result)
        return
    console.print(f"private key: {result['key_file']} (mode 0600; back it up, never commit it)")
    console.print(f"public key:  {result['public_key_file']} (key id {result['key_id']})")
    if key_file is not None:
        console.print(
            f'Add to workspace.toml:\n[audit]\nanchor_key_file = "{result["key_file"]}"', markup=False
        )


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
    decision that comes out different (exit 1 if any). A Claude planner answers from its
    recorded calls (no network). Prints a summary first (where the
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
        scores = result.get("scores", {})
        for g in shown:
            if g["prospect_id"] in scores:
                console.print(
                    f"  score of {names.get(g['prospect_id'], g['prospect_id'])}: {scores[g['prospect_id']]}"
                )
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
