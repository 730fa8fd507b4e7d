"""CLI: the human review queue (the same queue Slack uses)."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.markup import escape

from cli.common import (
    JsonOpt,
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    escape_help,
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
    None,
    "--as",
    help=escape_help(
        "Who decides: a user id from [slack] approvers (or the prospect's owner); refused "
        "otherwise. Without it the decision is recorded as local:<login>, marked unverified."
    ),
)


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
    console.print(
        f"status: {v.review['status']} ({v.review.get('kind', 'message')} review)  "
        f"why: {'; '.join(v.review['reasons'])}"
    )
    if not v.draft:
        console.print("[dim]No draft yet: this review approves the decision, not a message.[/]")
        return
    console.print(f"[bold]Subject:[/] {v.draft.get('subject', '')}\n\n{v.draft.get('body', '')}\n")
    cited = [s for s in v.draft.get("sentences", []) if s.get("evidence") or s.get("evidence_ids")]
    if cited:
        console.print("[bold]Evidence behind each claim[/]")
    for s in cited:
        console.print(f"  [bold]{escape(s['text'])}[/]")
        for e in s.get("evidence") or []:
            console.print(
                f"    \u201c{escape(e['quote'])}\u201d\n    [link={e['url']}]{escape(e['url'])}[/link]"
            )
        if not s.get("evidence"):
            console.print("    [red]cited evidence not found[/]")


def _decide(
    review_id: str,
    decision: str,
    workspace_dir: str,
    now: str | None,
    actor: str | None,
    as_json: bool,
    **kw: object,
) -> None:
    from agents.review_queue import cli_actor, decide

    ws = workspace(workspace_dir)
    who, verified = cli_actor(ws, review_id, actor, getpass.getuser())
    result = decide(
        ws,
        review_id,
        decision,  # type: ignore[arg-type]
        actor=who,
        now=now_from(now),
        actor_verified=verified,
        **kw,  # type: ignore[arg-type]
    )
    if as_json:
        emit_json(result)
        return
    mark = "" if verified else " [yellow](local user, not verified against the approver list)[/]"
    console.print(f"review {review_id}: [bold]{decision}[/] by {escape(who)}{mark}")
    console.print(f"outcome: {escape(result['outcome']['message'])}")


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
    subject: str | None = typer.Option(None, "--subject", help="The new subject (email only)."),
    body_file: Path | None = typer.Option(None, "--body-file", help="File with the new body."),
    body: str | None = typer.Option(
        None, "--body", help="The new body; checked against the content rules before it is accepted."
    ),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    actor: str | None = ActorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Edit and approve: an edit that breaks content rules (merge tags, banned phrases, no
    opt-out, uncited claims) is refused with the problems and the review stays pending."""
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
