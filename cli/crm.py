"""CLI: `crm sync` writes touched prospects, companies, touches and hand-offs to the CRM
(`--dry-run` shows the creates, updates and conflicts first). See docs/crm.md."""

from __future__ import annotations

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

crm_app = typer.Typer(help="CRM write-back (HubSpot) and its dry run.", no_args_is_help=True)


@crm_app.command("sync")
@handle_errors
def crm_sync(
    workspace_dir: str = WorkspaceOpt,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show creates, updates and conflicts; write nothing."
    ),
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Sync every prospect with a sent touch or a hand-off: contacts by email, companies by
    domain, each touch as an engagement, each hand-off as a task. Re-running writes nothing new."""
    from tools.crm.sync import sync_workspace

    ws = workspace(workspace_dir)
    with console.status("syncing with the CRM", spinner="dots") if not as_json else _null():
        report = sync_workspace(ws, now=now_from(now), dry_run=dry_run)
    data = report.to_dict()
    if as_json:
        emit_json(data)
    else:
        rows = [
            [i["kind"], i["action"], i["our_id"], i["field"], i["detail"]]
            for i in data["items"]
            if i["action"] != "link"
        ][:200]
        verb = "would write" if dry_run else "wrote"
        console.print(
            table(
                f"crm sync ({'dry run' if dry_run else 'written'})",
                ["kind", "action", "our id", "field", "detail"],
                rows,
            )
        )
        console.print(
            f"{verb}: {data['creates']} create(s), {data['updates']} update(s); {data['conflicts']} conflict(s), "
            f"{data['ambiguous']} ambiguous (operator tasks); {data['writes']} API write call(s)"
        )
        for e in data["errors"]:
            console.print(f"  [red]{e['cause']}[/] {e['field'] or e['kind']}: {e['message']}")
    if data["errors"]:
        raise typer.Exit(1)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
