"""CLI: `run.py web hash-password` and `run.py web user add` - users of the web view.

Passwords are read from a hidden prompt (or stdin with --password-stdin), hashed with
argon2 and only the hash is written; the password itself is never printed or stored."""

from __future__ import annotations

import re
import sys

import typer

from cli.common import JsonOpt, WorkspaceOpt, console, emit_json, handle_errors, workspace
from core.errors import InputError

web_app = typer.Typer(
    help="Users of the web view (sign-in names, roles, password hashes).", no_args_is_help=True
)
user_app = typer.Typer(help="Add web users to a workspace.", no_args_is_help=True)
web_app.add_typer(user_app, name="user")

StdinOpt = typer.Option(False, "--password-stdin", help="Read the password from stdin instead of a prompt.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@web_app.command("hash-password")
@handle_errors
def hash_password_cmd(password_stdin: bool = StdinOpt, as_json: bool = JsonOpt) -> None:
    """Print an argon2 hash for the password_hash of a web user (web.users in workspace.toml)."""
    from service.web.auth import hash_password

    digest = hash_password(_password(password_stdin))
    if as_json:
        emit_json({"password_hash": digest})
    else:
        console.print(digest, soft_wrap=True, highlight=False)


@user_app.command("add")
@handle_errors
def user_add_cmd(
    name: str = typer.Argument(..., help="Sign-in name (letters, digits, _ . @ -)."),
    role: str = typer.Option("viewer", "--role", help="viewer (read), approver (decide reviews) or admin."),
    workspace_dir: str = WorkspaceOpt,
    password_stdin: bool = StdinOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Hash a password and append the user to the workspace's workspace.toml."""
    from core.webconfig import ROLE_RANK
    from service.web.auth import hash_password

    ws = workspace(workspace_dir)
    if role not in ROLE_RANK:
        raise InputError(f"unknown role {role!r}; use viewer, approver or admin", field="--role")
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise InputError(f"name {name!r} may only use letters, digits and _ . @ -", field="name")
    if any(u.name == name for u in ws.config.web.users):
        raise InputError(f"user {name!r} already exists in {ws.root / 'workspace.toml'}", field="name")
    digest = hash_password(_password(password_stdin))
    file = ws.root / "workspace.toml"
    with file.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[[web.users]]\nname = "{name}"\nrole = "{role}"\npassword_hash = "{digest}"\n')
    workspace(workspace_dir)  # the file still loads
    if as_json:
        emit_json({"workspace": ws.id, "user": name, "role": role, "file": str(file)})
    else:
        console.print(f"added [bold]{name}[/] ({role}) to {file}; restart `serve` to use it")
