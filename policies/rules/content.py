"""Content: what a draft may say and how it must be built, checked when it is sent or put
in front of a reviewer. Opt-out line and postal address, RFC 8058 one-click unsubscribe
headers, honest subjects, banned claims, grounded personal sentences, no unresolved
placeholders, length limits, allowlisted links, and the right recipient.

`grounding_score(sentences, evidence)` is the pure measure the review triggers use: the
mean, over personal sentences, of the share of their names and numbers found in the
evidence they cite (0 for a sentence citing nothing or an unknown id; 1.0 with no
personal sentences)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from policies.config import PolicyConfig
from policies.rules.common import MESSAGE_ACTIONS, TEXT_MEMO, applies_to, domain_matches, says_any, squash
from policies.types import DraftFacts, PolicyInput, Verdict

_WORD = re.compile(r"[^\W\d_][\w'’&-]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)[\"'“‘(\[]*$")
_PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{%|%\}|\{\s*[A-Za-z_][\w.]*\s*\}|\[\s*[A-Z][A-Z0-9_ ]*[A-Z0-9_]\s*\]"
    r"|<<[^<>]{1,40}>>|%[A-Z][A-Z0-9_]+%"
)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_FAKE_REPLY = re.compile(r"^\s*(re|fw|fwd|aw|wg|tr)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$")
_WORD_PARTS = re.compile(r"[-'’&]")
_LIST_UNSUBSCRIBE = re.compile(r"<https://[^>]+>")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_LINK = re.compile(r"^(https?://|www\.)", re.IGNORECASE)
_SCHEME_PREFIX = re.compile(r"^[a-z]+://")


# --- grounding -----------------------------------------------------------------------


def _clean_word(word: str) -> str:
    word = _POSSESSIVE.sub("", word)
    return word.strip("'’-&").lower()


def _word_set(text: str) -> set[str]:
    return set(_words(text))


@lru_cache(maxsize=TEXT_MEMO)
def _words(text: str) -> frozenset[str]:
    """The words of a text (cleaned, lower-case, with the parts of hyphenated words).
    Memoised by text."""
    out = set()
    for m in _WORD.finditer(text):
        w = _clean_word(m.group())
        out.add(w)
        out.update(p for p in _WORD_PARTS.split(w) if p)
    return frozenset(out)


@lru_cache(maxsize=TEXT_MEMO)
def _numbers(text: str) -> frozenset[str]:
    return frozenset(_norm_number(m.group()) for m in _NUMBER.finditer(text))


def _norm_number(text: str) -> str:
    value = text.replace(",", "")
    return value[:-2] if value.endswith(".0") else value


def checkable_tokens(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The names and numbers in a sentence that evidence must back: capitalised words
    that do not start a sentence, and numbers; words in `allowed` (case-insensitive) are
    exempt."""
    return list(_checkable_tokens(text, tuple(allowed)))


