"""doctor against local fakes: a DNS server on 127.0.0.1 (dnslib), the fake Slack Web API,
vendor APIs that answer 401 to a wrong key, and the real service for the signing-secret
probe. Every problem comes with a next step; secret values never appear."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from typer.testing import CliRunner

from service.sites import bot_token_env, signing_secret_env, webhook_secret_env
from tests.fakes.dns_server import FakeDns, good_zone
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.vendor_api import FakeVendorApi
from tools.doctor import DoctorDeps, EnvNames, Finding, run_doctor
from tools.doctor.dns_check import make_resolver
from tools.doctor.slack_check import signed_probe
from tools.scaffold import WorkspaceAnswers, write_workspace

DOMAIN = "ledgerline.example"
GOOD_SECRET = "8f14e45fceea167a5a36dedd4bea2543"


def names(ws: Any) -> EnvNames:
    return EnvNames(
        slack_token=bot_token_env(ws),
        slack_secret=signing_secret_env(ws),
        webhook=lambda provider: webhook_secret_env(ws, provider),
    )


def scaffold(tmp_path: Path, *, slack: bool = False, linkedin: str | None = None) -> Path:
    root = tmp_path / "ledgerline"
    write_workspace(
        root,
        WorkspaceAnswers(
            client="Ledgerline",
            sender_name="Sam Ortiz",
            sender_email=f"sam@{DOMAIN}",
            postal_address="Ledgerline Inc., 9 Harbor Way, Boston, MA 02110, USA",
            channels=["email", "linkedin"],
            dkim_selectors=["google"],
            spf_includes=["_spf.google.com"],
        ),
    )
    toml = root / "workspace.toml"
    text = toml.read_text()
    if slack:
        text = text.replace('channel = ""\napprovers = []', 'channel = "#reviews"\napprovers = ["U1"]')
    if linkedin:
        text = text.replace(
            '[channels.linkedin]\nenabled = true\nprovider = "file"',
            '[channels.linkedin]\nenabled = true\nprovider = "heyreach"\n'
            f'settings = {{ api_key_env = "HEYREACH_KEY", campaign_id = "c-1", base_url = "{linkedin}" }}',
        )
    toml.write_text(text)
    return root


def doctor(
    root: Path,
    *,
    env: dict[str, str] | None = None,
    zone: dict[str, list[str]] | None = None,
    slack: FakeSlackApi | None = None,
    service_url: str | None = None,
) -> list[Finding]:
    with FakeDns(zone if zone is not None else good_zone(DOMAIN)) as dns, httpx.Client(timeout=5) as http:
        deps = DoctorDeps(
            env=env or {},
            http=http,
            slack_client_factory=lambda token: WebClient(
                token=token, base_url=slack.base_url if slack else "http://127.0.0.1:9/api/"
            ),
            resolver=make_resolver(dns.address),
            service_url=service_url,
        )
        return run_doctor(root, deps, names)


def only(findings: list[Finding], area: str, check: str) -> Finding:
    hits = [f for f in findings if f.area == area and f.check == check]
    assert len(hits) == 1, [f.to_dict() for f in findings if f.area == area]
    return hits[0]


def test_missing_dmarc_is_reported_with_next_step(tmp_path: Path) -> None:
    """A domain without a DMARC record fails the dmarc check, saying what record to publish."""
    zone = good_zone(DOMAIN)
    del zone[f"_dmarc.{DOMAIN}"]
    f = only(doctor(scaffold(tmp_path), zone=zone), "dns", "dmarc")
    assert f.status == "fail" and f"_dmarc.{DOMAIN}" in f.message
    assert "v=DMARC1; p=none" in f.next_step


def test_good_domain_passes_spf_dkim_dmarc(tmp_path: Path) -> None:
    """SPF with the include, a DKIM key at the selector and an aligned DMARC policy all pass."""
    found = [f for f in doctor(scaffold(tmp_path)) if f.area == "dns"]
    assert found and all(f.status == "ok" for f in found), [f.to_dict() for f in found]


@pytest.mark.parametrize(
    ("zone_edit", "check", "expected"),
    [
        ({DOMAIN: ["v=spf1 include:sendgrid.net ~all"]}, "spf_include", "does not include _spf.google.com"),
        ({DOMAIN: ["v=spf1 +all"]}, "spf_all", "+all"),
        ({DOMAIN: ["v=spf1 ~all", "v=spf1 -all"]}, "spf", "2 SPF records"),
        ({f"google._domainkey.{DOMAIN}": ["v=DKIM1; p="]}, "dkim", "empty"),
        ({f"_dmarc.{DOMAIN}": ["v=DMARC1; rua=mailto:x@y.example"]}, "dmarc", "no valid policy"),
    ],
)
def test_dns_problems(tmp_path: Path, zone_edit: dict[str, list[str]], check: str, expected: str) -> None:
    """Each broken record is named, with a next step."""
    zone = good_zone(DOMAIN) | zone_edit
    f = only(doctor(scaffold(tmp_path), zone=zone), "dns", check)
    assert f.status == "fail" and expected in f.message and f.next_step


def test_dmarc_alignment(tmp_path: Path) -> None:
    """A sending domain unrelated to the From domain fails DMARC alignment."""
    root = scaffold(tmp_path)
    toml = root / "workspace.toml"
    toml.write_text(
        toml.read_text().replace(f'sending_domain = "{DOMAIN}"', 'sending_domain = "mailer.example"')
    )
    f = only(doctor(root, zone=good_zone("mailer.example")), "dns", "dmarc_alignment")
    assert f.status == "fail" and "not aligned" in f.message


def test_provider_answering_401(tmp_path: Path) -> None:
    """A provider that rejects the key is a failure naming the env var to fix; the key's
    value is never printed; the right key passes."""
    with FakeVendorApi("heyreach", secret="right-key-123") as api:
        root = scaffold(tmp_path, linkedin=api.base_url)
        bad = only(doctor(root, env={"HEYREACH_KEY": "wrong-key-456"}), "providers", "linkedin")
        good = only(doctor(root, env={"HEYREACH_KEY": "right-key-123"}), "providers", "linkedin")
    assert bad.status == "fail" and "credentials rejected" in bad.message and "HTTP 401" in bad.message
    assert "HEYREACH_KEY" in bad.next_step
    assert "wrong-key-456" not in json.dumps(bad.to_dict())
    assert good.status == "ok"
    assert api.requests[0].method == "GET"  # a read, nothing created


def test_missing_provider_secret_named(tmp_path: Path) -> None:
    """An unset provider secret is reported by its variable name in secrets and providers."""
    root = scaffold(tmp_path, linkedin="http://127.0.0.1:9/api/public/")
    found = doctor(root, env={})
    assert only(found, "secrets", "HEYREACH_KEY").status == "fail"
    assert "HEYREACH_KEY" in only(found, "providers", "linkedin").message
    hook = only(found, "webhooks", "heyreach")
    assert hook.status == "fail" and "/webhooks/events/heyreach" in hook.next_step


def slack_env(root: Path, *, token: str, secret: str) -> dict[str, str]:
    from core.workspace import load_workspace

    ws = load_workspace(root)
    return {bot_token_env(ws): token, signing_secret_env(ws): secret}


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("xoxb-1234-abcd", "holds a Slack token"),
        ("not-a-secret", "does not look like a Slack signing secret"),
    ],
)
def test_wrong_slack_signing_secret_form(tmp_path: Path, secret: str, expected: str) -> None:
    """A token pasted as the signing secret, or a value of the wrong form, fails with a next step."""
    root = scaffold(tmp_path, slack=True)
    with FakeSlackApi() as fake:
        found = doctor(root, env=slack_env(root, token=fake.token, secret=secret), slack=fake)
    f = only(found, "slack", "signing_secret")
    assert f.status == "fail" and expected in f.message and "Signing Secret" in f.next_step
    assert secret not in json.dumps([x.to_dict() for x in found])


def test_slack_token_and_channel(tmp_path: Path) -> None:
    """A good token and a channel the bot is in pass; a rejected token and a channel without
    the bot fail with what to do."""
    root = scaffold(tmp_path, slack=True)
    with FakeSlackApi() as fake:
        good = doctor(root, env=slack_env(root, token=fake.token, secret=GOOD_SECRET), slack=fake)
        bad_token = doctor(root, env=slack_env(root, token="xoxb-wrong", secret=GOOD_SECRET), slack=fake)
        fake.not_member.add("C0REVIEWS")
        not_member = doctor(root, env=slack_env(root, token=fake.token, secret=GOOD_SECRET), slack=fake)
    assert only(good, "slack", "token").status == "ok"
    assert only(good, "slack", "channel").status == "ok"
    assert only(good, "slack", "signing_secret").status == "ok"
    assert only(bad_token, "slack", "token").status == "fail"
    assert "invalid_auth" in only(bad_token, "slack", "token").message
    channel = only(not_member, "slack", "channel")
    assert channel.status == "fail" and "/invite" in channel.next_step


def test_config_problems_all_at_once_with_did_you_mean(tmp_path: Path) -> None:
    """Every config problem is a finding; a typo'd key gets the closest known key."""
    root = scaffold(tmp_path)
    toml = root / "workspace.toml"
    toml.write_text(
        toml.read_text()
        .replace("review_tier_1 = true", "review_teir_1 = true")
        .replace('daily_at = "08:30"', 'daily_at = "8.30"')
    )
    found = doctor(root)
    fails = [f for f in found if f.area == "config" and f.status == "fail"]
    assert len(fails) == 2
    assert any("did you mean 'review_tier_1'" in f.message for f in fails)
    assert any(f.check == "run.daily_at" for f in fails)
    assert all(f.next_step for f in fails)


