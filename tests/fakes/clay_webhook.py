"""A local fake of a Clay table webhook source on 127.0.0.1: `POST /webhook/<id>` takes one
JSON row. Like Clay it limits the rate (a token bucket: `rate` records a second, bursts of
`burst`; over it answers 429 with Retry-After), refuses payloads over `max_bytes` (413) and
stops accepting after `lifetime_cap` submissions (422). Every accepted row is recorded with
its arrival time (monotonic)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeClayWebhook:
    rate: float = 10.0
    burst: int = 20
    max_bytes: int = 100_000
    lifetime_cap: int = 50_000
    rows: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._at = time.monotonic()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook/pull-in-data-from-a-webhook-fake"

    def _answer(self, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                self.refused.append(429)
                return 429, {"error": "rate limited"}, {"Retry-After": "1"}
            if len(raw) > self.max_bytes:
                self.refused.append(413)
                return 413, {"error": "payload too large"}, {}
            if len(self.rows) >= self.lifetime_cap:
                self.refused.append(422)
                return 422, {"error": "webhook submission limit reached"}, {}
            try:
                row = json.loads(raw)
            except ValueError:
                return 400, {"error": "invalid JSON"}, {}
            self._tokens -= 1
            self.rows.append(row)
            self.arrivals.append(now)
            return 200, {"status": "ok"}, {}

    def __enter__(self) -> FakeClayWebhook:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = fake._answer(raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
