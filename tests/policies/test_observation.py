"""The typed observation view (`policies.observation.Observation`): it exposes the JSON
fields by name with times parsed once (aware UTC), the engine keeps one view per
observation digest, the action index of the engine gives exactly the verdicts of running
every rule, and the memoised text and window helpers equal their unmemoised forms."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from agents import planner
from core.workspace import PlaybookConfig, PlaybookStep
from policies import observation as observation_module
from policies.config import PolicyConfig, WindowConfig
from policies.engine import PolicyEngine, combine
from policies.observation import Observation
from policies.rules import DEFAULT_RULES, common, content
from policies.types import ACTIONS, PolicyInput, Proposal
from tests.policies.factories import BODY, DEFAULT_PROPOSAL, make_observation

REPLIED = {
    "events": {
        "replied_at": "2024-03-04T12:00:00Z",
        "reply_kind": "out_of_office",
        "account_replied_at": "2024-03-01T09:30:00+01:00",
        "unsubscribed_at": "2024-03-02T00:00:00Z",
    },
    "touches": [
        {"step_id": "email_intro", "channel": "email", "kind": "email", "at": "2024-03-01T15:00:00Z"},
        {
            "step_id": "li_connect",
            "channel": "linkedin",
            "kind": "linkedin_connect",
            "at": "2024-03-04T10:00:00",
        },
    ],
}


def _variants() -> list[dict[str, Any]]:
    """Observations that make many rules speak: the default clean prospect, a replied and
    touched one, an EU sole trader with consent, a Canadian role account without a zone,
    a German prospect at a customer domain with a pending review, capped counters."""
    return [
        make_observation(),
        make_observation(**REPLIED),
        make_observation(
            prospect={"country": "uk", "is_sole_trader": True, "consent": {"basis": "consent"}},
            suppressions=[{"reason": "bounced", "match": "email", "value": "dana@acme.com"}],
        ),
        make_observation(
            prospect={"country": "CA", "email": "info@gmail.com", "timezone": "Nowhere/City", "tier": 1},
            kill_switch=True,
            mode="draft_only",
        ),
        make_observation(
            prospect={"country": "DE", "timezone": "Europe/Berlin", "email": "a@acme.com"},
            company={"domain": "acme.com"},
            reviews={"email_intro": {"status": "pending", "draft_id": "d1", "kind": "message"}},
            crm={"status": "error", "message": "timeout"},
        ),
        make_observation(
            counters={
                "mailbox_sent_today": 400,
                "linkedin_invites_week": 500,
                "linkedin_messages_week": "7",
                "direct_mail_sends_month": None,
                "spend": {"run": {"credits": 1e9, "usd": "x"}, "month": None},
            },
            drafts={"email_intro": {"subject": "Re: {{first_name}}", "model_written": True}},
        ),
    ]


def test_view_exposes_the_json_fields_with_aware_utc_times() -> None:
    obs = make_observation(**REPLIED)
    view = Observation.from_json(obs)
    assert view.raw is obs
    assert view.now == datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
    p = obs["prospect"]
    for name in observation_module._PROSPECT_RAW:
        assert getattr(view.prospect, name) == p.get(name), name
    for name in observation_module._CONSENT_RAW:
        assert getattr(view.prospect.consent, name) == p["consent"].get(name), name
    declared = [f.name for f in dataclasses.fields(observation_module.Prospect)]
    assert declared[: len(observation_module._PROSPECT_RAW) + 1] == [
        *observation_module._PROSPECT_RAW,
        "consent",
    ]
    assert view.prospect.country_code == "US" and view.prospect.zone is not None
    assert (view.prospect.email_local, view.prospect.email_host) == ("dana", "acme.com")
    assert view.prospect.consent.basis == p["consent"]["basis"]
    assert view.company.name == obs["company"]["name"] and view.company.domain == obs["company"]["domain"]
    assert view.sender.postal_address == obs["sender"]["postal_address"]
    assert view.events.replied_at == datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
    assert view.events.account_replied_at == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    assert view.events.unsubscribed_at == "2024-03-02T00:00:00Z"  # quoted as recorded
    assert [t.step_id for t in view.touches] == ["email_intro", "li_connect"]
    assert view.touches[1].at == datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # naive read as UTC
    times = [view.now, view.events.replied_at, view.events.account_replied_at, *(t.at for t in view.touches)]
    assert all(
        t is not None and t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times
    )
    c = obs["counters"]
    assert view.counters.mailbox_sent_today == c["mailbox_sent_today"]
    assert view.counters.mailbox_first_send_date == date(2024, 1, 1)
    assert view.counters.spend("month").usd == c["spend"]["month"]["usd"]
    assert view.counters.template_sends == c["template_sends"]
    draft = view.drafts["email_intro"]
    assert draft.body == BODY and draft.fingerprint == "fp1" and draft.id == "d1"
    assert draft.headers_lower["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert view.evidence_quotes == {"ev1": obs["evidence"]["ev1"]["quote"]}
    assert view.drafted == frozenset({"email_intro"})
    with pytest.raises(dataclasses.FrozenInstanceError):  # immutable
        view.prospect.email = "x@y.z"  # type: ignore[misc]


def test_times_are_parsed_once_per_observation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the view parses every instant once; evaluating all rules for several
    proposals and planning against the view parse none again."""
    calls: list[str] = []
    real = observation_module.parse_instant

    def counting(text: str) -> datetime:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(observation_module, "parse_instant", counting)
    observation_module._parse.cache_clear()
    obs = make_observation(**REPLIED)
    engine = PolicyEngine(PolicyConfig())
    view = engine.observation(obs, key="digest-1")
    parsed = len(calls)
    assert parsed == 5  # now, replied_at, account_replied_at, two touches
    for action in ("send", "draft", "research", "request_review"):
        prop = Proposal.from_dict({**DEFAULT_PROPOSAL, "action": action})
        engine.evaluate(PolicyInput.from_observation(engine.observation(obs, key="digest-1"), prop, 1))
    playbook = PlaybookConfig(
        steps=(
            PlaybookStep(id="email_intro", channel="email", kind="email"),
            PlaybookStep(id="email_follow", channel="email", kind="email", delay_business_days=2),
        )
    )
    planner.plan(view, playbook, PolicyConfig())
    assert len(calls) == parsed
    touched = Observation.from_json(make_observation(touches=REPLIED["touches"]))
    parsed = len(calls)
    proposal = planner.plan(touched, playbook, PolicyConfig()).proposal
    assert (proposal.action, proposal.step_id) == ("wait", "email_follow")  # due_at read the touches
    assert len(calls) == parsed
    assert engine.observation(obs, key="digest-1") is view
    assert engine.observation(obs) is not view  # no key: parsed afresh


