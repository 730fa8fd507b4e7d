"""Shared CLI plumbing: options, the injected clock, JSON vs Rich output, and turning
classified errors into a message with a next step and a non-zero exit."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import OutboundError
from core.timeutil import SystemClock, parse_instant
from core.workspace import Workspace, load_workspace

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOpt = typer.Option(
    os.environ.get("OUTBOUND_WORKSPACE", "examples/demo"),
    "--workspace",
    "-w",
    help="Workspace folder (with workspace.toml). Env: OUTBOUND_WORKSPACE.",
)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
NowOpt = typer.Option(
    None,
    "--now",
    help="The instant to act at (ISO-8601, e.g. 2026-11-23T15:00:00Z); defaults to the system clock.",
)


def workspace(path: str) -> Workspace:
    return load_workspace(Path(path))


def now_from(value: str | None) -> datetime:
    if not value:
        return SystemClock().now()
    try:
        return parse_instant(value)
    except ValueError:
        raise typer.BadParameter(f"--now {value!r} is not an ISO-8601 instant") from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def handle_errors(fn: F) -> F:
    """Classified errors print what went wrong and what to do next, then exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OutboundError as exc:
            if kwargs.get("as_json"):
                emit_json({"error": exc.to_dict()})
            else:
                err_console.print(f"[bold red]error[/] ({exc.error_class}): {exc.message}")
                err_console.print(f"[dim]next step:[/] {exc.next_step}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar; `update(done, total)`. Silent when disabled (JSON output)."""
    if not enabled:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as prog:
        task = prog.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update
