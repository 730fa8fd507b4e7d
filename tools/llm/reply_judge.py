"""The reply judge (`providers.replies = "claude"`): the rule classifier stays first; a
reply it is unsure about (confidence below `[llm] reply_min_rule_confidence`) goes to
Claude, which must answer through the forced `classify_reply` tool with one label of the
fixed set; its input is validated. An invalid answer, a refusal, an API failure or a
model confidence below `reply_min_model_confidence` leaves the reply to a human
(`unclear`). Quoted history and our own text are removed before either classifier sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from core.errors import ProviderError
from core.workspace import LlmConfig
from tools.llm.client import CallScope, LlmClient
from tools.llm.prompts import prompt
from tools.replies import KINDS, ReplyClassification, classify_reply, new_part

Label = Literal[
    "interested",
    "meeting",
    "not_interested",
    "unsubscribe",
    "out_of_office",
    "wrong_person",
    "referral",
    "auto_reply",
    "unclear",
]
TOOL = {
    "name": "classify_reply",
    "description": "Record the one label that fits the prospect's reply and how sure you are.",
    "input_schema": {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(KINDS), "description": "The reply's kind."},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "0 to 1."},
            "rationale": {"type": "string", "description": "One short sentence."},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    },
}


class ReplyVerdict(BaseModel):
    """The validated input of the classify_reply tool."""

    model_config = ConfigDict(extra="forbid")
    label: Label = Field(description="One of the fixed reply kinds.")
    confidence: float = Field(ge=0, le=1, description="The model's own confidence.")
    rationale: str = Field("", max_length=500, description="One short sentence.")


@dataclass(frozen=True)
class Judgement:
    kind: str
    confidence: float
    source: Literal["rules", "claude", "human"]
    rule: ReplyClassification
    model: dict[str, Any] | None = None
    refused: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_raw(self) -> dict[str, Any]:
        """Fields stored with the engagement event."""
        return {
            "reply_kind": self.kind,
            "confidence": self.confidence,
            "judge": {
                "source": self.source,
                "rule_kind": self.rule.kind,
                "rule_confidence": self.rule.confidence,
                "model": self.model,
                "refused": list(self.refused),
                "notes": list(self.notes),
            },
        }


def prospect_text(text: str) -> str:
    """What the prospect wrote: the shared helper if present, else the reply without quotes."""
    try:
        from tools import replies

        helper = getattr(replies, "prospect_text", None)
        if callable(helper):
            return str(helper(text))
    except ImportError:  # pragma: no cover - replies always exists
        pass
    return new_part(text)


def judge_reply(
    text: str,
    *,
    received_at: datetime,
    tz: str | None,
    client: LlmClient | None,
    cfg: LlmConfig,
    scope: CallScope,
    session: Session | None = None,
) -> Judgement:
    own = prospect_text(text)
    rule = classify_reply(own, received_at=received_at, tz=tz)
    if client is None or rule.confidence >= cfg.reply_min_rule_confidence:
        return Judgement(rule.kind, rule.confidence, "rules", rule)
    human = lambda *notes, refused=(), model=None: Judgement(  # noqa: E731
        "unclear", min(rule.confidence, 0.5), "human", rule, model, tuple(refused), tuple(notes)
    )
    try:
        result = client.create(
            "reply",
            prompt("reply"),
            messages=[{"role": "user", "content": f"<reply>\n{own}\n</reply>"}],
            tools=[TOOL],
            tool_choice={"type": "tool", "name": "classify_reply"},
            scope=scope,
            session=session,
        )
    except ProviderError as exc:
        return human(f"the model call failed ({exc.error_class}): {exc.message}")
    meta: dict[str, Any] = {
        "model": result.model,
        "prompt_version": result.prompt_version,
        "digest": result.digest,
    }
    uses = [b for b in result.message.content if b.type == "tool_use"]
    refused = [
        f"refused: the model asked for tool {b.name!r}, which is not offered"
        for b in uses
        if b.name != "classify_reply"
    ]
    ours = [b for b in uses if b.name == "classify_reply"]
    if len(ours) != 1:
        return human(
            "the model did not answer with exactly one classify_reply call", refused=refused, model=meta
        )
    try:
        verdict = ReplyVerdict.model_validate(ours[0].input)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return human(f"invalid classify_reply input: {where}: {first['msg']}", refused=refused, model=meta)
    meta |= {"label": verdict.label, "confidence": verdict.confidence, "rationale": verdict.rationale}
    if verdict.confidence < cfg.reply_min_model_confidence:
        return human(
            f"model confidence {verdict.confidence} is below {cfg.reply_min_model_confidence}",
            refused=refused,
            model=meta,
        )
    return Judgement(verdict.label, verdict.confidence, "claude", rule, meta, tuple(refused))
