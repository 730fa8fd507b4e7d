"""A local HTTP server on 127.0.0.1 speaking one vendor's API shape (instantly,
smartlead, heyreach, sendoso), recording every request.

Each vendor checks its own credential (bearer token, ``api_key`` query parameter or
``X-API-KEY`` header) and answers a wrong one with 401. The read used by ``doctor`` to
check a key (a campaign or touch by id, HeyReach's ``auth/CheckApiKey``) answers 200. Responses can be scripted:
``script(Scripted(429, headers={"Retry-After": "2"}), ...)`` queues answers used in
order before the vendor's normal behaviour resumes. ``Scripted(delay_s=...)`` holds
the answer back (until ``stop``) to provoke a client timeout.

``faults=AfterProcessingFaults(rate, ("500", "reset", "timeout"))`` makes the vendor
act on a request (record it in ``actions``) and then lose the answer: a 500, a closed
connection without a response, or no answer within ``fault_delay_s``. ``actions`` holds
every side effect the vendor performed (an invitation, a message, a send), so a test can
count what reached a recipient. Sendoso and HeyReach's SendMessage do not deduplicate
by key (like the real APIs, as far as documented); adding a lead already in a HeyReach
campaign updates it and invites nobody.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.faults import AfterProcessingFaults

VENDORS = ("instantly", "smartlead", "heyreach", "sendoso")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any


@dataclass(frozen=True)
class Scripted:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Reply = tuple[int, Any]


class FakeVendorApi:
    """Start with ``with FakeVendorApi("heyreach", secret="k") as api:``."""

    def __init__(
        self,
        vendor: str,
        *,
        secret: str,
        faults: AfterProcessingFaults | None = None,
        fault_delay_s: float = 1.0,
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor}")
        self.vendor = vendor
        self.secret = secret
        self.faults = faults
        self.fault_delay_s = fault_delay_s
        self.requests: list[RecordedRequest] = []
        self.actions: list[dict[str, str]] = []  # side effects the vendor performed
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._seen: dict[str, str] = {}  # lead identity -> vendor id
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The base URL an adapter is configured with for this vendor."""
        return self.root + ("/api/public/" if self.vendor == "heyreach" else "")

    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self._script.extend(responses)

    def __enter__(self) -> FakeVendorApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # vendor behaviour -------------------------------------------------------------

    def _authorised(self, request: RecordedRequest) -> bool:
        if self.vendor == "smartlead":
            return request.query.get("api_key") == self.secret
        if self.vendor == "heyreach":
            return request.headers.get("x-api-key") == self.secret
        return request.headers.get("authorization") == f"Bearer {self.secret}"

    def _act(self, kind: str, request: RecordedRequest, target: str) -> None:
        with self._lock:
            self.actions.append(
                {"kind": kind, "key": request.headers.get("idempotency-key", ""), "target": target}
            )

    def _lead_id(self, identity: str) -> tuple[str, bool]:
        with self._lock:
            if identity in self._seen:
                return self._seen[identity], True
            self._seen[identity] = f"{self.vendor}-{len(self._seen) + 1}"
            return self._seen[identity], False

    def _instantly(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path.startswith("/api/v2/campaigns/"):
            return 200, {"id": request.path.rsplit("/", 1)[-1], "status": 1}
        if (request.method, request.path) != ("POST", "/api/v2/leads"):
            return 404, {"error": "Not Found"}
        body = request.body or {}
        if not body.get("email") or not body.get("campaign"):
            return 400, {"message": "body must have email and campaign"}
        lead_id, _ = self._lead_id(f"{body['campaign']}:{body['email']}")
        return 200, {"id": lead_id, "email": body["email"], "campaign": body["campaign"]}

    def _smartlead(self, request: RecordedRequest) -> Reply:
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[:3] == ["api", "v1", "campaigns"] and len(parts) == 4:
            return 200, {"id": parts[3], "status": "ACTIVE"}
        if request.method != "POST" or parts[:3] != ["api", "v1", "campaigns"] or parts[4:] != ["leads"]:
            return 404, {"message": "Not Found"}
        leads = (request.body or {}).get("lead_list")
        if not isinstance(leads, list) or not 1 <= len(leads) <= 400:
            return 400, {"message": "lead_list must hold 1 to 400 leads"}
        counts = {
            "upload_count": 0,
            "already_added_to_campaign": 0,
            "invalid_email_count": 0,
            "unsubscribed_leads": 0,
            "duplicate_count": 0,
        }
        for lead in leads:
            if "@" not in str(lead.get("email", "")):
                counts["invalid_email_count"] += 1
                continue
            _, seen = self._lead_id(f"{parts[3]}:{lead['email']}")
            counts["already_added_to_campaign" if seen else "upload_count"] += 1
        return 200, {"ok": True, "total_leads": len(leads), **counts}

    def _heyreach(self, request: RecordedRequest) -> Reply:
        body = request.body or {}
        if (request.method, request.path) == ("GET", "/api/public/auth/CheckApiKey"):
            return 200, None
        if (request.method, request.path) == ("POST", "/api/public/campaign/AddLeadsToCampaignV2"):
            counts = {"addedLeadsCount": 0, "updatedLeadsCount": 0, "failedLeadsCount": 0}
            for pair in body.get("accountLeadPairs", []):
                profile = pair.get("lead", {}).get("profileUrl", "")
                if (
                    not pair.get("linkedInAccountId")
                    or "/in/" not in profile
                    or profile.rstrip("/").endswith("/in/does-not-exist")
                ):
                    counts["failedLeadsCount"] += 1
                    continue
                _, seen = self._lead_id(f"{body.get('campaignId')}:{profile}")
                counts["updatedLeadsCount" if seen else "addedLeadsCount"] += 1
                if not seen:
                    self._act("invite", request, profile)
            return 200, counts
        if (request.method, request.path) == ("POST", "/api/public/inbox/SendMessage"):
            if not body.get("message") or not body.get("profileUrl"):
                return 400, {"errorMessage": "message and profileUrl are required"}
            self._act("message", request, body["profileUrl"])
            return 200, {}
        return 404, {"errorMessage": "Not Found"}

    def _sendoso(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path.startswith("/api/v3/touches/"):
            return 200, {"id": request.path.rsplit("/", 1)[-1]}
        if (request.method, request.path) != ("POST", "/api/v3/send"):
            return 404, {"success": False, "message": "Not Found"}
        send = (request.body or {}).get("send") or {}
        if not send.get("touch_id") or not send.get("email"):
            return 422, {"success": False, "message": "touch_id and email are required"}
        with self._lock:
            tracking = f"sendoso-{len(self.actions) + 1}"
        self._act("send", request, send["email"])
        return 200, {"success": True, "message": "Send created", "tracking_code": tracking}

    def _answer(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        if not self._authorised(request):
            return Scripted(401, {"error": "Unauthorized", "message": "Invalid API key"})
        behaviour: dict[str, Callable[[RecordedRequest], Reply]] = {
            "instantly": self._instantly,
            "smartlead": self._smartlead,
            "heyreach": self._heyreach,
            "sendoso": self._sendoso,
        }
        status, body = behaviour[self.vendor](request)
        fault = self.faults.draw() if self.faults is not None and status < 400 else None
        if fault == "500":
            return Scripted(500, {"message": "Internal Server Error"})
        if fault == "reset":
            return Scripted(0)
        if fault == "timeout":
            return Scripted(status, body, delay_s=self.fault_delay_s)
        return Scripted(status, body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = RecordedRequest(
                    self.command,
                    url.path,
                    dict(parse_qsl(url.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake._lock:
                    fake.requests.append(request)
                answer = fake._answer(request)
                if answer.status == 0:  # acted, then the connection drops without an answer
                    self.close_connection = True
                    return
                if answer.delay_s and fake._release.wait(answer.delay_s):
                    return
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