def _evaluate_every_rule(engine: PolicyEngine, inp: PolicyInput) -> Any:
    """The engine's result computed the old way: every rule, in catalogue order."""
    verdicts = [v for _rid, fn in engine.rules if (v := fn(inp, engine.config)) is not None]
    return combine(verdicts)


@pytest.mark.parametrize("variant", range(len(_variants())))
def test_action_index_gives_exactly_the_verdicts_of_every_rule(variant: int) -> None:
    obs = _variants()[variant]
    engine = PolicyEngine(PolicyConfig())
    for action in ACTIONS:
        for channel in ("email", "linkedin", "direct_mail", "phone"):
            prop = Proposal.from_dict(
                {**DEFAULT_PROPOSAL, "action": action, "channel": channel, "kind": None}
            )
            inp = PolicyInput.from_observation(obs, prop, 3)
            assert engine.evaluate(inp) == _evaluate_every_rule(engine, inp)
            for rid, fn in DEFAULT_RULES:
                declared = getattr(fn, "applies_to", None)
                if declared is not None and action not in declared:
                    assert fn(inp, engine.config) is None, (rid, action)


def test_every_rule_declares_the_actions_it_judges() -> None:
    undeclared = [rid for rid, fn in DEFAULT_RULES if getattr(fn, "applies_to", None) is None]
    assert undeclared == ["workspace_mode", "send_window"]  # these read the action themselves
    engine = PolicyEngine(PolicyConfig())
    assert len(engine.rules_for("wait")) < len(engine.rules_for("send")) <= len(engine.rules)


