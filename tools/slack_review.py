"""The Slack side of the human approval queue: review cards, modals, interaction
parsing, request signatures, and a thin notifier over ``slack_sdk.WebClient``.

Everything except :class:`SlackReviewNotifier` is pure: plain data in, Block Kit
dicts or frozen values out. The notifier receives an injected ``WebClient`` (tests
point it at a local fake with ``base_url``) and turns Slack failures into the typed
errors of ``core.errors``:

    HTTP 429, ``ratelimited``, HTTP 5xx, connection failures   -> Transient
    ``invalid_auth``, ``not_authed``, ``channel_not_found``, ... -> ProviderConfigError
    ``message_not_found``, ``user_not_found``, ``view_not_found`` -> NotFound
    any other ``ok: false`` (``expired_trigger_id``, ...)        -> InvalidInput

The bot token never appears in an error message.

Slack limits respected here: 3000 characters per section text, 150 per header, 75
per button label, 24 per modal title, 3000 for ``private_metadata`` and for a text
input. Lengths are measured in UTF-16 code units, the stricter of the two ways a
length can be counted, so emoji-heavy drafts are clipped safely too.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from core.errors import (
    ConfigError,
    InputError,
    InvalidInput,
    NotFound,
    ProviderConfigError,
    ProviderError,
    Transient,
)
from core.timeutil import parse_instant
from tools import jsonlimits

ReviewStatus = Literal["pending", "approved", "rejected", "edited", "snoozed", "stale", "expired"]
InteractionKind = Literal["block_actions", "view_submission"]
InteractionAction = Literal["approve", "edit", "reject", "snooze", "edit_submit", "reject_submit"]

ACTION_IDS: Mapping[str, InteractionAction] = {
    "review_approve": "approve",
    "review_edit": "edit",
    "review_reject": "reject",
    "review_snooze": "snooze",
}
EDIT_CALLBACK_ID = "review_edit_submit"
REJECT_CALLBACK_ID = "review_reject_submit"
CALLBACK_IDS: Mapping[str, InteractionAction] = {
    EDIT_CALLBACK_ID: "edit_submit",
    REJECT_CALLBACK_ID: "reject_submit",
}
ACTIONS_BLOCK_PREFIX = "review:"
# Block and action ids of the modal inputs; parse_interaction reads them back.
SUBJECT_INPUT = "subject"
BODY_INPUT = "body"
REASON_INPUT = "reason"

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000
TEXT_INPUT_LIMIT = 3000
SUBJECT_LIMIT = 250
QUOTE_LIMIT = 280
SIGNATURE_WINDOW_S = 300  # enforced by slack_sdk's SignatureVerifier

_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CONFIG_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "ekm_access_denied",
    }
)
_TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
_NOT_FOUND_ERRORS = frozenset({"message_not_found", "user_not_found", "view_not_found"})
_PROVIDER = "slack"


@dataclass(frozen=True)
class ReviewCard:
    """One pending (or decided) review, as the queue hands it to Slack."""

    review_id: str
    workspace: str
    prospect_id: str
    prospect_name: str
    prospect_email: str
    title: str
    company: str
    company_domain: str
    owner: str
    channel: str
    step_id: str
    subject: str
    body: str
    reasons: Sequence[str] = ()
    evidence: Sequence[Mapping[str, str]] = ()
    cost_so_far: Mapping[str, float] = field(default_factory=dict)
    requested_at: str = ""
    status: ReviewStatus = "pending"
    decided_by: str = ""
    decided_at: str = ""
    decision_note: str = ""

    def __post_init__(self) -> None:
        if self.status not in get_args(ReviewStatus):
            raise InputError(
                f"unknown review status {self.status!r}; expected one of {', '.join(get_args(ReviewStatus))}",
                field="status",
            )
        if not self.review_id:
            raise InputError("a review card needs a review_id", field="review_id")


@dataclass(frozen=True)
class Interaction:
    """A click on a review card or a submitted review modal, as the routes need it."""

    kind: InteractionKind
    action: InteractionAction
    review_id: str
    workspace: str = ""
    user_id: str = ""
    user_name: str = ""
    trigger_id: str = ""
    channel_id: str = ""
    message_ts: str = ""
    response_url: str = ""
    edited_subject: str = ""
    edited_body: str = ""
    reason: str = ""
    team_id: str = ""


# ----------------------------------------------------------------- text helpers


def slack_len(text: str) -> int:
    """Length in UTF-16 code units (an emoji counts 2), never less than len(text)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut so that it and ``marker`` fit in ``limit`` UTF-16 units."""
    if slack_len(text) <= limit:
        return text
    budget = limit - slack_len(marker)
    out: list[str] = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            break
        out.append(ch)
        used += width
    return "".join(out) + marker


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _bounded_lines(heading: str, lines: Sequence[str], limit: int) -> str:
    """Heading plus as many whole lines as fit in ``limit``, then an '…and N more' line.

    Lines are never cut in half, so an escaped entity or a ``<url|label>`` link is
    never broken.
    """
    text = heading
    for index, line in enumerate(lines):
        rest = len(lines) - index
        more = f"\n…and {rest - 1} more" if rest > 1 else ""
        if slack_len(text + "\n" + line + more) <= limit:
            text += "\n" + line
            continue
        return text + f"\n…and {rest} more"
    return text


def _user(ref: str) -> str:
    """A Slack user id as a mention, anything else (a CLI user name) as escaped text."""
    if not ref:
        return "someone"
    return f"<@{ref}>" if _SLACK_USER_ID.match(ref) else escape_mrkdwn(ref)


def _when(iso_text: str) -> str:
    """An ISO instant as a Slack date token (shown in the reader's zone) with a fallback."""
    if not iso_text:
        return "an unknown time"
    try:
        epoch = int(parse_instant(iso_text).timestamp())
    except ValueError:
        return escape_mrkdwn(iso_text)
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{escape_mrkdwn(iso_text)}>"


def _safe_url(url: str) -> str:
    """An http(s) URL usable inside ``<url|label>``, or "" when it is not one."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return (
        url.replace("|", "%7C")
        .replace("<", "%3C")
        .replace(">", "%3E")
        .replace(" ", "%20")
        .replace("&", "&amp;")
    )


def _url_label(url: str) -> str:
    """The source URL as a reader sees it: host and path, without the scheme."""
    parts = urlsplit(url)
    text = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
    return clip(escape_mrkdwn(_one_line(text)).replace("|", "¦"), 120)


def _evidence_line(item: Mapping[str, str]) -> str:
    """One cited item: the sentence it backs (when given), the quote, and the source URL
    (linked when it is http(s); an unsafe URL is named as withheld, never linked)."""
    quote = escape_mrkdwn(clip(_one_line(item.get("quote", "")), QUOTE_LIMIT))
    url = _safe_url(item.get("url", ""))
    if url:
        source = f"<{url}|{_url_label(item.get('url', ''))}>"
    elif item.get("url"):
        source = "(source not linked: not an http(s) URL)"
    else:
        source = "(no source URL)"
    text = f"“{quote}”" if quote else "(no quote)"
    sentence = escape_mrkdwn(clip(_one_line(item.get("sentence", "")), QUOTE_LIMIT))
    if sentence:
        return f"• _{sentence}_\n    {text} — {source}"
    return f"• {text} — {source}"


def _cost(cost: Mapping[str, float]) -> str:
    parts = []
    if cost.get("credits") is not None:
        parts.append(f"{float(cost['credits']):g} credits")
    if cost.get("usd") is not None:
        parts.append(f"${float(cost['usd']):.2f}")
    return " / ".join(parts) if parts else "nothing yet"


# ----------------------------------------------------------------- blocks


def fallback_text(card: ReviewCard) -> str:
    """The notification text shown where blocks are not (push notifications, search)."""
    state = "Review needed" if card.status == "pending" else f"Review {card.status}"
    return clip(
        f"{state}: {_one_line(card.prospect_name)} ({_one_line(card.company)}) — "
        f"{_one_line(card.subject) or card.step_id}",
        300,
    )


def status_line(card: ReviewCard) -> str:
    """The mrkdwn sentence that replaces the buttons once a card is no longer pending."""
    who, when = _user(card.decided_by), _when(card.decided_at)
    note = escape_mrkdwn(_one_line(card.decision_note))
    lines = {
        "pending": "Waiting for a reviewer",
        "approved": f":white_check_mark: Approved by {who} at {when}",
        "edited": f":pencil2: Edited and approved by {who} at {when}",
        "rejected": f":x: Rejected by {who} at {when}",
        "snoozed": f":zzz: Snoozed by {who} at {when}",
        "stale": f":hourglass: Stale: {note or 'the prospect replied'}",
        "expired": f":hourglass: Expired: {note or 'no decision was made in time'}",
    }
    text = lines[card.status]
    if note and card.status in ("approved", "edited", "rejected", "snoozed"):
        text += f": {note}"
    return clip(text, CONTEXT_LIMIT)


def review_blocks(card: ReviewCard) -> list[dict[str, Any]]:
    """The Block Kit message for one review card (buttons while pending, a status after)."""
    name, company = _one_line(card.prospect_name), _one_line(card.company)
    who = f"*{escape_mrkdwn(name)}*"
    if card.title:
        who += f" · {escape_mrkdwn(_one_line(card.title))}"
    who += f" at *{escape_mrkdwn(company)}*"
    if card.company_domain:
        who += f" ({escape_mrkdwn(_one_line(card.company_domain))})"
    facts = [
        escape_mrkdwn(card.prospect_email) if card.prospect_email else "no email on record",
        f"owner {_user(card.owner)}" if card.owner else "no owner",
        f"step `{escape_mrkdwn(_one_line(card.step_id))}`",
    ]
    reasons = [f"• {escape_mrkdwn(clip(_one_line(r), 500))}" for r in card.reasons if r]
    evidence = [_evidence_line(item) for item in card.evidence]
    subject = escape_mrkdwn(clip(_one_line(card.subject), SUBJECT_LIMIT)) or "_(no subject)_"
    body = card.body.strip() or "(empty body)"
    body = clip(
        body, SECTION_LIMIT - 100, marker=f"\n… [{len(body)} characters in all; the rest is not shown here]"
    )
    context = [
        f"Channel: *{escape_mrkdwn(_one_line(card.channel))}*",
        f"Cost so far: {_cost(card.cost_so_far)}",
        f"Requested {_when(card.requested_at)}" if card.requested_at else "",
        f"Review `{escape_mrkdwn(card.review_id)}`",
    ]

    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=clip(f"Review: {name} · {company}", HEADER_LIMIT), emoji=False)
        ),
        SectionBlock(text=MarkdownTextObject(text=clip(who + "\n" + " · ".join(facts), SECTION_LIMIT))),
        SectionBlock(
            text=MarkdownTextObject(
                text=_bounded_lines(
                    "*Why review was asked*", reasons or ["• (no reason recorded)"], SECTION_LIMIT
                )
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=_bounded_lines("*Evidence*", evidence or ["• none attached"], SECTION_LIMIT)
            )
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=f"*Draft* · *Subject:* {subject}")),
        SectionBlock(text=PlainTextObject(text=body, emoji=False)),
        ContextBlock(
            elements=[MarkdownTextObject(text=clip(" · ".join(p for p in context if p), CONTEXT_LIMIT))]
        ),
    ]
    if card.status == "pending":
        blocks.append(_actions(card.review_id))
    else:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=status_line(card))]))
    return [block.to_dict() for block in blocks]


def _actions(review_id: str) -> ActionsBlock:
    def button(label: str, action_id: str, style: str | None = None) -> ButtonElement:
        return ButtonElement(
            text=PlainTextObject(text=label, emoji=False), action_id=action_id, value=review_id, style=style
        )

    return ActionsBlock(
        block_id=f"{ACTIONS_BLOCK_PREFIX}{review_id}",
        elements=[
            button("Approve", "review_approve", "primary"),
            button("Edit", "review_edit"),
            button("Reject", "review_reject", "danger"),
            button("Snooze", "review_snooze"),
        ],
    )


def _metadata(card: ReviewCard) -> str:
    return json.dumps({"review_id": card.review_id, "workspace": card.workspace}, separators=(",", ":"))


def _modal_context(card: ReviewCard) -> ContextBlock:
    return ContextBlock(
        elements=[
            MarkdownTextObject(
                text=clip(
                    f"{escape_mrkdwn(_one_line(card.prospect_name))} at "
                    f"{escape_mrkdwn(_one_line(card.company))} · {escape_mrkdwn(_one_line(card.channel))}"
                    f" · step `{escape_mrkdwn(_one_line(card.step_id))}`",
                    CONTEXT_LIMIT,
                )
            )
        ]
    )


def edit_modal(card: ReviewCard) -> dict[str, Any]:
    """The modal a reviewer edits the draft in; submitting it approves the edited draft.

    The subject is a single-line input (an email subject cannot hold a line break) and
    is left out for channels without one; the body is multiline. Raises InputError when
    the body is longer than a Slack text input can hold.
    """
    if slack_len(card.body) > TEXT_INPUT_LIMIT:
        raise InputError(
            f"the draft body has {slack_len(card.body)} characters; a Slack text "
            f"input holds at most {TEXT_INPUT_LIMIT}",
            field="body",
            next_step="Edit this draft from the CLI review queue instead.",
        )
    blocks: list[Block] = [_modal_context(card)]
    if card.subject or card.channel == "email":
        blocks.append(
            InputBlock(
                block_id=SUBJECT_INPUT,
                label=PlainTextObject(text="Subject"),
                element=PlainTextInputElement(
                    action_id=SUBJECT_INPUT,
                    multiline=False,
                    initial_value=_one_line(card.subject)[:SUBJECT_LIMIT],
                    max_length=SUBJECT_LIMIT,
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id=BODY_INPUT,
            label=PlainTextObject(text="Message"),
            element=PlainTextInputElement(
                action_id=BODY_INPUT, multiline=True, initial_value=card.body, max_length=TEXT_INPUT_LIMIT
            ),
        )
    )
    view = View(
        type="modal",
        callback_id=EDIT_CALLBACK_ID,
        private_metadata=_metadata(card),
        title=PlainTextObject(text="Edit draft"),
        submit=PlainTextObject(text="Approve edited"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )
    return view.to_dict()


def reject_modal(card: ReviewCard) -> dict[str, Any]:
    """The modal asking why a draft is rejected (the reason goes into the decision log)."""
    view = View(
        type="modal",
        callback_id=REJECT_CALLBACK_ID,
        private_metadata=_metadata(card),
        title=PlainTextObject(text="Reject draft"),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            _modal_context(card),
            InputBlock(
                block_id=REASON_INPUT,
                label=PlainTextObject(text="Why is it rejected?"),
                element=PlainTextInputElement(
                    action_id=REASON_INPUT,
                    multiline=True,
                    max_length=TEXT_INPUT_LIMIT,
                    placeholder=PlainTextObject(text="Wrong person, wrong angle, ..."),
                ),
            ),
        ],
    )
    return view.to_dict()


# ----------------------------------------------------------------- inbound requests


class _FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_signature(secret: str, raw_body: bytes, headers: Mapping[str, str], now: float) -> bool:
    """Whether ``raw_body`` was signed by Slack with ``secret`` within 300 s of ``now``.

    Checks ``X-Slack-Signature`` (v0 HMAC-SHA256) and ``X-Slack-Request-Timestamp``
    (header names in any case). Missing or malformed headers give False. An empty
    secret is a configuration error, not a failed check.
    """
    if not secret or not secret.strip():
        raise ConfigError(
            "the Slack signing secret is empty",
            next_step="Set SLACK_SIGNING_SECRET_<WORKSPACE> to the app's "
            "signing secret (Basic Information page).",
        )
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))  # type: ignore[arg-type]
    try:
        return verifier.is_valid_request(raw_body, dict(headers.items()))
    except (ValueError, TypeError, UnicodeDecodeError):
        return False


def _obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {type(value).__name__}", field=name)
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dig(obj: Any, *keys: str) -> str:
    """The string at ``obj[k1][k2]...``, or "" when any step is missing or not an object."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return _str(obj)


def parse_interaction(form_body: bytes) -> Interaction:
    """Parse Slack's ``payload=`` form body into an :class:`Interaction`.

    Verify the signature on the raw bytes first. Raises InputError for a body without
    exactly one payload field, a payload that is not a JSON object, an interaction type
    or action this queue does not handle, or a submission missing its review id.
    """
    try:
        fields = parse_qs(form_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise InputError(f"not a urlencoded form body ({type(exc).__name__})", field="payload") from None
    values = fields.get("payload", [])
    if len(values) != 1:
        raise InputError("expected exactly one payload= field in the interaction body", field="payload")
    try:  # depth-limited: a payload nested thousands of levels deep is refused, not parsed
        payload = jsonlimits.parse(values[0])
    except jsonlimits.BadJSON as exc:
        raise InputError(f"payload is {exc}", field="payload") from None
    payload = _obj(payload, "payload")
    kind = payload.get("type")
    raw_user = payload.get("user")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    common = {
        "user_id": _str(user.get("id")),
        "user_name": _str(user.get("username")) or _str(user.get("name")),
        "trigger_id": _str(payload.get("trigger_id")),
        "team_id": _dig(payload, "team", "id") or _str(user.get("team_id")),
    }
    if kind == "block_actions":
        return _block_action(payload, common)
    if kind == "view_submission":
        return _view_submission(payload, common)
    raise InputError(
        f"unsupported interaction type {kind!r}; expected block_actions or view_submission",
        field="payload.type",
    )


def _block_action(payload: dict[str, Any], common: dict[str, str]) -> Interaction:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise InputError("block_actions payload has no actions", field="payload.actions")
    action = _obj(actions[0], "payload.actions[0]")
    action_id = _str(action.get("action_id"))
    if action_id not in ACTION_IDS:
        raise InputError(
            f"unknown action_id {action_id!r}; expected one of {', '.join(ACTION_IDS)}",
            field="payload.actions[0].action_id",
        )
    block_id = _str(action.get("block_id"))
    review_id = _str(action.get("value")) or (
        block_id[len(ACTIONS_BLOCK_PREFIX) :] if block_id.startswith(ACTIONS_BLOCK_PREFIX) else ""
    )
    if not review_id:
        raise InputError("the clicked button carries no review id", field="payload.actions[0].value")
    return Interaction(
        kind="block_actions",
        action=ACTION_IDS[action_id],
        review_id=review_id,
        channel_id=_dig(payload, "channel", "id") or _dig(payload, "container", "channel_id"),
        message_ts=_dig(payload, "message", "ts") or _dig(payload, "container", "message_ts"),
        response_url=_str(payload.get("response_url")),
        **common,
    )


def _view_submission(payload: dict[str, Any], common: dict[str, str]) -> Interaction:
    view = _obj(payload.get("view"), "payload.view")
    callback_id = _str(view.get("callback_id"))
    if callback_id not in CALLBACK_IDS:
        raise InputError(
            f"unknown callback_id {callback_id!r}; expected one of {', '.join(CALLBACK_IDS)}",
            field="payload.view.callback_id",
        )
    try:
        meta = jsonlimits.parse(_str(view.get("private_metadata")) or "null")
    except jsonlimits.BadJSON:
        raise InputError(
            "private_metadata is not valid JSON", field="payload.view.private_metadata"
        ) from None
    if not isinstance(meta, dict) or not _str(meta.get("review_id")):
        raise InputError("private_metadata carries no review_id", field="payload.view.private_metadata")
    state = view.get("state")

    def value(block_id: str) -> str:
        # state.values[block_id][action_id].value; the modals use the same id for both
        return _dig(state, "values", block_id, block_id, "value")

    action = CALLBACK_IDS[callback_id]
    extra: dict[str, str] = {}
    if action == "edit_submit":
        extra = {"edited_subject": _one_line(value(SUBJECT_INPUT)), "edited_body": value(BODY_INPUT).strip()}
        if not extra["edited_body"]:
            raise InputError("the edited message is empty", field="body")
    else:
        extra = {"reason": value(REASON_INPUT).strip()}
        if not extra["reason"]:
            raise InputError("a rejection needs a reason", field="reason")
    urls = payload.get("response_urls") or []
    first = urls[0] if isinstance(urls, list) and urls and isinstance(urls[0], dict) else {}
    return Interaction(
        kind="view_submission",
        action=action,
        review_id=_str(meta["review_id"]),
        workspace=_str(meta.get("workspace")),
        channel_id=_str(first.get("channel_id")),
        response_url=_str(first.get("response_url")),
        **common,
        **extra,
    )


# ----------------------------------------------------------------- outbound calls


def slack_error(exc: Exception, *, method: str, token: str = "") -> ProviderError:
    """The typed error a failed Web API call stands for (the token is never included)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        code = _str(data.get("error")) if isinstance(data, dict) else ""
        code = code if re.fullmatch(r"[a-z0-9_.]{1,60}", code) else "unexpected_response"
        text = f"{method} failed: {code} (HTTP {status})"
        if token:
            text = text.replace(token, "[redacted]")
        if status == 429 or code in _TRANSIENT_ERRORS or (status or 0) >= 500:
            return Transient(
                text,
                provider=_PROVIDER,
                status=status,
                retry_after=_retry_after(getattr(response, "headers", None)),
            )
        if code in _CONFIG_ERRORS or status in (401, 403):
            return ProviderConfigError(
                text,
                provider=_PROVIDER,
                status=status,
                next_step="Check SLACK_BOT_TOKEN_<WORKSPACE>, the app's scopes and the review "
                "channel; reviews are queued in the CLI until Slack works.",
            )
        if code in _NOT_FOUND_ERRORS:
            return NotFound(text, provider=_PROVIDER, status=status)
        return InvalidInput(text, provider=_PROVIDER, status=status)
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return Transient(f"{method} failed: connection error ({type(exc).__name__})", provider=_PROVIDER)
    return ProviderConfigError(f"{method} failed: client error ({type(exc).__name__})", provider=_PROVIDER)


def _retry_after(headers: Any) -> float | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


class SlackReviewNotifier:
    """Posts review cards to one channel and opens the review modals, via Slack's Web API."""

    def __init__(self, client: WebClient, *, channel: str) -> None:
        if not channel:
            raise ConfigError("the Slack review channel is empty")
        self.client = client
        self.channel = channel

    def _call(self, method: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (SlackClientError, OSError, http.client.HTTPException) as exc:
            raise slack_error(exc, method=method, token=self.client.token or "") from None

    def post(self, card: ReviewCard) -> tuple[str, str]:
        """Post the card; returns (channel_id, ts) to store for later updates."""
        response = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=self.channel,
            text=fallback_text(card),
            blocks=review_blocks(card),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["channel"]), str(response["ts"])

    def update(self, card: ReviewCard, channel_id: str, ts: str) -> None:
        """Redraw a posted card (after a decision, or when it went stale)."""
        self._call(
            "chat.update",
            self.client.chat_update,
            channel=channel_id,
            ts=ts,
            text=fallback_text(card),
            blocks=review_blocks(card),
        )

    def open_edit(self, trigger_id: str, card: ReviewCard) -> str:
        """Open the edit modal for the clicking user; returns the view id."""
        response = self._call(
            "views.open", self.client.views_open, trigger_id=trigger_id, view=edit_modal(card)
        )
        return str((response.get("view") or {}).get("id", ""))

    def open_reject(self, trigger_id: str, card: ReviewCard) -> str:
        """Open the rejection-reason modal for the clicking user; returns the view id."""
        response = self._call(
            "views.open", self.client.views_open, trigger_id=trigger_id, view=reject_modal(card)
        )
        return str((response.get("view") or {}).get("id", ""))

    def refuse(self, channel_id: str, user_id: str, text: str) -> None:
        """Tell one user, and only them, why their click was not applied."""
        self._call(
            "chat.postEphemeral", self.client.chat_postEphemeral, channel=channel_id, user=user_id, text=text
        )

    def dm_owner(self, user_id: str, text: str) -> tuple[str, str]:
        """Message an account owner directly (the app's DM); returns (channel_id, ts)."""
        response = self._call(
            "chat.postMessage", self.client.chat_postMessage, channel=user_id, text=text, unfurl_links=False
        )
        return str(response["channel"]), str(response["ts"])
