"""CLI: `mcp` serves the operator tools over MCP (stdio for Claude Desktop / Claude Code, or
streamable HTTP on 127.0.0.1). See docs/crm.md."""

from __future__ import annotations

import typer

from cli.common import WorkspaceOpt, handle_errors, workspace
from core.errors import ConfigError


@handle_errors
def mcp_command(
    workspace_dir: str = WorkspaceOpt,
    actor: str = typer.Option(
        "",
        "--as",
        help="Who acts (a Slack user id in slack.approvers, or a prospect owner); recorded in the decision log.",
    ),
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP instead of stdio."),
    port: int = typer.Option(8765, "--port", help="Port for --http (bound to 127.0.0.1 only)."),
) -> None:
    """Serve list_queue, show_review, approve/edit/reject, explain_prospect, replay and costs as MCP tools."""
    from service.mcp_server import build_mcp_server

    ws = workspace(workspace_dir)
    if not actor:
        raise ConfigError("--as is required: the MCP server acts as one named operator")
    server = build_mcp_server(ws, actor=actor)
    if http:
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run("stdio")
