"""An offline, rule-based reply classifier that says how sure it is.

:func:`classify_reply` looks only at the prospect's own words, :func:`prospect_text`:
quoted history (reply headers of Gmail, Apple Mail and Outlook in en, de, fr, nl, sv,
es, it and da found by the mail-parser-reply library, ``>`` lines), "Sent from my ..."
lines, signatures and any run of the text we sent them are removed before any rule
runs. The result is read in a normalised form: lower case, accents folded ("Büro" ->
"buro"), curly quotes straightened, whitespace collapsed. Each rule is a phrase
pattern with a weight (how strongly it signals its kind); ``matched`` lists the
phrases found, as they appear in the normalised text.

Kinds and precedence when several match (highest first)::

    unsubscribe > out_of_office > auto_reply > referral > wrong_person
                > not_interested > meeting > interested        (none: unclear)

Families: negative (unsubscribe, not_interested), away (out_of_office, auto_reply),
redirect (referral, wrong_person), positive (meeting, interested). Within the redirect
family, ``referral`` is chosen when the reply names someone to
contact (see :func:`extract_referral`) or has a referral phrase and no wrong-person
phrase; a bare "I'm not the right person" is ``wrong_person``.

Confidence is ``1 - prod(1 - weight)`` over the winning kind's phrases (a matching
kind of the same family adds half its weight; a named referral target halves the
remaining doubt), then lowered by conflicts:
a positive family (interested, meeting) together with a negative one
(not_interested, unsubscribe) multiplies it by ``1 - 0.5 * other`` and, when the other
family's score is 0.6 or more, caps it at 0.5; an away family (out_of_office,
auto_reply) together with a positive or negative one multiplies it by
``1 - 0.3 * other``. No match gives ``unclear`` at 0.2 (0.0 for empty text).
``needs_review`` is ``confidence < 0.6``.

Positive phrases ("interested", "let's schedule a call") are ignored when a negation
("not", "no", "n't", "never", "kein", "nicht", "pas", ...) occurs in the three words
before them within the same clause.

Return dates (out_of_office only): date expressions anchored by a return word before
them ("back", "return", "until", "till", "through", "to", "-", "bis", "jusqu'au",
"retour") or after them ("wieder", "zuruck"); the last anchored one wins, else the
latest absolute date not before the day received. Forms: ISO ``2026-12-02``;
``2 December``, ``3rd Dec``, ``3. Dezember``, ``1er décembre``; ``Dec 3``,
``December 3rd, 2026``; ``12/03`` (month/day in US time zones, day/month in other
zones, the nearest coming date when the zone is unknown); ``3.12.`` and ``03.12.2026``
(day.month); ``the 3rd``; weekday names (English, German, French, optionally
"next"/"this"); ``tomorrow``; ``next week`` (its Monday); ``March 2026`` (the first of
that month). A date without a year is the first one not more than 30 days before the
day received; a weekday written with it picks between years. Relative forms are
resolved against ``received_at`` in ``tz`` (UTC when not given or unknown); a weekday
is the next such day after that date.
For ``until X`` the date named is returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.timeutil import UTC, zone
from tools.normalize import fold

KINDS = (
    "interested",
    "meeting",
    "not_interested",
    "unsubscribe",
    "out_of_office",
    "wrong_person",
    "referral",
    "auto_reply",
    "unclear",
)
PRECEDENCE = (
    "unsubscribe",
    "out_of_office",
    "auto_reply",
    "referral",
    "wrong_person",
    "not_interested",
    "meeting",
    "interested",
)
FAMILY = {
    "unsubscribe": "negative",
    "not_interested": "negative",
    "out_of_office": "away",
    "auto_reply": "away",
    "referral": "redirect",
    "wrong_person": "redirect",
    "meeting": "positive",
    "interested": "positive",
}
REVIEW_THRESHOLD = 0.6


@dataclass(frozen=True)
class ReplyClassification:
    kind: str
    confidence: float
    matched: tuple[str, ...] = ()
    return_date: date | None = None
    referral: dict[str, str | None] | None = field(default=None, hash=False)
    signals: tuple[str, ...] = ()  # every kind that matched, in precedence order

    @property
    def needs_review(self) -> bool:
        return self.confidence < REVIEW_THRESHOLD


# ---------------------------------------------------------------- rules

_NEG = r"(?:not|no|n't|never|nor|neither|without|hardly|kein\w*|nicht|pas|aucun\w*|nie)"

# (kind, pattern, weight, negatable). Patterns run on the normalised text.
_RULES: tuple[tuple[str, str, float, bool], ...] = (
    # unsubscribe
    ("unsubscribe", r"\bunsubscrib\w*", 0.95, False),
    ("unsubscribe", r"\bremove (?:me|us|my (?:email|address|details|name)|this address)\b", 0.95, False),
    ("unsubscribe", r"\btake (?:me|us|my (?:email|address|name)) off\b", 0.95, False),
    ("unsubscribe", r"\bopt(?:ing)?[ -]?(?:me |us )?out\b", 0.9, False),
    (
        "unsubscribe",
        r"\b(?:do not|don't|dont|never) (?:contact|email|e-mail|message|call|write to|reach out to) "
        r"(?:me|us)\b",
        0.95,
        False,
    ),
    (
        "unsubscribe",
        r"\bstop (?:emailing|e-mailing|contacting|messaging|spamming|sending|writing)\b",
        0.95,
        False,
    ),
    ("unsubscribe", r"\bno (?:more|further) (?:emails|e-mails|messages|contact)\b", 0.9, False),
    ("unsubscribe", r"\b(?:off|from) your (?:mailing |email |contact )?list\b", 0.85, False),
    ("unsubscribe", r"^\W*stop\W*$", 0.9, False),
    ("unsubscribe", r"\b(?:abmelden|austragen|nicht mehr kontaktieren)\b", 0.9, False),
    ("unsubscribe", r"\b(?:desinscri\w*|desabonn\w*|ne plus me contacter)\b", 0.9, False),
    # out of office
    ("out_of_office", r"\bout of (?:the )?office\b", 0.9, False),
    ("out_of_office", r"\booo\b", 0.8, False),
    ("out_of_office", r"\bon (?:annual |parental |maternity |paternity |sick |medical )?leave\b", 0.8, False),
    ("out_of_office", r"\b(?:on|currently on) (?:vacation|holiday|holidays|pto)\b", 0.85, False),
    ("out_of_office", r"\baway from (?:the |my )?(?:office|desk|email)\b", 0.85, False),
    ("out_of_office", r"\b(?:limited|no) access to (?:my )?e-?mail\b", 0.8, False),
    (
        "out_of_office",
        r"\b(?:i am|i'm|i will be|i'll be) (?:currently )?(?:away|travell?ing|out)\b",
        0.6,
        False,
    ),
    ("out_of_office", r"\b(?:back|return(?:ing)?) (?:to (?:the|my) |in the )?(?:office|desk)\b", 0.7, False),
    ("out_of_office", r"\b(?:i'm |i am |currently )?out (?:until|till|through|thru)\b", 0.8, False),
    ("out_of_office", r"\babwesenheitsnotiz\b", 0.95, False),
    ("out_of_office", r"\bnicht im buro\b", 0.9, False),
    ("out_of_office", r"\b(?:im urlaub|au(?:ss|ß)er haus|abwesend)\b", 0.85, False),
    ("out_of_office", r"\babsente? du bureau\b", 0.9, False),
    ("out_of_office", r"\b(?:en conges?|en vacances)\b", 0.85, False),
    ("out_of_office", r"\bfuera de la oficina\b", 0.9, False),
    # auto reply
    ("auto_reply", r"\b(?:automatic|automated|auto)[ -]?(?:reply|response|message)\b", 0.9, False),
    ("auto_reply", r"\bautoreply\b", 0.9, False),
    ("auto_reply", r"\bthis (?:is an? )?(?:automatically generated|automated)\b", 0.9, False),
    ("auto_reply", r"\b(?:this (?:mailbox|inbox|address) is )?no longer (?:monitored|in use)\b", 0.8, False),
    (
        "auto_reply",
        r"\b(?:we|i) have received your (?:message|email|e-mail|request|enquiry|inquiry)\b",
        0.75,
        False,
    ),
    ("auto_reply", r"\bticket (?:number|no\.?|#|id)\b", 0.75, False),
    ("auto_reply", r"\bdo not reply to this (?:email|message)\b", 0.8, False),
    ("auto_reply", r"\b(?:automatische antwort|reponse automatique|respuesta automatica)\b", 0.95, False),
    # wrong person
    (
        "wrong_person",
        r"\b(?:wrong|not the (?:right|correct|best|appropriate|relevant)) (?:person|contact|guy|one|"
        r"department)\b",
        0.85,
        False,
    ),
    ("wrong_person", r"\bno longer (?:with|at|work(?:s|ing)? (?:at|for|here)|employed)\b", 0.85, False),
    (
        "wrong_person",
        r"\b(?:has|have) left (?:the company|the business|the organi[sz]ation|us)\b",
        0.85,
        False,
    ),
    ("wrong_person", r"\bleft (?:the company|the business|the organi[sz]ation)\b", 0.85, False),
    (
        "wrong_person",
        r"\b(?:i|we) (?:don't|do not) (?:handle|deal with|own|look after|manage) (?:this|that|these|"
        r"it)\b",
        0.75,
        False,
    ),
    (
        "wrong_person",
        r"\bnot (?:responsible for|in charge of|my (?:area|department|remit|call|decision))\b",
        0.75,
        False,
    ),
    ("wrong_person", r"\b(?:doesn't|does not|don't|do not) work (?:here|there|for us)\b", 0.8, False),
    (
        "wrong_person",
        r"\b(?:nicht (?:zustandig|der richtige ansprechpartner|die richtige ansprechpartnerin)|pas "
        r"la bonne personne)\b",
        0.85,
        False,
    ),
    # referral
    (
        "referral",
        r"\b(?:please |you (?:should|could|might want to|may want to|can) |better to |try "
        r")(?:contact|reach out to|speak (?:to|with)|talk (?:to|with)|email|e-mail|get in touch "
        r"with|ask|connect with)\b(?! (?:me|us)\b)",
        0.8,
        False,
    ),
    (
        "referral",
        r"\b(?:the )?(?:right|best|correct|better) (?:person|contact|people)(?: to (?:talk|speak) "
        r"(?:to|with))? (?:is|would be|are|here is)\b",
        0.85,
        False,
    ),
    (
        "referral",
        r"\b(?:is|would be) (?:the )?(?:right|best|correct|better) (?:person|contact)\b",
        0.8,
        False,
    ),
    (
        "referral",
        r"\b(?:i've|i have|i) (?:cc'?d|cced|copied|looped in|forwarded (?:this|your (?:email|"
        r"message|note)) to|included)\b",
        0.8,
        False,
    ),
    (
        "referral",
        r"\b(?:cc'?ing|cc-ing|looping in|adding) (?:my |our )?(?:colleague|manager|boss|head|team|"
        r"[a-z]+ (?:who|as))\b",
        0.75,
        False,
    ),
    (
        "referral",
        r"\b(?:she|he|they|(?:colleague|person|someone|manager) who) (?:handles|owns|looks after|is "
        r"responsible for|manages) (?:this|that|these|it|our)\b",
        0.7,
        False,
    ),
    ("referral", r"\b(?:wenden sie sich an|contactez|veuillez contacter)\b", 0.8, False),
    # not interested
    ("not_interested", r"\bnot (?:at all |really |currently |very )?interested\b", 0.95, False),
    ("not_interested", r"\b(?:no|zero|little) interest\b", 0.9, False),
    (
        "not_interested",
        r"\bnot (?:a (?:good |great |right )?fit|for us|a priority|relevant (?:for|to) us|looking "
        r"(?:for|to|at))\b",
        0.85,
        False,
    ),
    (
        "not_interested",
        r"\b(?:no need|(?:don't|do not|dont) need|(?:we're|we are) (?:all )?set|all set)\b",
        0.75,
        False,
    ),
    (
        "not_interested",
        r"\b(?:already (?:have|use|using|work with|working with|signed|chose|picked)|happy with "
        r"(?:our|what we have|the current))\b",
        0.75,
        False,
    ),
    ("not_interested", r"\bno,? thanks?(?: you)?\b", 0.8, False),
    ("not_interested", r"\b(?:we'll|we will|i'll|i will) pass\b|\bpass(?:ing)? on this\b", 0.8, False),
    (
        "not_interested",
        r"\bnot (?:right )?now\b|\bmaybe (?:later|next (?:year|quarter))\b|\bnot at this time\b|"
        r"\bbad timing\b",
        0.6,
        False,
    ),
    (
        "not_interested",
        r"\b(?:kein(?:e|en)? interesse|nicht interessiert|pas interesse(?:e|s)?|aucun interet)\b",
        0.95,
        False,
    ),
    # meeting
    (
        "meeting",
        r"\b(?:let's|lets|let us|happy to|can we|could we|we can|we could|i'd like to|we'd like to|"
        r"would like to) (?:set up|setup|schedule|book|arrange|find|grab|have|hop on|jump on) (?:a |"
        r"some )?(?:call|meeting|time|chat|demo|slot|zoom|teams)\b",
        0.9,
        True,
    ),
    (
        "meeting",
        r"\b(?:schedule|book|set up|arrange) (?:a |an |some )?(?:call|meeting|demo|chat|intro|"
        r"time)\b",
        0.8,
        True,
    ),
    (
        "meeting",
        r"\b(?:send|share) (?:me |over )?(?:a |an |your )?(?:calendar (?:link|invite)|calendly|"
        r"invite|meeting invite|booking link|a few times|some times)\b",
        0.9,
        True,
    ),
    ("meeting", r"\bcalendly\b|\bbooking link\b", 0.8, True),
    ("meeting", r"\b(?:what|which) (?:time|day|times|days) (?:works|suits|is good|would work)\b", 0.85, True),
    ("meeting", r"\b(?:how about|does|would|what about) (?:mon|tues|wednes|thurs|fri)day\b", 0.8, True),
    (
        "meeting",
        r"\b(?:i'm|i am|we're|we are) (?:free|available) (?:on|at|next|this|tomorrow|mon|tue|wed|"
        r"thu|fri)\w*\b",
        0.8,
        True,
    ),
    ("meeting", r"\b(?:hop|jump) on a (?:quick )?call\b|\bquick call\b", 0.8, True),
    ("meeting", r"\b(?:termin|treffen) (?:vereinbaren|ausmachen)\b|\b(?:un )?rendez-vous\b", 0.85, True),
    # interested
    ("interested", r"\binterested\b", 0.8, True),
    ("interested", r"\b(?:sounds|looks) (?:good|great|interesting|promising|relevant)\b", 0.75, True),
    ("interested", r"\btell me more\b|\blearn more\b|\bkeen to\b|\bcurious\b", 0.75, True),
    (
        "interested",
        r"\b(?:send|share) (?:me |us )?(?:over )?(?:more|some|further) (?:info|information|details|"
        r"material)\b",
        0.75,
        True,
    ),
    ("interested", r"\bmore (?:info|information|details)\b", 0.65, True),
    ("interested", r"\b(?:how much|pricing|price list|what does it cost)\b", 0.65, True),
    (
        "interested",
        r"\b(?:would love to|open to|could be (?:a fit|useful|relevant|interesting))\b",
        0.7,
        True,
    ),
    ("interested", r"^\W*(?:yes|yeah|yep|sure|ok|okay|absolutely|definitely)\b", 0.5, True),
    ("interested", r"\byes,? please\b", 0.7, True),
    (
        "interested",
        r"\b(?:send|share) (?:me |us )?(?:over )?(?:the|your|a) (?:deck|slides|one-pager|case "
        r"stud(?:y|ies)|brochure|proposal|pricing)\b",
        0.75,
        True,
    ),
    (
        "interested",
        r"\b(?:interessiert|klingt (?:gut|interessant)|interesse(?:e|s)?|ca m'interesse)\b",
        0.75,
        True,
    ),
)
_COMPILED = tuple(
    (kind, re.compile(pattern, re.MULTILINE), weight, negatable)
    for kind, pattern, weight, negatable in _RULES
)
_CLAUSE_BREAK = re.compile(r"[.;!?\n]|,|\bbut\b|\bhowever\b|\baber\b|\bmais\b")
_NEG_RE = re.compile(rf"(?:^|\s|\b){_NEG}\b|n't\b")

# ---------------------------------------------------------------- text preparation

_QUOTE_MARKERS = (
    # "On <date>, <name> wrote:" and its translations, possibly wrapped over two lines
    # (the library matches only the one-line form).
    re.compile(r"^\s*On\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bwrote:\s*$", re.MULTILINE),
    re.compile(r"^\s*Am\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bschrieb[^\n]{0,80}:\s*$", re.MULTILINE),
    re.compile(r"^\s*Le\b[^\n]{0,200}(?:\n[^\n]{0,200})?\ba [ée]crit\s*:\s*$", re.MULTILINE),
    re.compile(r"^\s*Op\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bschreef[^\n]{0,80}:\s*$", re.MULTILINE),
    re.compile(r"^\s*Den\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bskrev[^\n]{0,80}:\s*$", re.MULTILINE),
    re.compile(r"^\s*El\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bescribi[óo][^\n]{0,80}:\s*$", re.MULTILINE),
    re.compile(
        r"^\s*-{2,}\s*(?:Original Message|Urspr[üu]ngliche Nachricht|Message d'origine"
        r"|Oorspronkelijk bericht|Ursprungligt meddelande|Mensaje original)\s*-{2,}",
        re.MULTILINE | re.IGNORECASE,
    ),
    # Outlook's header block: a From line followed by a Sent/Date line, in any language
    # Outlook writes (en, de, fr, nl, sv, es).
    re.compile(
        r"^\s*\**(?:From|Von|De|Van|Fr[åa]n)\s?:[^\n]*\n\s*\**(?:Sent|Date|Gesendet|Datum|Envoy[ée]"
        r"|Verzonden|Skickat|Enviado(?: el)?|Fecha)\s?:",
        re.MULTILINE | re.IGNORECASE,
    ),
    re.compile(r"^_{10,}\s*$", re.MULTILINE),
)
# Languages whose reply headers, signatures and "Sent from" lines mail-parser-reply knows
# and that we read replies in (Polish is left out: its one-line header rule cuts any line
# starting "Data:" or "Do:").
REPLY_LANGUAGES = ("en", "de", "fr", "nl", "sv", "es", "it", "da")
# Our own sent text is removed where at least this many words in a row match it.
SENT_RUN_WORDS = 5
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")
_FROM_STYLE_HEADER = re.compile(r"^[>\s*]*(?:-{3,}|[^\W\d_]{1,20}(?: [^\W\d_]{1,10})?\s?:)")


def prospect_text(raw: str, sent_texts: Iterable[str] = ()) -> str:
    """The prospect's own words in a reply: quoted history, "Sent from my ..." lines,
    signatures and any run of our own sent text removed; "" when nothing is theirs.

    Steps: mail-parser-reply splits the message at reply headers (Gmail, Apple Mail,
    Outlook in en, de, fr, nl, sv, es, it, da) and finds the signature; the part above
    the first header is kept (an Outlook/"Original Message" header at the very top
    means the prospect wrote nothing above the quote; a "wrote:" header at the top is a
    bottom-posted reply, whose unquoted lines are kept). Lines starting with ``>`` are
    quotes and go first. A signature is cut only when its first line is a closing ("Best regards,
    Anna", "Sent from my iPhone", "--"), never when that line goes on in the prospect's
    words ("Thanks, but remove me"). Finally every run of ``SENT_RUN_WORDS`` or more
    words that also occurs in one of ``sent_texts`` (the messages we sent this prospect)
    is removed, so a quote the mail client did not mark is not read as theirs.
    """
    text = (raw or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return ""
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))
    text = _latest_reply(text)
    cut = len(text)
    for marker in _QUOTE_MARKERS:
        match = marker.search(text)
        if match and match.start() < cut:
            cut = match.start()
    kept = _remove_sent_runs(text[:cut], sent_texts)
    kept = re.sub(r"[ \t]+\n", "\n", kept)
    return re.sub(r"\n{3,}", "\n\n", kept).strip()


def _latest_reply(text: str) -> str:
    """The newest part of the message per mail-parser-reply, signature cut when safe."""
    from mailparser_reply import EmailMessage

    message = EmailMessage(text=text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read()
    if not message.replies:
        return text
    latest = message.replies[0]
    content = latest.content
    if latest.headers:
        if _FROM_STYLE_HEADER.match(latest.headers):
            return ""  # the message starts with a forwarded/quoted header: nothing above it
        content = content.replace(latest.headers, "", 1)
    signature = latest.signatures
    if signature and _is_closing(signature.strip().split("\n", 1)[0]):
        at = content.rfind(signature)
        if at >= 0:
            # A postscript below the sign-off is still the prospect writing.
            postscript = [line for line in signature.split("\n") if _POSTSCRIPT.match(line)]
            content = content[:at] + "".join(f"\n{line}" for line in postscript)
    return content


_POSTSCRIPT = re.compile(r"^\s*P\.?\s?P?\.?\s?S\b\.?\s*[:,-]?\s*\S", re.IGNORECASE)


_CLOSING = re.compile(
    r"^\W*(?:--|_{2,}|sent from|get outlook|gesendet von|envoy[ée] depuis|verzonden (?:vanaf|met)|"
    r"skickat fr[åa]n|enviado desde|inviato da|sendt fra)",
    re.IGNORECASE,
)


def _signoff_pattern() -> re.Pattern[str]:
    from mailparser_reply.constants import MAIL_LANGUAGES

    phrases = [
        p
        for lang in REPLY_LANGUAGES
        for p in MAIL_LANGUAGES.get(lang, {}).get("signatures", [])
        if not p.startswith("/")
    ]
    return re.compile(r"^(?:" + "|".join(phrases) + r")", re.IGNORECASE)


_SIGNOFF = _signoff_pattern()


def _is_closing(line: str) -> bool:
    """Whether a signature's first line only closes the message: a "Sent from" line, a
    separator, or a sign-off phrase followed by nothing but names ("Best regards, Anna");
    "Thanks, but please remove me" goes on in the prospect's words and is kept."""
    line = line.strip().lstrip(">").strip()
    if not line or _CLOSING.match(line):
        return True
    match = _SIGNOFF.match(line) or re.match(r"^/\w+\s*$", line)
    if match is None:
        return False
    return not any(w[:1].islower() for w in _WORD.findall(line[match.end() :]))


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(fold(m.group(0)), m.start(), m.end()) for m in _WORD.finditer(text)]


