"""HubSpot adapter over the official `hubspot-api-client` (CRM v3 objects, v4 associations).

The client is injected (tests build one whose configuration `host` points at a local fake).
Each call is bounded: a 429 waits for the `Retry-After` (or HubSpot's interval header) and
is retried at most `max_retries` times; a 5xx or a network error is retried the same way
and then raised as `CrmUnavailable`; other failures are classified (`property_missing`,
`permission`, `validation`, `auth`, `conflict`) with the property named when HubSpot names it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubspot import HubSpot
from hubspot.crm.objects import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectInputForCreate,
)

from tools.crm.base import CrmConflict, CrmError, CrmFactsView, CrmUnavailable, Kind, NewObject, Record

# HubSpot-defined association type ids (object -> contact / company)
_TO_CONTACT = {"notes": 202, "tasks": 204, "deals": 3, "companies": 280}
_TO_COMPANY = {"notes": 190, "tasks": 192, "deals": 5, "contacts": 279}
CLOSED_STAGES = ["closedwon", "closedlost"]
TIMEOUT_S = 15.0
_EXISTING = re.compile(r"Existing ID:\s*(\d+)")
_PROPERTY = re.compile(r'[Pp]roperty "?([A-Za-z0-9_]+)"? does not exist|[Pp]roperty values were not valid')


def hubspot_client(*, token: str, host: str = "") -> HubSpot:
    """A HubSpot client; `host` replaces the API base URL (a local fake in tests)."""
    kwargs: dict[str, Any] = {"access_token": token}
    if host:
        kwargs["host"] = host.rstrip("/")
    return HubSpot(**kwargs)


class HubSpotCrm:
    """The Crm Protocol on HubSpot."""

    name = "hubspot"

    def __init__(
        self,
        client: HubSpot,
        *,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        dnc_property: str = "do_not_contact",
        max_wait_s: float = 30.0,
    ):
        self.client = client
        self.max_retries = max_retries
        self.sleep = sleep
        self.dnc_property = dnc_property
        self.max_wait_s = max_wait_s
        self.calls = 0

    # -- the bounded, classified call

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            self.calls += 1
            try:
                return fn(*args, _request_timeout=TIMEOUT_S, **kwargs)
            except Exception as exc:  # the client raises one ApiException class per sub-package
                err = classify(exc)
                if attempt >= self.max_retries or not isinstance(err, CrmUnavailable):
                    raise err from exc
                attempt += 1
                self.sleep(min(self.max_wait_s, _retry_after(exc, attempt)))

    # -- the Protocol

    def search(
        self, kind: Kind, prop: str, values: Sequence[str], properties: Sequence[str] = ()
    ) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {}
        wanted = {v.lower(): v for v in values if v}
        todo = list(wanted)
        for i in range(0, len(todo), 100):
            chunk = todo[i : i + 100]
            after: str | None = None
            while True:
                req = PublicObjectSearchRequest(
                    filter_groups=[
                        FilterGroup(filters=[Filter(property_name=prop, operator="IN", values=chunk)])
                    ],
                    properties=sorted({prop, *properties}),
                    limit=100,
                    after=after,
                )
                page = self._call(self.client.crm.objects.search_api.do_search, kind, req)
                for r in page.results:
                    props = {k: v for k, v in (r.properties or {}).items() if v is not None}
                    key = wanted.get(str(props.get(prop, "")).lower())
                    if key is not None:
                        out.setdefault(key, []).append(Record(str(r.id), props))
                nxt = page.paging.next if page.paging else None
                if not nxt:
                    break
                after = nxt.after
        return out

    def create(self, kind: Kind, objects: Sequence[NewObject]) -> list[str]:
        inputs = []
        for o in objects:
            assoc = []
            if o.contact_id and kind in _TO_CONTACT:
                assoc.append(_assoc(o.contact_id, _TO_CONTACT[kind]))
            if o.company_id and kind in _TO_COMPANY:
                assoc.append(_assoc(o.company_id, _TO_COMPANY[kind]))
            inputs.append(SimplePublicObjectInputForCreate(properties=dict(o.properties), associations=assoc))
        body = BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        res = self._call(self.client.crm.objects.batch_api.create, kind, body)
        # HubSpot answers a batch in any order; match created records back by their properties
        ids: list[str] = []
        remaining = list(res.results)
        for o in objects:
            match = next(
                (
                    r
                    for r in remaining
                    if all(str((r.properties or {}).get(k)) == str(v) for k, v in o.properties.items())
                ),
                remaining[0] if remaining else None,
            )
            if match is None:
                raise CrmError("validation", f"HubSpot created fewer {kind} than asked")
            remaining.remove(match)
            ids.append(str(match.id))
        return ids

    def update(self, kind: Kind, changes: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        if not changes:
            return
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=oid, properties=dict(p)) for oid, p in changes]
        )
        self._call(self.client.crm.objects.batch_api.update, kind, body)

    def associate(self, contact_id: str, company_id: str) -> None:
        api = self.client.crm.associations.v4.basic_api
        self._call(api.create_default, "contacts", contact_id, "companies", company_id)

    def facts(self, email: str) -> CrmFactsView:
        props = ["email", "lifecyclestage", "hs_email_optout", self.dnc_property]
        hits = self.search("contacts", "email", [email], props).get(email, [])
        if not hits:
            return CrmFactsView(found=False)
        c = hits[0]
        req = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(property_name="associations.contact", operator="EQ", value=c.id),
                        Filter(property_name="dealstage", operator="NOT_IN", values=CLOSED_STAGES),
                    ]
                )
            ],
            properties=["dealstage"],
            limit=1,
        )
        deals = self._call(self.client.crm.objects.search_api.do_search, "deals", req)
        return CrmFactsView(
            found=True,
            lifecycle_stage=str(c.properties.get("lifecyclestage") or ""),
            open_deals=int(deals.total or 0),
            unsubscribed=str(c.properties.get("hs_email_optout") or "").lower() == "true",
            do_not_contact=str(c.properties.get(self.dnc_property) or "").lower() == "true",
        )


def _assoc(to_id: str, type_id: int) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=to_id),
        types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)],
    )


def _header(exc: Any, name: str) -> str:
    headers = getattr(exc, "headers", None) or {}
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return str(v)
    return ""


def _retry_after(exc: Any, attempt: int) -> float:
    """Seconds to wait: Retry-After, else HubSpot's rate-limit interval, else backoff."""
    value = _header(exc, "Retry-After")
    try:
        if value:
            return max(0.0, float(value))
        interval = _header(exc, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if interval and getattr(exc, "status", 0) == 429:
            return float(interval) / 1000.0
    except ValueError:
        pass
    return float(min(8, 2 ** (attempt - 1)))


def _body(exc: Any) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": str(raw)[:300]}
    return data if isinstance(data, dict) else {}


def _field_of(body: dict[str, Any]) -> str:
    for e in body.get("errors") or ():
        ctx = e.get("context") or {}
        names = ctx.get("propertyName") or ctx.get("properties") or []
        if names:
            return str(names[0])
        m = _PROPERTY.search(str(e.get("message", "")))
        if m and m.group(1):
            return m.group(1)
    m = _PROPERTY.search(str(body.get("message", "")))
    return m.group(1) if m and m.group(1) else ""


def classify(exc: Exception) -> CrmError:
    """A client exception as a CrmError with its cause (and the property when named)."""
    if isinstance(exc, CrmError):
        return exc
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or status == 0:
        return CrmUnavailable("unavailable", f"HubSpot cannot be reached ({type(exc).__name__})")
    body = _body(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or "")[:300]
    if status == 429:
        return CrmUnavailable("rate_limit", f"HubSpot rate limit: {message}", status=status)
    if status >= 500:
        return CrmUnavailable("unavailable", f"HubSpot error {status}: {message}", status=status)
    if status == 409:
        m = _EXISTING.search(message)
        return CrmConflict(message, existing_id=m.group(1) if m else "")
    if status == 401:
        return CrmError("auth", f"HubSpot refused the token: {message}", status=status)
    if status == 403:
        return CrmError("permission", f"HubSpot permission missing: {message}", status=status)
    field = _field_of(body)
    codes = {str(e.get("code", "")) for e in body.get("errors") or ()}
    if field and ("PROPERTY_DOESNT_EXIST" in codes or "does not exist" in message or not codes):
        return CrmError(
            "property_missing",
            f"HubSpot property {field!r} is missing or deleted",
            field=field,
            status=status,
        )
    return CrmError("validation", f"HubSpot refused the data: {message}", field=field, status=status)
