"""The CRM contract: a handful of object operations any CRM offers (HubSpot now,
Salesforce later), the errors it raises, and the facts read before a send.

Objects are addressed by a kind (`contacts`, `companies`, `notes`, `tasks`, `deals`) and
carry flat string properties. Every method may raise:

    CrmError                      a classified failure; `.cause` and `.field` say what
    ├── CrmUnavailable            cannot be reached / 5xx / still rate limited: transient
    └── CrmConflict               409: the record exists (`.existing_id` when the CRM says)

`cause` is one of `property_missing | permission | rate_limit | validation | conflict |
auth | unavailable`; `field` names the property when the CRM names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["contacts", "companies", "notes", "tasks", "deals"]
Cause = Literal[
    "property_missing", "permission", "rate_limit", "validation", "conflict", "auth", "unavailable"
]


class CrmError(Exception):
    """A CRM call failed for a known cause (the message never holds a secret)."""

    def __init__(self, cause: Cause, message: str, *, field: str = "", status: int = 0):
        super().__init__(message)
        self.cause: Cause = cause
        self.field = field
        self.status = status


class CrmUnavailable(CrmError):
    """The CRM cannot answer now (network, 5xx, rate limit after the bounded retries)."""


class CrmConflict(CrmError):
    """The record already exists (HTTP 409)."""

    def __init__(self, message: str, *, existing_id: str = "", status: int = 409):
        super().__init__("conflict", message, status=status)
        self.existing_id = existing_id


@dataclass(frozen=True)
class Record:
    """One CRM object: its id and the properties asked for."""

    id: str
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewObject:
    """An object to create, with the ids of the contacts/companies it is attached to."""

    properties: Mapping[str, str]
    contact_id: str = ""
    company_id: str = ""


@dataclass(frozen=True)
class CrmFactsView:
    """What the CRM says about a person, as guardrail input."""

    found: bool
    lifecycle_stage: str = ""
    open_deals: int = 0
    unsubscribed: bool = False
    do_not_contact: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "found": self.found,
            "lifecycle_stage": self.lifecycle_stage,
            "open_deals": self.open_deals,
            "unsubscribed": self.unsubscribed,
            "do_not_contact": self.do_not_contact,
        }


class Crm(Protocol):
    """The operations the sync and the guardrails need; batch-shaped (up to 100 per call)."""

    name: str

    def search(
        self, kind: Kind, prop: str, values: Sequence[str], properties: Sequence[str] = ()
    ) -> dict[str, list[Record]]:
        """Records whose `prop` equals one of `values` (case-insensitively), by value."""
        ...

    def create(self, kind: Kind, objects: Sequence[NewObject]) -> list[str]:
        """Create objects (one batch call); their ids in the same order."""
        ...

    def update(self, kind: Kind, changes: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Update properties of existing objects (one batch call)."""
        ...

    def associate(self, contact_id: str, company_id: str) -> None:
        """Attach a contact to a company (idempotent)."""
        ...

    def facts(self, email: str) -> CrmFactsView:
        """Lifecycle stage, open deals and opt-out flags of the contact with this email."""
        ...
