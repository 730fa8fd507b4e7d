"""An in-memory CRM with the same behaviour the sync relies on (searches, batch creates
and updates, unknown properties refused, 409 on a duplicate contact email). It is the
offline default for tests and demos: nothing leaves the process."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tools.crm.base import CrmConflict, CrmError, CrmFactsView, Kind, NewObject, Record

CLOSED_STAGES = ("closedwon", "closedlost")


@dataclass
class MemoryCrm:
    """Objects by kind and id; `known_properties` (when set) refuses other property names."""

    name: str = "memory"
    objects: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    associations: set[tuple[str, str]] = field(default_factory=set)
    known_properties: dict[str, set[str]] = field(default_factory=dict)
    writes: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1001)

    def _check(self, kind: str, props: Mapping[str, str]) -> None:
        known = self.known_properties.get(kind)
        for p in props:
            if known is not None and p not in known:
                raise CrmError("property_missing", f'Property "{p}" does not exist', field=p, status=400)

    def search(
        self, kind: Kind, prop: str, values: Sequence[str], properties: Sequence[str] = ()
    ) -> dict[str, list[Record]]:
        wanted = {v.lower(): v for v in values}
        out: dict[str, list[Record]] = {}
        for oid, props in self.objects.get(kind, {}).items():
            value = str(props.get(prop, "")).lower()
            if value in wanted:
                out.setdefault(wanted[value], []).append(Record(oid, dict(props)))
        return out

    def create(self, kind: Kind, objects: Sequence[NewObject]) -> list[str]:
        store = self.objects.setdefault(kind, {})
        for o in objects:
            self._check(kind, o.properties)
            email = o.properties.get("email", "").lower()
            if kind == "contacts" and email:
                for oid, props in store.items():
                    if props.get("email", "").lower() == email:
                        raise CrmConflict(f"Contact already exists. Existing ID: {oid}", existing_id=oid)
        ids = []
        for o in objects:
            oid = str(next(self._ids))
            store[oid] = {k: str(v) for k, v in o.properties.items()}
            for other in (o.contact_id, o.company_id):
                if other:
                    self.associations.add((oid, other))
            ids.append(oid)
            self.writes += 1
        return ids

    def update(self, kind: Kind, changes: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        store = self.objects.setdefault(kind, {})
        for oid, props in changes:
            self._check(kind, props)
            if oid not in store:
                raise CrmError("validation", f"{kind} {oid} not found", status=404)
        for oid, props in changes:
            store[oid].update({k: str(v) for k, v in props.items()})
            self.writes += 1

    def associate(self, contact_id: str, company_id: str) -> None:
        self.associations.add((contact_id, company_id))

    def facts(self, email: str) -> CrmFactsView:
        hits = self.search("contacts", "email", [email]).get(email, [])
        if not hits:
            return CrmFactsView(found=False)
        c = hits[0]
        deals = [
            d
            for did, d in self.objects.get("deals", {}).items()
            if (did, c.id) in self.associations and d.get("dealstage", "") not in CLOSED_STAGES
        ]
        return CrmFactsView(
            found=True,
            lifecycle_stage=c.properties.get("lifecyclestage", ""),
            open_deals=len(deals),
            unsubscribed=c.properties.get("hs_email_optout", "") == "true",
            do_not_contact=c.properties.get("do_not_contact", "") == "true",
        )
