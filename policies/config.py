"""The `[policy]` section of workspace.toml: every rule's settings with the defaults a
careful agency would choose. Pure data (pydantic), validated on load.

One frozen sub-model per rule family (`[policy.jurisdiction]`, `[policy.suppression]`,
`[policy.frequency]`, `[policy.window]` for timing, `[policy.capacity]`,
`[policy.budget]`, `[policy.content]`, `[policy.review]`, `[policy.safety]`).
docs/policies.md names the public rule or practice behind each default.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.timeutil import (
    Window,
    add_business_days,
    holiday_countries,
    holiday_name,
    local_instant,
    public_holidays,
    zone_country,
)

# EU member states plus Iceland, Liechtenstein and Norway (the EEA).
EEA_COUNTRIES: tuple[str, ...] = (
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "IS",
    "LI",
    "NO",
)

PERSONAL_MAILBOX_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "mail.com",
    "yandex.com",
    "zoho.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
)

ROLE_MAILBOXES: tuple[str, ...] = (
    "info",
    "sales",
    "support",
    "admin",
    "contact",
    "hello",
    "office",
    "team",
    "marketing",
    "billing",
    "accounts",
    "finance",
    "hr",
    "jobs",
    "careers",
    "press",
    "help",
    "noreply",
    "no-reply",
    "postmaster",
    "abuse",
    "webmaster",
    "enquiries",
    "inquiries",
)

BANNED_PHRASES: tuple[str, ...] = (
    "guaranteed",
    "guarantee",
    "#1",
    "number one",
    "risk-free",
    "risk free",
    "100% free",
    "no obligation",
    "act now",
    "limited time",
    "once in a lifetime",
    "double your",
    "best in the world",
    "best-in-class results",
    "miracle",
    "no catch",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JurisdictionConfig(_Section):
    us_countries: tuple[str, ...] = Field(
        ("US", "PR", "GU", "VI", "AS", "MP"), description="Countries where CAN-SPAM governs commercial email."
    )
    eea_countries: tuple[str, ...] = Field(
        EEA_COUNTRIES, description="EU/EEA countries: GDPR lawful basis and Art. 21 objection."
    )
    uk_countries: tuple[str, ...] = Field(
        ("GB",), description="United Kingdom (UK GDPR + PECR); 'UK' is read as 'GB'."
    )
    gdpr_channels: tuple[str, ...] = Field(
        ("email", "linkedin", "direct_mail", "phone"),
        description="Channels on which GDPR needs a recorded lawful basis (all personal data).",
    )
    right_to_object_kinds: tuple[str, ...] = Field(
        ("email", "linkedin_message", "direct_mail"),
        description="Message kinds whose first message must state the right to object "
        "(a LinkedIn connection request carries no pitch; the first message does).",
    )
    right_to_object_phrases: tuple[str, ...] = Field(
        (
            "unsubscribe",
            "opt out",
            "opt-out",
            "object",
            "no longer hear",
            "stop hearing",
            "not to be contacted",
            "abmelden",
            "widersprechen",
            "widerspruch",
        ),
        description="Phrases, any of which shows the right to object in a message.",
    )
    prior_consent_countries: tuple[str, ...] = Field(
        ("DE",),
        description="Countries where cold email needs recorded prior consent, B2B "
        "included (Germany UWG §7(2)).",
    )
    prior_consent_channels: tuple[str, ...] = Field(
        ("email",), description="Channels the prior-consent countries rule covers."
    )
    sole_trader_consent_countries: tuple[str, ...] = Field(
        ("GB",),
        description="Countries where sole traders count as individuals (PECR) and "
        "need consent for marketing email.",
    )
    casl_countries: tuple[str, ...] = Field(("CA",), description="Countries under CASL.")
    casl_channels: tuple[str, ...] = Field(
        ("email", "linkedin"),
        description="CASL covers commercial electronic messages to email and similar accounts.",
    )
    unknown_country: Literal["review", "deny"] = Field(
        "review", description="What a send to a prospect with no usable country gets."
    )
    business_postal_address_required: bool = Field(
        True, description="EU/EEA/UK direct mail goes to a business address only."
    )


class SuppressionConfig(_Section):
    email_only_reasons: tuple[str, ...] = Field(
        ("bounced", "invalid"),
        description="Suppression reasons that block the email channel only (the address is "
        "bad, the person did not object); every other reason blocks every action.",
    )
    customer_domains: tuple[str, ...] = Field(
        (), description="Domains of the client's customers: never prospected."
    )
    competitor_domains: tuple[str, ...] = Field(
        (), description="Domains of the client's competitors: never prospected."
    )
    personal_mailbox_domains: tuple[str, ...] = Field(
        PERSONAL_MAILBOX_DOMAINS, description="Free-mail domains; B2B email goes to business addresses only."
    )
    allow_personal_mailboxes: bool = Field(False, description="Allow email to free-mail addresses.")
    role_mailboxes: tuple[str, ...] = Field(
        ROLE_MAILBOXES, description="Local parts of shared role accounts (info@, sales@ ...)."
    )
    allow_role_accounts: bool = Field(False, description="Allow email to role accounts.")


class FrequencyConfig(_Section):
    min_business_days_between_touches: int = Field(
        1, ge=1, description="At most one touch per prospect per business day by default."
    )
    max_touches_per_sequence: int = Field(
        5, ge=1, description="Touches (any channel) one prospect receives before the sequence ends."
    )
    max_contacts_per_account_week: int = Field(
        3, ge=1, description="Distinct people at one account touched per calendar week."
    )
    reply_cooldown_business_days: int = Field(
        5,
        ge=0,
        description="No automated touch for this many business days after any reply, auto-replies included.",
    )
    pause_reply_kinds: tuple[str, ...] = Field(
        ("out_of_office", "auto_reply"),
        description="Reply kinds that pause the sequence (cool-down) instead of ending it.",
    )
    account_pause_days: int = Field(
        30, ge=0, description="Days other contacts at an account are paused after anyone there replied."
    )


HolidaySource = str  # "auto", "none", or a subdivision code of the country ("BY" for Bavaria)


class WindowConfig(_Section):
    """Timing family: the sending window in the recipient's local time.

    No-send days of a prospect = the public holidays of its country (from the maintained
    ``holidays`` library, observed days included) unless ``public_holidays = "none"`` or
    its country's entry in ``public_holidays_by_country`` says otherwise, plus
    ``holidays`` (every country) and ``holidays_by_country[country]``. A prospect without
    a usable country is taken to be in its time zone's country (tz database zone.tab:
    America/New_York is US); with neither it gets only ``holidays``."""

    days: tuple[str, ...] = Field(
        ("mon", "tue", "wed", "thu", "fri"), description="Local weekdays on which messages may go out."
    )
    start: time = Field(time(8, 0), description="Local opening time of the sending window.")
    end: time = Field(time(17, 0), description="Local closing time (exclusive).")
    public_holidays: Literal["auto", "none"] = Field(
        "auto",
        description='"auto": no sends on the public holidays of the prospect\'s country; "none": only '
        "the dates listed in holidays / holidays_by_country.",
    )
    public_holidays_by_country: dict[str, HolidaySource] = Field(
        default_factory=dict,
        description='Per-country override of public_holidays (ISO alpha-2 -> "auto", "none", or a '
        'subdivision code such as "BY" for that region\'s holidays).',
    )
    holidays: tuple[date, ...] = Field((), description="Extra local dates with no sends, for every prospect.")
    holidays_by_country: dict[str, tuple[date, ...]] = Field(
        default_factory=dict, description="Extra no-send dates per prospect country (ISO alpha-2 -> dates)."
    )
    channels: tuple[str, ...] = Field(
        ("email", "linkedin"), description="Channels held to the window (direct mail is posted, not timed)."
    )
    unknown_timezone_recheck_hours: int = Field(
        24, ge=1, description="When the zone is unknown and the policy defers: check again after."
    )

    @field_validator("public_holidays_by_country", "holidays_by_country", mode="before")
    @classmethod
    def _country_keys(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            code = country_code(str(key))
            if not code:
                raise ValueError(f"{key!r} is not an ISO alpha-2 country code")
            out[code] = item
        return out

    @field_validator("public_holidays_by_country")
    @classmethod
    def _known_sources(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            return value
        known = holiday_countries()
        for code, source in value.items():
            if code not in known:
                raise ValueError(f"the holiday library has no calendar for country {code!r}")
            if source not in ("auto", "none") and source.upper() not in known[code]:
                raise ValueError(
                    f'{code} = {source!r}: use "auto", "none" or one of its subdivisions '
                    f"({', '.join(known[code][:12])}{', ...' if len(known[code]) > 12 else ''})"
                )
        return value

    def holidays_for(self, country: str, years: Iterable[int]) -> frozenset[date]:
        """Every no-send date of a prospect in `country` (ISO alpha-2, "" if unknown) in
        the given years."""
        code = country_code(country)
        out = set(self.holidays) | set(self.holidays_by_country.get(code, ()))
        source = self.public_holidays_by_country.get(code, self.public_holidays) if code else "none"
        if source != "none":
            subdivision = "" if source == "auto" else source.upper()
            for year in years:
                out |= public_holidays(code, year, subdivision)
        return frozenset(out)

    def holiday_reason(self, country: str, day: date) -> str:
        """Why `day` is a no-send day for a prospect in `country` ("" when it is not one)."""
        code = country_code(country)
        if day in self.holidays or day in self.holidays_by_country.get(code, ()):
            return f"{day.isoformat()} is a no-send day set in [policy.window]"
        source = self.public_holidays_by_country.get(code, self.public_holidays) if code else "none"
        if source == "none":
            return ""
        subdivision = "" if source == "auto" else source.upper()
        name = holiday_name(code, day, subdivision)
        where = f"{code}-{subdivision}" if subdivision else code
        return f"{day.isoformat()} is a public holiday in {where} ({name})" if name else ""

    def window_for(self, country: str, around: date) -> Window:
        """The window of a prospect in `country`, with the holidays of the years around
        `around` (the searches of a window reach about a year ahead). Memoised per
        (this config, country, year): a pure function of the frozen config."""
        key = (id(self), country, around.year)
        hit = _WINDOWS.get(key)
        if hit is not None and hit[0] is self:
            return hit[1]
        years = range(around.year - 1, around.year + 3)
        window = Window(
            days=self.days, start=self.start, end=self.end, holidays=self.holidays_for(country, years)
        )
        with _WINDOWS_LOCK:
            if len(_WINDOWS) >= WINDOW_MEMO:
                _WINDOWS.pop(next(iter(_WINDOWS)))
            # The entry holds the config itself, so its id cannot be reused while it is cached.
            _WINDOWS[key] = (self, window)
        return window

    def opening_after(self, day: date, business_days: int, tz: ZoneInfo, *, country: str = "") -> datetime:
        """The window's first opening `business_days` business days after local `day`
        (0: on `day` itself, or the next business day), as a UTC instant; weekends and
        the no-send days of a prospect in `country` (else the country of `tz`) are skipped."""
        window = self.window_for(country_code(country) or zone_country(tz.key), day)
        target = add_business_days(day, business_days, window.days, window.holidays)
        return window.next_open(local_instant(target, self.start, tz), tz)


# window_for's memo: (id(config), country, year) -> (config, window); oldest dropped first.
WINDOW_MEMO = 1024
_WINDOWS: dict[tuple[int, str, int], tuple[WindowConfig, Window]] = {}
_WINDOWS_LOCK = threading.Lock()


def country_code(raw: str | None) -> str:
    """An ISO alpha-2 country code, upper-case ("UK" read as "GB"); "" when unusable."""
    code = str(raw or "").strip().upper()
    if code == "UK":
        code = "GB"
    return code if re.fullmatch(r"[A-Z]{2}", code) else ""


class CapacityConfig(_Section):
    mailbox_daily_cap: int = Field(40, ge=1, description="Cold emails per mailbox per day once warm.")
    warmup_days: int = Field(28, ge=0, description="Days the mailbox ramps up from its first send.")
    warmup_start_per_day: int = Field(10, ge=1, description="Daily cap on a mailbox's first day.")
    linkedin_invites_per_week: int = Field(80, ge=0, description="Connection requests per sender per week.")
    linkedin_messages_per_week: int = Field(100, ge=0, description="LinkedIn messages per sender per week.")
    direct_mail_sends_per_month: int = Field(20, ge=0, description="Direct-mail sends per month.")
    direct_mail_usd_per_month: float = Field(1000.0, ge=0, description="Direct-mail spend per month (USD).")


class SpendCaps(_Section):
    credits: float | None = Field(None, ge=0, description="Enrichment/research credits; none = no cap.")
    llm_usd: float | None = Field(None, ge=0, description="LLM spend in USD; none = no cap.")
    usd: float | None = Field(None, ge=0, description="Total spend in USD (LLM, credits, postage).")


class BudgetConfig(_Section):
    run: SpendCaps = Field(
        SpendCaps(credits=50, llm_usd=5.0, usd=25.0), description="Caps for one daily run of the workspace."
    )
    month: SpendCaps = Field(
        SpendCaps(credits=2000, llm_usd=100.0, usd=1500.0), description="Caps for the calendar month (UTC)."
    )
    prospect: SpendCaps = Field(
        SpendCaps(credits=10, llm_usd=0.5, usd=75.0), description="Caps for one prospect over its whole life."
    )


class ContentConfig(_Section):
    opt_out_channels: tuple[str, ...] = Field(
        ("email",), description="Channels whose messages need an opt-out line and postal address."
    )
    opt_out_phrases: tuple[str, ...] = Field(
        ("unsubscribe", "opt out", "opt-out", "abmelden"),
        description="Phrases, any of which counts as the opt-out line.",
    )
    banned_phrases: tuple[str, ...] = Field(
        BANNED_PHRASES, description="Claims and spam phrases that a draft may not contain."
    )
    max_chars: dict[str, int] = Field(
        {"linkedin_connect": 300, "linkedin_message": 1900, "email": 2000, "direct_mail": 1500},
        description="Body length limit by message kind (LinkedIn's connection note is 300).",
    )
    max_subject_chars: int = Field(90, ge=1, description="Email subject length limit.")
    link_allowlist: tuple[str, ...] = Field(
        (),
        description="Domains links may point to (subdomains included); the sender's own "
        "email and unsubscribe domains are always allowed.",
    )
    grounding_allow_words: tuple[str, ...] = Field(
        ("I", "I'm", "I've", "I'd", "I'll"),
        description="Capitalised words a personal sentence may use without evidence.",
    )
    require_recipient: bool = Field(
        True, description="A draft must name its recipient, and it must be the prospect on record."
    )


class ReviewConfig(_Section):
    tier_1: bool = Field(True, description="Every send to a tier-1 account is reviewed.")
    direct_mail: bool = Field(True, description="Every direct-mail send is reviewed.")
    new_template_sends: int = Field(
        10, ge=0, description="The first N sends of each new template version are reviewed."
    )
    min_grounding: float = Field(
        0.9, ge=0, le=1, description="Drafts whose grounding score is lower are reviewed."
    )
    model_written: bool = Field(True, description="Every model-written draft is reviewed.")
    near_cap_ratio: float | None = Field(
        0.9,
        gt=0,
        le=1,
        description="Review actions that bring a budget or capacity to this share of its cap.",
    )
    approved_statuses: tuple[str, ...] = Field(
        ("approved", "edited"), description="Review statuses that release the draft."
    )
    rejected_statuses: tuple[str, ...] = Field(
        ("rejected",), description="Review statuses that block the draft."
    )


class SafetyConfig(_Section):
    max_steps_per_run: int = Field(12, ge=1, description="Agent steps per prospect per run.")
    mode_actions: dict[str, tuple[str, ...]] = Field(
        {
            "research_only": ("research", "enrich", "wait", "stop"),
            "draft_only": ("research", "enrich", "draft", "request_review", "wait", "stop"),
            "send": ("research", "enrich", "draft", "request_review", "send", "call_task", "wait", "stop"),
        },
        description="Actions each workspace mode allows; an unknown mode allows only wait/stop.",
    )


class PolicyConfig(_Section):
    jurisdiction: JurisdictionConfig = JurisdictionConfig()
    suppression: SuppressionConfig = SuppressionConfig()
    frequency: FrequencyConfig = FrequencyConfig()
    window: WindowConfig = WindowConfig()
    capacity: CapacityConfig = CapacityConfig()
    budget: BudgetConfig = BudgetConfig()
    content: ContentConfig = ContentConfig()
    review: ReviewConfig = ReviewConfig()
    safety: SafetyConfig = SafetyConfig()
    unknown_timezone: str = Field(
        "defer",
        pattern="^(defer|review)$",
        description="What a send gets when the prospect's zone is unknown.",
    )
    disabled_rules: tuple[str, ...] = Field((), description="Rule ids switched off.")