# --- memoised helpers against the unmemoised originals ---------------------------------

_URL_TEXT = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S+", re.IGNORECASE)


def _says_any_reference(text: str, phrases: tuple[str, ...]) -> str | None:
    low = _URL_TEXT.sub(" ", text).lower()
    return next((p for p in phrases if p.lower() in low), None)


def _word_set_reference(text: str) -> set[str]:
    out = set()
    for m in content._WORD.finditer(text):
        w = re.sub(r"['’]s$", "", m.group()).strip("'’-&").lower()
        out.add(w)
        out.update(p for p in re.split(r"[-'’&]", w) if p)
    return out


def _checkable_tokens_reference(text: str, allowed: tuple[str, ...]) -> list[str]:
    allow = {w.lower() for w in allowed}
    tokens = []
    for m in content._WORD.finditer(text):
        word = m.group()
        if not word[0].isupper() or content._SENTENCE_START.search(text[: m.start()]):
            continue
        clean = re.sub(r"['’]s$", "", word).strip("'’-&").lower()
        if clean and clean not in allow:
            tokens.append(clean)
    tokens.extend(content._norm_number(m.group()) for m in content._NUMBER.finditer(text))
    return tokens


TEXTS = [
    BODY,
    "Re: Acme's Q3 plan - 12,5 % growth & O'Brien’s team (www.unsubscribe.example)",
    "GUARANTEED results, risk-free! #1 in {{first_name}} [FIRST_NAME] <<name>> %NAME%",
    "To opt out, reply STOP. Visit https://ledgerly.example/opt-out?x=1.",
    "",
    "The beſt offer, 100% GUARANTEED! ½ ٣ _x_ Kelvin K — Ünïcode",
]


def test_text_memos_equal_the_originals_on_random_unicode() -> None:
    import random

    rng = random.Random(7)
    pool = "abcsk KSſ_-'’ .,!#%1½٣éÉßẞİı\n" + "guaranteed risk-free #1 free"
    phrases = (*PolicyConfig().content.banned_phrases, "ſtuff", "beſt", "k", "s")
    for _ in range(400):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        text += rng.choice(["", " best", " BEST", " beſt", " risk-free", " #1"])
        assert common.squash(text) == "".join(ch for ch in text.lower() if ch.isalnum())
        assert list(content.banned_in(text, phrases)) == [
            p for p in phrases if re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", text, re.IGNORECASE)
        ]


def test_text_memos_equal_the_unmemoised_helpers() -> None:
    cfg = PolicyConfig().content
    for text in TEXTS * 2:  # the second pass reads the memo
        for phrases in (cfg.opt_out_phrases, ("unsubscribe", "opt out", "stop")):
            assert common.says_any(text, phrases) == _says_any_reference(text, tuple(phrases))
        assert content._word_set(text) == _word_set_reference(text)
        assert common.squash(text) == "".join(ch for ch in text.lower() if ch.isalnum())
        assert list(content.banned_in(text, cfg.banned_phrases)) == [
            p
            for p in cfg.banned_phrases
            if re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", text, re.IGNORECASE)
        ]
        assert list(content._placeholders(text)) == list(
            dict.fromkeys(m.group() for m in content._PLACEHOLDER.finditer(text))
        )
        allowed = ("acme",)
        assert content.checkable_tokens(text, allowed) == _checkable_tokens_reference(text, allowed)
        evidence = {"ev1": {"quote": TEXTS[1]}, "ev2": "Acme opened 12.5 offices"}
        sentence = {"text": text, "evidence_ids": ["ev1", "ev2"], "personal": True}
        quotes = {"ev1": TEXTS[1], "ev2": "Acme opened 12.5 offices"}
        memo = content.check_sentence(sentence, evidence, allowed)
        assert memo == content.check_sentence(sentence, quotes, allowed)
        problems, score = content._grounded.__wrapped__(
            text, content._quotes(["ev1", "ev2"], evidence), allowed
        )
        assert memo == (list(problems), score)


