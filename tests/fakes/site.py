"""A local web site on 127.0.0.1 for research tests: routes map a path to a scripted answer
(status, headers, body, delay); a route may hold a queue of answers used in order. Every
request is recorded with its Host header and user agent."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass(frozen=True)
class Page:
    body: str | bytes = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    delay_s: float = 0.0


class FakeSite:
    def __init__(self, routes: dict[str, Page | list[Page]]) -> None:
        self.routes: dict[str, deque[Page] | Page] = {
            k: deque(v) if isinstance(v, list) else v for k, v in routes.items()
        }
        self.requests: list[tuple[str, str, str]] = []  # (host, path, user agent)
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with site._lock:
                    site.requests.append(
                        (self.headers.get("Host", ""), self.path, self.headers.get("User-Agent", ""))
                    )
                    route = site.routes.get(self.path.split("?")[0])
                    if isinstance(route, deque):
                        page = route.popleft() if len(route) > 1 else route[0]
                    else:
                        page = route or Page("not here", 404, {"Content-Type": "text/plain"})
                if page.delay_s:
                    time.sleep(page.delay_s)
                body = page.body.encode() if isinstance(page.body, str) else page.body
                try:
                    self.send_response(page.status)
                    for k, v in page.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def paths(self) -> list[str]:
        return [p for _h, p, _ua in self.requests]

    def __enter__(self) -> FakeSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ToLocalhost(httpx.HTTPTransport):
    """Connects every request to 127.0.0.1 while keeping its URL and Host header, so a test
    can use real domain names (a company and its subdomains) against a local server."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host="127.0.0.1")
        return super().handle_request(request)
