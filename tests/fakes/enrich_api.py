"""A local enrichment API on 127.0.0.1: `GET /person?first=&last=&domain=` answers from a
dict of people, checks an API key (header `X-Api-Key` or query `api_key`), and can be
scripted (status, body, headers, delay) for the next requests. Every request is recorded."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # dict -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeEnrichApi:
    def __init__(self, people: dict[tuple[str, str, str], dict[str, Any]], *, key: str = "k-123") -> None:
        self.people = people
        self.key = key
        self.script: deque[Answer] = deque()
        self.requests: list[dict[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                q = dict(parse_qsl(urlsplit(self.path).query))
                api.requests.append(q)
                ans = (
                    api.script.popleft() if api.script else api._answer(q, self.headers.get("X-Api-Key", ""))
                )
                if ans.delay_s:
                    time.sleep(ans.delay_s)
                body = ans.body if isinstance(ans.body, str) else json.dumps(ans.body or {})
                data = body.encode()
                try:
                    self.send_response(ans.status)
                    self.send_header("Content-Type", "application/json")
                    for k, v in ans.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, q: dict[str, str], header_key: str) -> Answer:
        if (q.get("api_key") or header_key) != self.key:
            return Answer(401, {"error": "bad key"})
        person = self.people.get((q.get("first", "").lower(), q.get("last", "").lower(), q.get("domain", "")))
        if person is None:
            return Answer(404, {"error": "no match"})
        return Answer(200, {"data": person, "verified": person.get("verified", True)})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeEnrichApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
