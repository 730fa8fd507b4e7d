"""Shared CLI plumbing: options, the injected clock, JSON vs Rich output, and turning
classified errors into a message with a next step and a non-zero exit."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import ConfigError, OutboundError
from core.timeutil import SystemClock, parse_instant
from core.workspace import Workspace, load_workspace

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

WORKSPACE_ENV = "OUTBOUND_WORKSPACE"
# No default workspace: a forgotten -w must never fall back to the bundled demo. Typer
# reads OUTBOUND_WORKSPACE when the command runs (envvar=), not when this module loads.
WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    envvar=WORKSPACE_ENV,
    show_envvar=True,
    metavar="DIR",
    help="Workspace folder (with workspace.toml). Required: pass it or set the env var.",
)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
NowOpt = typer.Option(
    None,
    "--now",
    metavar="INSTANT",
    help="The instant to act at (ISO-8601, e.g. 2026-11-23T15:00:00Z); defaults to the system clock.",
)


def workspace_path(path: str | None) -> Path:
    """The workspace folder given by -w or OUTBOUND_WORKSPACE; an error naming both if neither."""
    if not path:
        raise ConfigError(
            f"no workspace given: pass --workspace/-w DIR or set {WORKSPACE_ENV}",
            next_step=f"Run with -w path/to/workspace (or export {WORKSPACE_ENV}=path/to/workspace); "
            "`run.py workspace new DIR` creates one.",
        )
    return Path(path)


def workspace(path: str | None) -> Workspace:
    return load_workspace(workspace_path(path))


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
                err_console.print(f"[bold red]error[/] ({exc.error_class}): {rich_escape(exc.message)}")
                err_console.print(f"[dim]next step:[/] {rich_escape(exc.next_step)}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def table(
    title: str,
    columns: Sequence[str],
    rows: list[list[Any]],
    *,
    optional: Sequence[str] = (),
    width: int | None = None,
) -> Table:
    """A Rich table that fits the terminal (80 columns without one): a header is wrapped
    only between words, never inside one, and when the columns cannot fit comfortably,
    the ones named in ``optional`` (lowest value first) are left out; the title says which.
    A single row that still cannot fit is shown as field/value pairs; otherwise the last
    columns are left out (and named). Cells still wrap inside their column."""
    available = width or console.width
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    needs = {c: _column_need(c, [r[i] for r in cells]) for i, c in enumerate(columns)}
    keep = list(columns)
    dropped: list[str] = []

    def fits() -> bool:
        return sum(needs[c] + 3 for c in keep) + 1 <= available

    for name in optional:
        if fits():
            break
        if name in keep:
            keep.remove(name)
            dropped.append(name)
    if not fits() and len(cells) <= 1:
        # one wide row (a summary): show it as name/value pairs instead
        return table(title, ["field", "value"], [[c, r[i]] for r in cells for i, c in enumerate(columns)])
    while not fits() and len(keep) > 1:
        dropped.append(keep.pop())
    if dropped:
        title = f"{title} [dim](not shown at this width: {', '.join(dropped)}; see --json)[/]"
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in keep:
        t.add_column(c, overflow="fold", min_width=_longest_word(c))
    index = [list(columns).index(c) for c in keep]
    for r in cells:
        t.add_row(*(r[i] for i in index))
    return t


COMFORTABLE = 10  # a column narrower than this (or its content) reads badly


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=1)


def _column_need(header: str, values: list[str]) -> int:
    """The width a column needs to read well: its longest header word, and its content
    up to COMFORTABLE characters (longer content wraps)."""
    content = max((len(v) for v in values), default=0)
    return max(_longest_word(header), min(content, COMFORTABLE))


def short_time(value: str | None) -> str:
    """An ISO instant as 'YYYY-MM-DD HH:MM' for tables (full precision stays in --json)."""
    if not value:
        return ""
    return value.replace("T", " ")[:16]


def escape_help(text: str) -> str:
    """Help text with Rich markup characters escaped, so `[policy]` shows as written."""
    return rich_escape(text)


def install_help_fixes() -> None:
    """Typer (0.29) prints ``<bool>`` as the type of every flag, --help included, as if
    it took a value: show no type for flags, as Click does. Called once by run.py."""
    from typer.core import TyperOption

    if getattr(TyperOption.display_type_rich, "_flag_fix", False):
        return
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and not self.count:
            return None
        return original(self, ctx)

    display_type_rich._flag_fix = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


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