@lru_cache(maxsize=TEXT_MEMO)
def _checkable_tokens(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    allow = {w.lower() for w in allowed}
    tokens = []
    for m in _WORD.finditer(text):
        word = m.group()
        if not word[0].isupper() or _SENTENCE_START.search(text[: m.start()]):
            continue
        clean = _clean_word(word)
        if clean and clean not in allow:
            tokens.append(clean)
    tokens.extend(_norm_number(m.group()) for m in _NUMBER.finditer(text))
    return tuple(tokens)


def _quotes(ids: Sequence[str], evidence: Mapping[str, Any]) -> str:
    parts = []
    for i in ids:
        item = evidence.get(i)
        parts.append(str(item.get("quote") or "") if isinstance(item, Mapping) else str(item or ""))
    return " ".join(parts)


def check_sentence(
    sentence: Mapping[str, Any], evidence: Mapping[str, Any], allowed: Iterable[str] = ()
) -> tuple[list[str], float]:
    """(problems, score in [0, 1]) for one personal sentence."""
    ids = [str(i) for i in sentence.get("evidence_ids") or ()]
    if not ids:
        return ["cites no evidence"], 0.0
    unknown = [i for i in ids if i not in evidence]
    if unknown:
        return [f"cites evidence that does not exist ({', '.join(unknown)})"], 0.0
    problems, score = _grounded(str(sentence.get("text") or ""), _quotes(ids, evidence), tuple(allowed))
    return list(problems), score


@lru_cache(maxsize=TEXT_MEMO)
def _grounded(text: str, quote: str, allowed: tuple[str, ...]) -> tuple[tuple[str, ...], float]:
    """(problems, score) of a sentence against the quotes it cites. Memoised: a pure
    function of the sentence, the quotes and the allowed words."""
    words = _words(quote)
    numbers = _numbers(quote)
    tokens = _checkable_tokens(text, allowed)
    missing = []
    for t in tokens:
        if t[0].isdigit():
            ok = t in numbers
        else:
            ok = t in words or all(p in words for p in _WORD_PARTS.split(t) if p)
        if not ok:
            missing.append(t)
    if not tokens:
        return (), 1.0
    score = (len(tokens) - len(missing)) / len(tokens)
    problems = (f"'{', '.join(dict.fromkeys(missing))}' not found in the cited evidence",) if missing else ()
    return problems, score


def grounding_score(
    sentences: Iterable[Mapping[str, Any]], evidence: Mapping[str, Any], allowed: Iterable[str] = ()
) -> float:
    """Mean grounding of the personal sentences (1.0 when there are none)."""
    allowed = tuple(allowed)
    scores = [check_sentence(s, evidence, allowed)[1] for s in sentences if s.get("personal")]
    return sum(scores) / len(scores) if scores else 1.0


def grounding_allowed(inp: PolicyInput, cfg: PolicyConfig) -> tuple[str, ...]:
    """Words a personal sentence may use without evidence: the prospect's and company's
    own names (and the prospect's title), the sender's names, configured words."""
    p, c, s = inp.prospect, inp.company, inp.sender
    texts = (p.first_name, p.last_name, p.full_name, p.title, c.name, c.domain, s.name, s.company)
    return _allowed_words(tuple(str(t) for t in texts if t), tuple(cfg.content.grounding_allow_words))


@lru_cache(maxsize=TEXT_MEMO)
def _allowed_words(texts: tuple[str, ...], configured: tuple[str, ...]) -> tuple[str, ...]:
    words: set[str] = set(w.lower() for w in configured)
    for t in texts:
        words |= _words(t)
    return tuple(sorted(words))


# --- memoised text checks (pure functions of their arguments) --------------------------


@lru_cache(maxsize=256)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=TEXT_MEMO)
def banned_in(text: str, phrases: tuple[str, ...]) -> tuple[str, ...]:
    """The phrases (in the given order) the text contains as whole words, case-insensitive.
    On ASCII text, a phrase that is not even a substring of the lower-cased text cannot
    match (ASCII case-folding is `str.lower`), so its regex is not run."""
    if not text.isascii():
        return tuple(p for p in phrases if _phrase_pattern(p).search(text))
    low = text.lower()
    return tuple(
        p for p in phrases if (not p.isascii() or p.lower() in low) and _phrase_pattern(p).search(text)
    )


@lru_cache(maxsize=TEXT_MEMO)
def _placeholders(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group() for m in _PLACEHOLDER.finditer(text)))


@lru_cache(maxsize=TEXT_MEMO)
def _body_urls(body: str) -> tuple[str, ...]:
    return tuple(m.group().rstrip(".,;:!?") for m in _URL.finditer(body))


# --- rules ---------------------------------------------------------------------------


def _draft(inp: PolicyInput) -> DraftFacts | None:
    return inp.draft if inp.proposal.action in MESSAGE_ACTIONS else None


def _text(d: DraftFacts) -> str:
    return f"{d.subject}\n{d.body}" if d.subject else d.body


def _headers(d: DraftFacts) -> Mapping[str, str]:
    return d.headers_lower


