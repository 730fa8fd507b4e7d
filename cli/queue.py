"""CLI: the human review queue (the same queue Slack uses)."""

from __future__ import annotations

import getpass
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

ReviewIdArg = typer.Argument(..., help="The review id (from queue list).")
app = typer.Typer(
    help="Review drafts waiting for a human: list, show, approve, edit, reject, snooze.", no_args_is_help=True
)
ActorOpt = typer.Option(
    None, "--as", help="Who decides (recorded in the decision log); defaults to cli:<login>."
)


def _actor(value: str | None) -> str:
    return value or f"cli:{getpass.getuser()}"


@app.command("list")
@handle_errors
def list_cmd(
    workspace_dir: str = WorkspaceOpt,
    status: str = typer.Option(
        "pending", "--status", help="pending | approved | edited | rejected | snoozed | all"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Review requests (pending by default)."""
    from agents.review_queue import list_reviews

    views = list_reviews(workspace(workspace_dir), status=None if status == "all" else status)
    if as_json:
        emit_json([v.to_dict() for v in views])
        return
    console.print(
        table(
            f"reviews ({len(views)} {status})",
            ["id", "prospect", "company", "channel", "step", "why", "requested"],
            [
                [
                    v.review["id"],
                    v.prospect.get("name"),
                    v.prospect.get("company"),
                    v.review["channel"],
                    v.review["step_id"],
                    "; ".join(v.review["reasons"]),
                    v.review["requested_at"],
                ]
                for v in views
            ],
        )
    )


@app.command("show")
@handle_errors
def show_cmd(
    review_id: str = ReviewIdArg, workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt
) -> None:
    """One review request with its draft and the evidence each sentence cites."""
    from agents.review_queue import show_review

    v = show_review(workspace(workspace_dir), review_id)
    if as_json:
        emit_json(v.to_dict())
        return
    console.print(
        f"[bold]{v.prospect.get('name')}[/] <{v.prospect.get('email')}> - "
        f"{v.prospect.get('title')} at {v.prospect.get('company')} (tier {v.prospect.get('tier')})"
    )
    console.print(f"status: {v.review['status']}  why: {'; '.join(v.review['reasons'])}")
    console.print(f"[bold]Subject:[/] {v.draft.get('subject', '')}\n\n{v.draft.get('body', '')}\n")
    for s in v.draft.get("sentences", []):
        if s["evidence_ids"]:
            console.print(f"  [dim]{', '.join(s['evidence_ids'])}[/] {s['text']}")


def _decide(
    review_id: str,
    decision: str,
    workspace_dir: str,
    now: str | None,
    actor: str | None,
    as_json: bool,
    **kw: object,
) -> None:
    from agents.review_queue import decide

    result = decide(
        workspace(workspace_dir),
        review_id,
        decision,
        actor=_actor(actor),  # type: ignore[arg-type]
        now=now_from(now),
        **kw,
    )  # type: ignore[arg-type]
    if as_json:
        emit_json(result)
        return
    run = result["run"]
    sent = ", ".join(f"{n} {c}" for c, n in run["sent"].items() if n) or "nothing sent yet"
    console.print(f"review {review_id}: [bold]{decision}[/] by {result['actor']}; resumed: {sent}")


@app.command("approve")
@handle_errors
def approve_cmd(
    review_id: str = ReviewIdArg,
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    actor: str | None = ActorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Approve: the prospect's graph resumes and the send passes the guard again."""
    _decide(review_id, "approve", workspace_dir, now, actor, as_json)


@app.command("reject")
@handle_errors
def reject_cmd(
    review_id: str = ReviewIdArg,
    reason: str = typer.Option(..., "--reason", help="Why (kept in the log)."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    actor: str | None = ActorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Reject: the step is skipped; the planner moves on."""
    _decide(review_id, "reject", workspace_dir, now, actor, as_json, note=reason)


@app.command("edit")
@handle_errors
def edit_cmd(
    review_id: str = ReviewIdArg,
    subject: str | None = typer.Option(None, "--subject", help="The new subject line (email)."),
    body_file: Path | None = typer.Option(None, "--body-file", help="File with the new body."),
    body: str | None = typer.Option(None, "--body", help="The new body text (or use --body-file)."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    actor: str | None = ActorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Edit and approve: the edited text goes through the content rules before sending."""
    text = body_file.read_text(encoding="utf-8") if body_file else body
    _decide(review_id, "edit", workspace_dir, now, actor, as_json, subject=subject, body=text)


@app.command("snooze")
@handle_errors
def snooze_cmd(
    review_id: str = ReviewIdArg,
    until: str = typer.Option(..., "--until", help="ISO-8601 instant."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    actor: str | None = ActorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Snooze: ask again after --until."""
    _decide(review_id, "snooze", workspace_dir, now, actor, as_json, until=now_from(until))
