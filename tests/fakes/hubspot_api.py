"""A local fake of HubSpot's CRM API (v3 objects, v4 associations) for the real
`hubspot-api-client`, on 127.0.0.1 (a free port):

    with FakeHubSpot() as fake:
        crm = HubSpotCrm(hubspot_client(token=fake.token, host=fake.base_url))

It answers `POST /crm/v3/objects/{type}/search` (filters EQ, IN, NOT_IN and the
`associations.contact` pseudo-property), `.../batch/create` (inline associations),
`.../batch/update` and `PUT /crm/v4/objects/{type}/{id}/associations/default/{to}/{toId}`,
with HubSpot's response shapes. Like HubSpot it checks the bearer token (401), refuses a
second contact with the same email (409 "Contact already exists. Existing ID: N"), refuses
a deleted property (400 VALIDATION_ERROR, PROPERTY_DOESNT_EXIST, the property named),
and `rate_limit_next(n)` answers the next n calls with 429 and `Retry-After`.
Recorded calls never hold the token.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TOKEN = "pat-fake-0000"
STAMP = "2026-01-05T09:00:00.000Z"
_ASSOC_PATH = re.compile(r"^/crm/v4/objects/(\w+)/(\d+)/associations/default/(\w+)/(\d+)$")
_OBJ_PATH = re.compile(r"^/crm/v3/objects/(\w+)/(search|batch/create|batch/update)$")


@dataclass(frozen=True)
class FakeCall:
    method: str
    path: str
    body: Any
    status: int


@dataclass
class FakeHubSpot:
    token: str = DEFAULT_TOKEN
    objects: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    associations: set[tuple[str, str, str, str]] = field(default_factory=set)  # (type, id, to_type, to_id)
    deleted_properties: dict[str, set[str]] = field(default_factory=dict)
    forbidden_types: set[str] = field(default_factory=set)
    calls: list[FakeCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(5001)
        self._rate_limited = 0
        self._server: ThreadingHTTPServer | None = None

    # -- test helpers

    def rate_limit_next(self, n: int) -> None:
        with self._lock:
            self._rate_limited = n

    def add(self, kind: str, props: dict[str, str]) -> str:
        oid = str(next(self._ids))
        self.objects.setdefault(kind, {})[oid] = dict(props)
        return oid

    def associate(self, kind: str, oid: str, to_kind: str, to_id: str) -> None:
        self.associations.add((kind, oid, to_kind, to_id))
        self.associations.add((to_kind, to_id, kind, oid))

    def writes(self) -> int:
        return sum(
            1
            for c in self.calls
            if c.method in ("POST", "PUT") and not c.path.endswith("/search") and c.status < 300
        )

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHubSpot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status, payload, headers = fake._route(
                    method, self.path, body, self.headers.get("Authorization", "")
                )
                data = json.dumps(payload).encode()
                with fake._lock:  # recorded before the answer, so a client never sees it first
                    fake.calls.append(FakeCall(method, self.path, body, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the API

    def _route(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any, dict[str, str]]:
        if auth != f"Bearer {self.token}":
            return 401, _error("Authentication credentials not found.", "INVALID_AUTHENTICATION"), {}
        with self._lock:
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return (
                    429,
                    _error("You have reached your secondly limit.", "RATE_LIMITS"),
                    {"Retry-After": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"},
                )
            m = _ASSOC_PATH.match(path)
            if m and method == "PUT":
                kind, oid, to_kind, to_id = m.groups()
                self.associate(kind, oid, to_kind, to_id)
                res = {
                    "from": {"id": oid},
                    "to": {"id": to_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
                }
                return 200, _batch([res]), {}
            m = _OBJ_PATH.match(path.split("?")[0])
            if not m or method != "POST" or not isinstance(body, dict):
                return 404, _error(f"no route {method} {path}", "OBJECT_NOT_FOUND"), {}
            kind, op = m.groups()
            if kind in self.forbidden_types:
                return (
                    403,
                    _error(f"This app hasn't been granted all required scopes for {kind}", "MISSING_SCOPES"),
                    {},
                )
            if op == "search":
                return 200, self._search(kind, body), {}
            if op == "batch/create":
                return self._create(kind, body.get("inputs") or [])
            return self._update(kind, body.get("inputs") or [])

    def _bad_property(self, kind: str, props: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        for p in props:
            if p in self.deleted_properties.get(kind, set()):
                err = _error(f'Property values were not valid: [{{"name":"{p}"}}]', "VALIDATION_ERROR")
                err["errors"] = [
                    {
                        "message": f'Property "{p}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [p]},
                    }
                ]
                return 400, err, {}
        return None

    def _create(self, kind: str, inputs: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        store = self.objects.setdefault(kind, {})
        for inp in inputs:
            props = inp.get("properties") or {}
            bad = self._bad_property(kind, props)
            if bad:
                return bad
            email = str(props.get("email") or "").lower()
            if kind == "contacts" and email:
                for oid, existing in store.items():
                    if existing.get("email", "").lower() == email:
                        return 409, _error(f"Contact already exists. Existing ID: {oid}", "CONFLICT"), {}
        out = []
        for inp in inputs:
            props = {k: str(v) for k, v in (inp.get("properties") or {}).items()}
            oid = self.add(kind, props)
            for a in inp.get("associations") or []:
                to_id = str((a.get("to") or {}).get("id"))
                to_kind = self._kind_of(to_id)
                if to_kind:
                    self.associate(kind, oid, to_kind, to_id)
            out.append(_obj(oid, props))
        return 201, _batch(out), {}

    def _update(self, kind: str, inputs: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        store = self.objects.setdefault(kind, {})
        for inp in inputs:
            bad = self._bad_property(kind, inp.get("properties") or {})
            if bad:
                return bad
            if str(inp.get("id")) not in store:
                return 400, _error(f"Object {inp.get('id')} not found", "VALIDATION_ERROR"), {}
        out = []
        for inp in inputs:
            oid = str(inp["id"])
            store[oid].update({k: str(v) for k, v in (inp.get("properties") or {}).items()})
            out.append(_obj(oid, store[oid]))
        return 200, _batch(out), {}

    def _kind_of(self, oid: str) -> str:
        for kind, store in self.objects.items():
            if oid in store:
                return kind
        return ""

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        hits = []
        for oid, props in sorted(self.objects.get(kind, {}).items()):
            groups = body.get("filterGroups") or [{"filters": []}]
            if any(all(self._matches(kind, oid, props, f) for f in g.get("filters") or []) for g in groups):
                hits.append((oid, props))
        limit = int(body.get("limit") or 10)
        start = int(body.get("after") or 0)
        page = hits[start : start + limit]
        wanted = body.get("properties") or []
        result: dict[str, Any] = {
            "total": len(hits),
            "results": [
                _obj(oid, {k: props.get(k) for k in wanted} if wanted else props) for oid, props in page
            ],
        }
        if start + limit < len(hits):
            result["paging"] = {"next": {"after": str(start + limit)}}
        return result

    def _matches(self, kind: str, oid: str, props: dict[str, str], f: dict[str, Any]) -> bool:
        name, op = f.get("propertyName", ""), f.get("operator", "EQ")
        if name.startswith("associations."):
            to_kind = name.split(".", 1)[1] + "s"
            return (kind, oid, to_kind, str(f.get("value"))) in self.associations
        value = str(props.get(name, "")).lower()
        if op == "EQ":
            return value == str(f.get("value", "")).lower()
        values = {str(v).lower() for v in f.get("values") or []}
        if op == "IN":
            return value in values
        if op == "NOT_IN":
            return value not in values
        return False


def _obj(oid: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"id": oid, "properties": props, "createdAt": STAMP, "updatedAt": STAMP, "archived": False}


def _batch(results: list[Any]) -> dict[str, Any]:
    return {"status": "COMPLETE", "results": results, "startedAt": STAMP, "completedAt": STAMP}


def _error(message: str, category: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "category": category, "correlationId": "00000000-fake"}