def _remove_sent_runs(text: str, sent_texts: Iterable[str]) -> str:
    """`text` without the runs of words it shares with any of `sent_texts`."""
    shingles: set[tuple[str, ...]] = set()
    sizes: set[int] = set()
    for sent in sent_texts:
        words = [t for t, _, _ in _tokens(sent or "")]
        size = min(SENT_RUN_WORDS, len(words))
        if size < 3:
            continue
        sizes.add(size)
        shingles.update(tuple(words[i : i + size]) for i in range(len(words) - size + 1))
    if not shingles:
        return text
    tokens = _tokens(text)
    words = [t for t, _, _ in tokens]
    covered = [False] * len(tokens)
    for size in sizes:
        for i in range(len(tokens) - size + 1):
            if tuple(words[i : i + size]) in shingles:
                covered[i : i + size] = [True] * size
    out, pos, i = [], 0, 0
    while i < len(tokens):
        if not covered[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and covered[j + 1]:
            j += 1
        out.append(text[pos : tokens[i][1]])
        pos = _run_end(text, tokens[j][2])
        i = j + 1
    out.append(text[pos:])
    return "".join(out)


def _run_end(text: str, end: int) -> int:
    """Extend a removed run over the punctuation that closes it (not over a newline)."""
    while end < len(text) and text[end] in ".,;:!?)]\"'\u201d\u2019 \t":
        end += 1
    return end


def new_part(text: str) -> str:
    """The prospect's own words when we do not know what we sent (see :func:`prospect_text`)."""
    return prospect_text(text)


def normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    text = fold(text)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*", "\n", text).strip()


def _negated(text: str, start: int) -> bool:
    """Whether a negation occurs in the three words before `start`, same clause."""
    before = text[max(0, start - 60) : start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    words = before.split()[-3:]
    return any(_NEG_RE.search(" " + word) for word in words)


def _matches(text: str) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = {}
    for kind, pattern, weight, negatable in _COMPILED:
        for match in pattern.finditer(text):
            if negatable and _negated(text, match.start()):
                continue
            phrase = match.group(0).strip()
            hits = found.setdefault(kind, [])
            if all(phrase != p for p, _ in hits):
                hits.append((phrase, weight))
    return found


def _score(hits: Iterable[tuple[str, float]]) -> float:
    remaining = 1.0
    for _, weight in hits:
        remaining *= 1.0 - weight
    return 1.0 - remaining


# ---------------------------------------------------------------- referral

_REFERRAL_VERBS = (
    r"(?:(?i:please\s+|kindly\s+|you\s+(?:should|could|can|may\s+want\s+to|might\s+want\s+to)\s+"
    r"|better\s+to\s+|try\s+(?:to\s+)?)"
    r"(?i:contact|reach\s+out\s+to|speak\s+(?:to|with)|talk\s+(?:to|with)|e-?mail|write\s+to|"
    r"get\s+in\s+touch\s+with|ask|connect\s+with)"
    r"|(?i:reach\s+out\s+to|get\s+in\s+touch\s+with|contact)"
    r"|(?i:i'?ve\s+|i\s+have\s+|i\s+)?(?i:cc'?d|cced|copied|looped\s+in|looping\s+in|cc'?ing|"
    r"forwarded\s+(?:this|your\s+(?:email|message|note))\s+to)"
    r"|(?i:wenden\s+sie\s+sich\s+an|contactez|veuillez\s+contacter))"
)
_ROLE = (
    r"(?i:(?:my|our)\s+(?:colleague|manager|boss|head\s+of\s+\w+|cto|ceo|cfo|coo|vp\s+of\s+\w+"
    r"|director\s+of\s+\w+|\w+\s+(?:lead|manager|director)),?\s+)?"
)
_NAME = r"((?:[^\W\d_][\w'\u2019-]*)(?:[ \t]+[^\W\d_][\w'\u2019-]*){0,2})"
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_AFTER_VERB = re.compile(_REFERRAL_VERBS + r"\s+" + _ROLE + _NAME)
_BEFORE_ROLE = re.compile(
    _NAME + r"(?:\s*\([^)]*\))?,?\s+"
    r"(?i:is\s+the\s+(?:right|best|correct|better)\s+(?:person|contact)"
    r"|would\s+be\s+(?:the\s+)?(?:right|best|better)|handles|owns|looks\s+after|is\s+responsible)"
)
_RIGHT_PERSON_IS = re.compile(
    r"(?i:(?:right|best|correct|better)\s+(?:person|contact)"
    r"(?:\s+to\s+(?:talk|speak)\s+(?:to|with))?\s+(?:is|would\s+be|here\s+is))\s+" + _ROLE + _NAME
)
_NOT_NAMES = {
    "me",
    "us",
    "him",
    "her",
    "them",
    "our",
    "my",
    "the",
    "a",
    "an",
    "this",
    "that",
    "someone",
    "somebody",
    "sales",
    "support",
    "team",
    "hr",
    "procurement",
    "i",
    "he",
    "she",
    "they",
    "we",
    "you",
    "it",
    "in",
    "at",
    "on",
    "for",
    "please",
    "thanks",
    "thank",
    "regards",
    "best",
    "cheers",
    "hi",
    "hello",
    "dear",
    "actually",
    "unfortunately",
    "however",
    "but",
    "and",
    "so",
    "i'm",
    "yes",
    "no",
    "ok",
    "maybe",
    "perhaps",
    "also",
    "instead",
    "think",
    "believe",
    "guess",
    "who",
    "what",
    "which",
    "whoever",
    "anyone",
    "anybody",
    "nobody",
    "everyone",
}


def _name_words(candidate: str, *, trailing: bool) -> str | None:
    """The capitalised run of words in `candidate` that looks like a person's name:
    the leading run after a verb, the trailing run (at most two words) before one."""
    words = candidate.split()
    good = [bool(w[:1].isupper()) and w.lower().strip("'\u2019") not in _NOT_NAMES for w in words]
    run: list[str] = []
    if trailing:
        for word, ok in zip(reversed(words), reversed(good), strict=True):
            if not ok or len(run) == 2:
                break
            run.insert(0, word)
    else:
        for word, ok in zip(words, good, strict=True):
            if not ok:
                break
            run.append(word)
    return " ".join(run) or None


def _email_near(body: str, start: int, name: str | None) -> str | None:
    """An address after `start` in the same paragraph: one that contains part of the
    name anywhere in the next 120 characters, else the first one on the same line."""
    tail = body[start : start + 120].split("\n\n", 1)[0]
    addresses = list(_EMAIL.finditer(tail))
    if name:
        tokens = [fold(t) for t in re.split(r"[\s'\u2019-]+", name) if len(t) > 1]
        for match in addresses:
            local = fold(match.group(0).split("@", 1)[0])
            if any(token in local for token in tokens):
                return match.group(0).lower()
    line_end = tail.find("\n")
    for match in addresses:
        if line_end < 0 or match.start() < line_end:
            return match.group(0).lower()
    return None


def extract_referral(text: str, sent_texts: Iterable[str] = ()) -> dict[str, str | None] | None:
    """``{name, email}`` for the person a reply points us to, or None when none is named."""
    return _referral_in(prospect_text(text, sent_texts))


def _referral_in(own: str) -> dict[str, str | None] | None:
    body = own.replace("\u2019", "'")
    for pattern in (_RIGHT_PERSON_IS, _AFTER_VERB):
        for match in pattern.finditer(body):
            group = match.lastindex or 1
            address = _EMAIL.match(body, match.start(group))
            if address:
                return {"name": None, "email": address.group(0).lower()}
            name = _name_words(match.group(group), trailing=False)
            if name is not None:
                end = match.start(group) + len(name)
                return {"name": name, "email": _email_near(body, end, name)}
    for match in _BEFORE_ROLE.finditer(body):
        name = _name_words(match.group(1), trailing=True)
        if name is not None:
            return {"name": name, "email": _email_near(body, match.end(1), name)}
    direct = re.search(_REFERRAL_VERBS + r"\s+" + _ROLE + r"(" + _EMAIL.pattern + r")", body) or re.search(
        r"(?i:\b(?:try|write\s+to|email|e-mail|at)\s+)(" + _EMAIL.pattern + r")", body
    )
    if direct:
        return {"name": None, "email": direct.group(direct.lastindex or 1).lower()}
    return None


# ---------------------------------------------------------------- dates

_MONTHS = {
    "january": 1,
    "jan": 1,
    "januar": 1,
    "janvier": 1,
    "janv": 1,
    "february": 2,
    "feb": 2,
    "februar": 2,
    "fevrier": 2,
    "fevr": 2,
    "fev": 2,
    "march": 3,
    "mar": 3,
    "marz": 3,
    "maerz": 3,
    "mars": 3,
    "april": 4,
    "apr": 4,
    "avril": 4,
    "avr": 4,
    "may": 5,
    "mai": 5,
    "june": 6,
    "jun": 6,
    "juni": 6,
    "juin": 6,
    "july": 7,
    "jul": 7,
    "juli": 7,
    "juillet": 7,
    "juil": 7,
    "august": 8,
    "aug": 8,
    "aout": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "septembre": 9,
    "october": 10,
    "oct": 10,
    "oktober": 10,
    "okt": 10,
    "octobre": 10,
    "november": 11,
    "nov": 11,
    "novembre": 11,
    "december": 12,
    "dec": 12,
    "dezember": 12,
    "dez": 12,
    "decembre": 12,
}
_WEEKDAYS = {
    "monday": 0,
    "montag": 0,
    "lundi": 0,
    "tuesday": 1,
    "dienstag": 1,
    "mardi": 1,
    "wednesday": 2,
    "mittwoch": 2,
    "mercredi": 2,
    "thursday": 3,
    "donnerstag": 3,
    "jeudi": 3,
    "friday": 4,
    "freitag": 4,
    "vendredi": 4,
    "saturday": 5,
    "samstag": 5,
    "sonnabend": 5,
    "samedi": 5,
    "sunday": 6,
    "sonntag": 6,
    "dimanche": 6,
}
_WEEKDAY_ABBR = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_ANY_WEEKDAY_RE = "|".join(sorted({**_WEEKDAYS, **_WEEKDAY_ABBR}, key=len, reverse=True))

_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|e)?\.?\s*(?:of\s+)?({_MONTH_RE})\b\.?(?:,?\s*(\d{{4}})\b)?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4}})\b)?")
_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b")
_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})?(?!\d)")
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\b\.?,?\s+(\d{{4}})\b")
_DAY_ONLY = re.compile(r"\bthe (\d{1,2})(?:st|nd|rd|th)\b")
_WEEKDAY = re.compile(rf"\b(?:(next|this|nachsten|kommenden|prochain)\s+)?({_WEEKDAY_RE})\b")
_LEADING_WEEKDAY = re.compile(rf"\b({_ANY_WEEKDAY_RE})\b\.?,?\s*(?:the\s+|den\s+|le\s+)?$")
_TOMORROW = re.compile(r"\b(?:tomorrow|morgen|demain)\b")
_NEXT_WEEK = re.compile(r"\b(?:next week|nachste woche|nachsten woche|la semaine prochaine)\b")