@applies_to(MESSAGE_ACTIONS)
def draft_present(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A message is sent or reviewed only with a stored draft for its step, on its channel."""
    if inp.proposal.action not in MESSAGE_ACTIONS:
        return None
    d = inp.draft
    if d is None:
        if inp.proposal.action == "send" and inp.message_kind in ("linkedin_connect", "call"):
            return Verdict("draft_present", "allow", f"a {inp.message_kind.replace('_', ' ')} needs no draft")
        return Verdict(
            "draft_present",
            "deny",
            f"no draft is stored for step {inp.proposal.step_id or '(none)'}; "
            "draft it before sending or reviewing",
        )
    if inp.proposal.channel and d.channel and d.channel != inp.proposal.channel:
        return Verdict(
            "draft_present", "deny", f"the draft was written for {d.channel}, not {inp.proposal.channel}"
        )
    name = f"draft {d.id}" if d.id else "a draft"
    return Verdict("draft_present", "allow", f"{name} is stored for step {inp.proposal.step_id}")


@applies_to(MESSAGE_ACTIONS)
def content_opt_out(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Email carries an opt-out line and the sender's physical postal address."""
    d = _draft(inp)
    if d is None or (d.channel or inp.channel) not in cfg.content.opt_out_channels:
        return None
    missing = []
    if not says_any(d.body, cfg.content.opt_out_phrases):
        missing.append("an opt-out line (e.g. 'unsubscribe')")
    postal = str(inp.sender.postal_address or "")
    if not postal.strip():
        missing.append("the sender's postal address (none on record)")
    elif squash(postal) not in squash(d.body):
        missing.append("the sender's postal address")
    if missing:
        return Verdict("content_opt_out", "deny", "the message lacks " + " and ".join(missing))
    return Verdict("content_opt_out", "allow", "opt-out line and postal address present")


@applies_to(MESSAGE_ACTIONS)
def content_list_unsubscribe(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Email carries RFC 8058 one-click unsubscribe headers (Gmail/Yahoo sender rules)."""
    d = _draft(inp)
    if d is None or (d.channel or inp.channel) != "email":
        return None
    h = _headers(d)
    problems = []
    lu = h.get("list-unsubscribe", "")
    if not _LIST_UNSUBSCRIBE.search(lu):
        problems.append("a List-Unsubscribe header with an https URL in angle brackets")
    post = h.get("list-unsubscribe-post", "").strip()
    if post.replace(" ", "").lower() != "list-unsubscribe=one-click":
        problems.append("'List-Unsubscribe-Post: List-Unsubscribe=One-Click'")
    if problems:
        return Verdict(
            "content_list_unsubscribe",
            "deny",
            "one-click unsubscribe (RFC 8058) needs " + " and ".join(problems),
        )
    return Verdict("content_list_unsubscribe", "allow", "RFC 8058 one-click unsubscribe headers present")


@applies_to(MESSAGE_ACTIONS)
def content_honest_subject(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A subject starts with "Re:"/"Fwd:" only on a real follow-up in an existing thread."""
    d = _draft(inp)
    if d is None or (d.channel or inp.channel) != "email" or not d.subject:
        return None
    m = _FAKE_REPLY.match(d.subject)
    if not m:
        return Verdict("content_honest_subject", "allow", "the subject does not pose as a reply")
    threaded = bool(_headers(d).get("in-reply-to", "").strip())
    earlier = any(t.channel == "email" for t in inp.touches)
    if threaded and earlier:
        return Verdict(
            "content_honest_subject",
            "allow",
            f"'{m.group(1)}:' on a real follow-up (In-Reply-To an earlier email)",
        )
    why = "no In-Reply-To header" if not threaded else "no earlier email was sent"
    return Verdict(
        "content_honest_subject",
        "deny",
        f"the subject '{d.subject}' pretends to be a reply or forward ({why}); "
        "deceptive subjects break CAN-SPAM and mailbox-provider rules",
    )


@applies_to(MESSAGE_ACTIONS)
def content_banned_phrases(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """No banned phrases or unsubstantiated claims ("guaranteed", "#1", "risk-free" ...)."""
    d = _draft(inp)
    if d is None:
        return None
    found = banned_in(_text(d), tuple(cfg.content.banned_phrases))
    if found:
        return Verdict(
            "content_banned_phrases",
            "deny",
            "the draft makes claims we do not allow: " + ", ".join(repr(f) for f in found),
        )
    return Verdict("content_banned_phrases", "allow", "no banned phrases")


@applies_to(MESSAGE_ACTIONS)
def content_grounding(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Every personal sentence cites evidence that exists, and its names and numbers are
    found in the quotes it cites."""
    d = _draft(inp)
    if d is None:
        return None
    personal = [s for s in d.sentences if s.get("personal")]
    if not personal:
        return Verdict("content_grounding", "allow", "no personal sentences to ground")
    evidence = inp.obs.evidence_quotes
    allowed = grounding_allowed(inp, cfg)
    problems = []
    for s in personal:
        issues, _ = check_sentence(s, evidence, allowed)
        if issues:
            problems.append(f'"{str(s.get("text") or "")[:80]}" {issues[0]}')
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        # A model-written draft that failed its checks goes to a human with the problems
        # shown (it can still never be sent as it is: sending re-runs this rule).
        to_human = inp.proposal.action == "request_review" and d.model_written
        return Verdict(
            "content_grounding",
            "review" if to_human else "deny",
            "personal sentences must be backed by research: " + "; ".join(problems[:2]) + more,
        )
    return Verdict(
        "content_grounding",
        "allow",
        f"all {len(personal)} personal sentence(s) are grounded in cited evidence",
    )


@applies_to(MESSAGE_ACTIONS)
def content_placeholders(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """No unresolved template placeholders ({{ }}, [FIRST_NAME], {first_name} ...)."""
    d = _draft(inp)
    if d is None:
        return None
    found = _placeholders(_text(d))
    if found:
        return Verdict(
            "content_placeholders",
            "deny",
            "the draft still has unfilled placeholders: " + ", ".join(found[:5]),
        )
    return Verdict("content_placeholders", "allow", "no unfilled placeholders")


@applies_to(MESSAGE_ACTIONS)
def content_length(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Bodies and subjects stay within the channel's length limit (LinkedIn note <= 300)."""
    d = _draft(inp)
    if d is None:
        return None
    kind = inp.message_kind
    limit = cfg.content.max_chars.get(kind)
    problems = []
    if limit is not None and len(d.body) > limit:
        problems.append(f"the {kind.replace('_', ' ')} is {len(d.body)} characters (limit {limit})")
    if d.subject and len(d.subject) > cfg.content.max_subject_chars:
        problems.append(f"the subject is {len(d.subject)} characters (limit {cfg.content.max_subject_chars})")
    if problems:
        return Verdict("content_length", "deny", "too long: " + "; ".join(problems))
    return Verdict(
        "content_length", "allow", f"{len(d.body)} characters" + (f" (limit {limit})" if limit else "")
    )


@lru_cache(maxsize=TEXT_MEMO)
def _host(url: str) -> str:
    if not _SCHEME.match(url):
        url = "http://" + url
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@applies_to(MESSAGE_ACTIONS)
def content_links(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Links point only to allowlisted domains (and the sender's own domains)."""
    d = _draft(inp)
    if d is None:
        return None
    urls = [u for u in d.links if _LINK.match(str(u))]
    urls += _body_urls(d.body)
    if not urls:
        return Verdict("content_links", "allow", "no links")
    sender = inp.sender
    allowed = list(cfg.content.link_allowlist)
    if "@" in str(sender.email or ""):
        allowed.append(str(sender.email).rpartition("@")[2])
    if sender.unsubscribe_url:
        allowed.append(_host(str(sender.unsubscribe_url)))
    bad = sorted({_host(u) or u for u in urls if not domain_matches(_host(u), allowed)})
    if bad:
        return Verdict(
            "content_links", "deny", "links to domains that are not allowlisted: " + ", ".join(bad)
        )
    return Verdict("content_links", "allow", f"{len(urls)} link(s), all to allowlisted domains")


def _profile(url: str) -> str:
    u = _SCHEME_PREFIX.sub("", url.strip().lower())
    u = u.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return u[4:] if u.startswith("www.") else u


@applies_to(MESSAGE_ACTIONS)
def content_recipient(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """The draft is addressed to the prospect on record, never to an address from text."""
    d = _draft(inp)
    if d is None:
        return None
    recipient = str(d.recipient or "").strip()
    if not recipient:
        if not cfg.content.require_recipient:
            return None
        return Verdict("content_recipient", "deny", "the draft names no recipient")
    p = inp.prospect
    channel = d.channel or inp.channel
    if channel == "email":
        expected = {str(p.email or "").strip().lower()}
        got = recipient.lower()
    elif channel == "linkedin":
        expected = {_profile(str(p.linkedin_url or ""))}
        got = _profile(recipient)
    else:
        expected = {str(p.id or ""), str(p.email or "").strip().lower()}
        got = recipient.lower() if "@" in recipient else recipient
    expected.discard("")
    if got in expected:
        return Verdict("content_recipient", "allow", "addressed to the prospect on record")
    on_record = ", ".join(sorted(expected)) or "nothing on record"
    return Verdict(
        "content_recipient",
        "deny",
        f"the draft is addressed to {recipient}, but the prospect on record is {on_record}",
    )