def test_window_memo_equals_a_fresh_window_and_never_crosses_configs() -> None:
    a, b = WindowConfig(), WindowConfig(holidays=(date(2024, 3, 5),))
    day = date(2024, 3, 5)
    wa = a.window_for("US", day)
    assert a.window_for("US", day) is wa
    assert wa == WindowConfig().window_for("US", day)  # another config object: computed afresh
    wb = b.window_for("US", day)
    assert date(2024, 3, 5) in wb.holidays and date(2024, 3, 5) not in wa.holidays
    assert a.window_for("DE", day) != wa


def test_demo_observations_read_the_same_through_the_view(ready_ws) -> None:  # noqa: ANN001
    """Every observation the demo workspace records: the typed fields equal the JSON values."""
    from agents.runner import run_daily
    from state.db import engine_for
    from state.decision_log import stream_bodies
    from tests.conftest import at

    run_daily(ready_ws, now=at("2026-11-23T16:00:00Z"))
    seen = 0
    for body in stream_bodies(engine_for(ready_ws.database_url), ready_ws.id):
        obs = body.get("observation")
        if not obs:
            continue
        seen += 1
        view = Observation.from_json(obs)
        assert view.now.tzinfo is not None and view.now.utcoffset().total_seconds() == 0
        assert view.prospect.id == obs["prospect"]["id"]
        assert view.prospect.email == obs["prospect"]["email"]
        assert view.company.domain == (obs.get("company") or {}).get("domain")
        assert [t.step_id for t in view.touches] == [t["step_id"] for t in obs.get("touches") or ()]
        assert set(view.drafts) == set(obs.get("drafts") or {})
        for sid, d in (obs.get("drafts") or {}).items():
            assert view.drafts[sid].body == d["body"] and view.drafts[sid].fingerprint == d.get("fingerprint")
        spend = (obs.get("counters") or {}).get("spend") or {}
        for scope in ("run", "month", "prospect"):
            for meter in ("credits", "usd", "llm_usd"):
                assert getattr(view.counters.spend(scope), meter) == float(
                    (spend.get(scope) or {}).get(meter) or 0
                )
        assert view.sender.email == (obs.get("sender") or {}).get("email")
    assert seen > 10


@pytest.mark.parametrize("variant", range(len(_variants())))
def test_memoised_verdicts_equal_the_computed_ones(variant: int) -> None:
    """send_window and the budget rules answer from a memo keyed by what they read; the
    answers equal the rules computed afresh, for every action, channel and estimate."""
    from policies.rules import budget, timing

    obs = _variants()[variant]
    for cfg in (PolicyConfig(), PolicyConfig(unknown_timezone="review")):
        for now in (obs["now"], "2024-03-09T15:00:00Z", "2024-12-25T03:00:00Z"):
            for action in ACTIONS:
                for channel in ("email", "linkedin", "phone"):
                    for est in (0.0, 3.0, 1e6):
                        prop = Proposal.from_dict(
                            {
                                **DEFAULT_PROPOSAL,
                                "action": action,
                                "channel": channel,
                                "est_credits": est,
                                "est_usd": est / 2,
                                "est_llm_usd": est / 4,
                            }
                        )
                        inp = PolicyInput.from_observation({**obs, "now": now}, prop, 1)
                        for _ in range(2):  # the second call reads the memo
                            assert timing.send_window(inp, cfg) == (
                                timing._send_window(inp, cfg) if common.windowed(inp, cfg) else None
                            )
                            for scope, rule in (
                                ("run", budget.budget_run),
                                ("month", budget.budget_month),
                                ("prospect", budget.budget_prospect),
                            ):
                                expected = (
                                    budget._budget_verdict(scope, inp, cfg)
                                    if action in common.ACTIVE_ACTIONS
                                    else None
                                )
                                assert rule(inp, cfg) == expected


def test_config_memo_never_shares_results_between_configs() -> None:
    memo = common.ConfigMemo(size=2)
    a, b = PolicyConfig(), PolicyConfig()
    assert memo.get(a, "k", lambda: 1) == 1
    assert memo.get(a, "k", lambda: 2) == 1  # a hit
    assert memo.get(b, "k", lambda: 3) == 3  # an equal but distinct config: computed
    memo.get(a, "other", lambda: 4)
    memo.get(a, "third", lambda: 5)  # bounded: the oldest entry went
    assert memo.get(a, "k", lambda: 6) == 6