_ANCHOR_BEFORE = re.compile(
    r"(?:\bback\b|\breturn\w*|\buntil\b|\btill\b|\btil\b|\bthrough\b|\bthru\b|\bbis\b|"
    r"\bjusqu|\bretour\b|\breprise\b|\bdes le\b|\bagain\b|\bavailable (?:again )?(?:from|on)\b)"
    r"[^.;!?\n]{0,60}$"
)
_RANGE_END = re.compile(r"(?:\bto|-|\u2013|\u2014|\bbis|\bau)\s*(?:the\s+)?$")
_ANCHOR_AFTER = re.compile(r"^[^.;!?\n]{0,40}\b(?:wieder|zuruck|de retour|back)\b")

_MDY_ZONES = (
    "US/",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Anchorage",
    "America/Detroit",
    "America/Boise",
    "America/Juneau",
    "America/Adak",
    "America/Indiana/",
    "America/Kentucky/",
    "America/North_Dakota/",
    "America/Menominee",
    "America/Nome",
    "America/Sitka",
    "America/Yakutat",
    "America/Metlakatla",
    "Pacific/Honolulu",
    "Asia/Manila",
)


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    value: date
    absolute: bool


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(value: str | None) -> int | None:
    if not value:
        return None
    number = int(value)
    return number + 2000 if number < 100 else number


