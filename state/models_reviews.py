"""What a review is bound to. A review requested before a draft exists is about a
decision (an action on a step, e.g. "draft the direct mail"); a review of a draft is
about a message, and its approval holds only for the exact content approved: the
sha256 fingerprint of subject, body, recipient and channel. A send whose content
differs from the approved fingerprint goes back to review."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from state.models import json_field


class ReviewBinding(SQLModel, table=True):
    __tablename__ = "review_bindings"

    review_id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    kind: str = "message"  # message | decision
    action: str = ""  # the proposal the review was requested for (send, draft, ...)
    fingerprint: str = ""  # the content shown to the reviewer ("" for a decision review)
    approved_fingerprint: str = ""  # the content approved (after an edit: the edited text)
    approved_content: dict = json_field()  # subject, body, recipient, channel as approved
