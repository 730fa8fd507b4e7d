"""Start the service under uvicorn. SIGTERM/SIGINT: uvicorn stops accepting, finishes the
requests in flight (and their background decisions), then the app's shutdown stops the
scheduler (a running daily run ends after its current prospect) and the inbound worker
(the lead in hand finishes; the rest stay stored and are picked up at the next start)."""

from __future__ import annotations

from pathlib import Path

from core.logging import configure_logging
from core.workspace import load_workspace


def serve(
    workspace_dirs: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    verbose: bool = False,
    graceful_seconds: int = 60,
) -> None:
    import uvicorn

    from service.app import create_app

    configure_logging(verbose=verbose)
    workspaces = [load_workspace(Path(d)) for d in workspace_dirs]
    app = create_app(workspaces)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        timeout_graceful_shutdown=graceful_seconds,
        access_log=verbose,
    )