def _infer(month: int, day: int, ref: date, weekday: int | None = None) -> date | None:
    """The first (month, day) not more than 30 days before ref; a weekday picks the year."""
    floor = ref - timedelta(days=30)
    options = [
        d
        for y in (ref.year - 1, ref.year, ref.year + 1, ref.year + 2)
        if (d := _safe_date(y, month, day)) is not None and d >= floor
    ]
    if not options:
        return None
    if weekday is not None:
        for option in options[:2]:
            if option.weekday() == weekday:
                return option
    return options[0]


def _mdy(tz: str | None) -> bool | None:
    if not tz or zone(tz) is None:
        return None
    return tz.startswith(_MDY_ZONES)


def _weekday_before(text: str, start: int) -> tuple[int | None, int]:
    """The weekday written just before a date ("Monday 2 December") and where it starts."""
    offset = max(0, start - 16)
    match = _LEADING_WEEKDAY.search(text[offset:start])
    if not match:
        return None, start
    name = match.group(1)
    return _WEEKDAYS.get(name, _WEEKDAY_ABBR.get(name)), offset + match.start()


def _dates(text: str, ref: date, tz: str | None) -> list[_Found]:
    found: list[_Found] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, value: date | None, absolute: bool = True) -> None:
        if value is None or any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(_Found(start, end, value, absolute))

    for m in _ISO.finditer(text):
        add(m.start(), m.end(), _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    for m in _DAY_MONTH.finditer(text):
        day, month, year = int(m.group(1)), _MONTHS[m.group(2)], _year(m.group(3))
        weekday, begin = _weekday_before(text, m.start())
        add(begin, m.end(), _safe_date(year, month, day) if year else _infer(month, day, ref, weekday))
    for m in _MONTH_DAY.finditer(text):
        month, day, year = _MONTHS[m.group(1)], int(m.group(2)), _year(m.group(3))
        weekday, begin = _weekday_before(text, m.start())
        add(begin, m.end(), _safe_date(year, month, day) if year else _infer(month, day, ref, weekday))
    for m in _DOTTED.finditer(text):
        day, month, year = int(m.group(1)), int(m.group(2)), _year(m.group(3))
        add(m.start(), m.end(), _safe_date(year, month, day) if year else _infer(month, day, ref))
    for m in _SLASH.finditer(text):
        a, b, year = int(m.group(1)), int(m.group(2)), _year(m.group(3))

        def build(month: int, day: int, year: int | None = year) -> date | None:
            return _safe_date(year, month, day) if year else _infer(month, day, ref)

        as_mdy, as_dmy = build(a, b), build(b, a)
        order = _mdy(tz)
        if as_mdy is None or as_dmy is None:
            value = as_mdy or as_dmy
        elif order is True:
            value = as_mdy
        elif order is False:
            value = as_dmy
        else:  # unknown zone: the nearest coming date
            coming = [d for d in (as_mdy, as_dmy) if d >= ref] or [as_mdy, as_dmy]
            value = min(coming, key=lambda d: abs((d - ref).days))
        add(m.start(), m.end(), value)
    for m in _MONTH_YEAR.finditer(text):  # "until March 2026": the first of the month
        add(m.start(), m.end(), _safe_date(int(m.group(2)), _MONTHS[m.group(1)], 1))
    for m in _DAY_ONLY.finditer(text):
        day = int(m.group(1))
        value = None
        for offset in range(0, 3):
            month = (ref.month - 1 + offset) % 12 + 1
            year = ref.year + (ref.month - 1 + offset) // 12
            candidate = _safe_date(year, month, day)
            if candidate is not None and candidate >= ref:
                value = candidate
                break
        add(m.start(), m.end(), value)
    absolute_spans = list(taken)
    for m in _WEEKDAY.finditer(text):
        if any(m.start() < e + 20 and s - 20 < m.end() for s, e in absolute_spans):
            continue  # the weekday of a written date: "2 December (Monday)"
        target = _WEEKDAYS[m.group(2)]
        ahead = (target - ref.weekday()) % 7 or 7
        add(m.start(), m.end(), ref + timedelta(days=ahead), absolute=False)
    for m in _TOMORROW.finditer(text):
        add(m.start(), m.end(), ref + timedelta(days=1), absolute=False)
    for m in _NEXT_WEEK.finditer(text):
        add(m.start(), m.end(), ref + timedelta(days=7 - ref.weekday()), absolute=False)
    return sorted(found, key=lambda f: f.start)


def parse_return_date(
    text: str, *, received_at: datetime, tz: str | None = None, sent_texts: Iterable[str] = ()
) -> date | None:
    """The date an out-of-office reply says its author is back, or None."""
    return _return_date_in(prospect_text(text, sent_texts), received_at=received_at, tz=tz)


def _return_date_in(own: str, *, received_at: datetime, tz: str | None) -> date | None:
    local = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    ref = local.astimezone(zone(tz) or UTC).date()
    body = normalise(own)
    candidates = _dates(body, ref, tz)
    anchored = [
        f
        for f in candidates
        if _ANCHOR_BEFORE.search(body[: f.start])
        or _RANGE_END.search(body[max(0, f.start - 12) : f.start])
        or _ANCHOR_AFTER.search(body[f.end :])
    ]
    if anchored:
        return anchored[-1].value
    coming = [f.value for f in candidates if f.absolute and f.value >= ref]
    return max(coming) if coming else None


# ---------------------------------------------------------------- classification


def classify_reply(
    text: str, *, received_at: datetime, tz: str | None = None, sent_texts: Iterable[str] = ()
) -> ReplyClassification:
    """Classify a prospect's reply; see the module docstring for rules and confidence.

    Only :func:`prospect_text` (the prospect's own words, without quoted history,
    signatures and ``sent_texts``, the messages we sent them) is read."""
    own = prospect_text(text or "", sent_texts)
    body = normalise(own)
    if not body:
        return ReplyClassification(kind="unclear", confidence=0.0)
    found = _matches(body)
    signals = tuple(kind for kind in PRECEDENCE if kind in found)
    if not signals:
        return ReplyClassification(kind="unclear", confidence=0.2)

    referral = _referral_in(own) if {"referral", "wrong_person"} & set(found) else None
    winner = signals[0]
    if winner in ("referral", "wrong_person"):
        if referral is not None:
            winner = "referral"
        elif "wrong_person" in found:
            winner = "wrong_person"

    scores = {kind: _score(hits) for kind, hits in found.items()}
    kin = sorted((k for k in found if FAMILY[k] == FAMILY[winner]), key=lambda k: (k != winner, -scores[k]))
    confidence = scores[kin[0]]  # the winner's own score (a named referral: wrong_person's)
    for kind in kin[1:]:
        confidence = 1.0 - (1.0 - confidence) * (1.0 - 0.5 * scores[kind])
    if referral is not None and winner in ("referral", "wrong_person"):
        confidence = 1.0 - (1.0 - confidence) * 0.5
    families = {FAMILY[kind]: max(scores[k] for k in found if FAMILY[k] == FAMILY[kind]) for kind in found}
    mine = FAMILY[winner]
    hard = {"positive": "negative", "negative": "positive"}.get(mine)
    if hard and hard in families:
        confidence *= 1.0 - 0.5 * families[hard]
        if families[hard] >= 0.6:
            confidence = min(confidence, 0.5)
    if mine == "away":
        other = max((families[f] for f in ("positive", "negative") if f in families), default=0)
        confidence *= 1.0 - 0.3 * other
    elif mine in ("positive", "negative") and "away" in families:
        confidence *= 1.0 - 0.3 * families["away"]

    matched = tuple(phrase for kind in signals for phrase, _ in found[kind])
    return_date = _return_date_in(own, received_at=received_at, tz=tz) if winner == "out_of_office" else None
    return ReplyClassification(
        kind=winner,
        confidence=round(confidence, 3),
        matched=matched,
        return_date=return_date,
        referral=referral if winner in ("referral", "wrong_person") else None,
        signals=signals,
    )
