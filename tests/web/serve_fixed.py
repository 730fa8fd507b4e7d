"""Run the service (the real app under uvicorn) for one workspace with a fixed clock:
`python -m tests.web.serve_fixed WORKSPACE PORT NOW`. The browser test starts it as a
separate process so the browser talks to a real HTTP server on 127.0.0.1, at an instant
inside the demo's send window."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime

import uvicorn

from core.timeutil import parse_instant
from core.workspace import load_workspace
from service.app import create_app


@dataclass
class _Fixed:
    at: datetime

    def now(self) -> datetime:
        return self.at


def main() -> None:
    root, port, now = sys.argv[1], int(sys.argv[2]), parse_instant(sys.argv[3])
    app = create_app(
        [load_workspace(root)],
        clock=_Fixed(now),
        run_scheduler=False,
        run_worker=False,
        slack_client_factory=lambda ws: None,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