def test_every_problem_has_a_next_step(tmp_path: Path) -> None:
    """Every warning and failure of a badly set-up workspace says what to do next."""
    root = scaffold(tmp_path, slack=True, linkedin="http://127.0.0.1:9/api/public/")
    found = doctor(root, env={}, zone={})
    problems = [f for f in found if f.status in ("warn", "fail")]
    assert len(problems) >= 6
    assert all(f.next_step for f in problems)


def test_cli_doctor_json_and_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`doctor --json` lists findings with next steps and exits 1 when something fails."""
    root = scaffold(tmp_path)
    zone = good_zone(DOMAIN)
    del zone[f"_dmarc.{DOMAIN}"]
    with FakeDns(zone) as dns:
        result = CliRunner().invoke(
            __import__("run").app, ["doctor", "-w", str(root), "--dns-server", dns.address, "--json"]
        )
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["counts"]["fail"] == 1
    dmarc = next(f for f in report["findings"] if f["check"] == "dmarc")
    assert dmarc["next_step"].startswith("Publish a TXT record")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(root: Path) -> Iterator[str]:
    import uvicorn

    from core.workspace import load_workspace
    from service.app import create_app

    app = create_app([load_workspace(root)], run_scheduler=False, run_worker=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_signing_secret_probe_against_the_running_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --service-url, a secret that differs from the running service's is reported
    (the service answers 401 to the signed probe); the same secret passes."""
    root = scaffold(tmp_path, slack=True)
    from core.workspace import load_workspace

    monkeypatch.setenv(signing_secret_env(load_workspace(root)), GOOD_SECRET)
    other = "0123456789abcdef0123456789abcdef"
    with FakeSlackApi() as fake, running_service(root) as url:
        wrong = doctor(root, env=slack_env(root, token=fake.token, secret=other), slack=fake, service_url=url)
        right = doctor(
            root, env=slack_env(root, token=fake.token, secret=GOOD_SECRET), slack=fake, service_url=url
        )
    f = only(wrong, "slack", "signing_secret_service")
    assert f.status == "fail" and "different signing secret" in f.message and f.next_step
    assert only(right, "slack", "signing_secret_service").status == "ok"


def test_signed_probe_verifies_with_slack_sdk() -> None:
    """The probe is signed exactly as Slack signs requests (slack_sdk's verifier accepts it)."""
    from slack_sdk.signature import SignatureVerifier

    body, headers = signed_probe(GOOD_SECRET, now=1_700_000_000)
    verifier = SignatureVerifier(GOOD_SECRET, clock=type("C", (), {"now": lambda self: 1_700_000_010})())
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("f" * 32, clock=verifier.clock).is_valid_request(body, headers)
