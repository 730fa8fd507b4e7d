"""Fuzzed input at volume: 10,000 CSV rows and 2,000 event bodies through the importer,
`events ingest` and the HTTP webhook routes, counting what must be zero.

Usage::

    .venv/bin/python bench/fuzz_inputs.py                      # SQLite, seed 15
    .venv/bin/python bench/fuzz_inputs.py --rows 10000 --events 2000 --seed 15 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_x

The rows are spread over files of 250 rows, each written in a random delimiter and
encoding (UTF-8, UTF-8 with BOM, UTF-16, cp1252), with cells drawn from the awkward values
in ``tests/fuzz/strategies.py`` (formulas, NUL bytes, '[' in URLs, 131,073-character
fields, JSON cells, locations ...) and random text. The event bodies are generic records
and Instantly/Smartlead/HeyReach/Sendoso bodies (single and batched) with the same kind
of values, plus junk and deeply nested JSON; they go once through a JSONL file and
``events ingest`` and once, signed, through ``POST /webhooks/events/<provider>``.

Printed: tracebacks (an exception other than a reported file-level refusal), silent losses
(rows or events neither accepted nor rejected with a reason), rejects without a line or
reason, HTTP 5xx, and a few sample rejects. Exit status 1 when any of those is not 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import io
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.strategies import HEADERS, TRICKY_CELLS  # noqa: E402

NOW_TEXT = "2026-11-25T20:00:00Z"
PROVIDER_EVENTS = {
    "instantly": [
        "email_opened",
        "reply_received",
        "lead_meeting_booked",
        "lead_wrong_person",
        "account_error",
        "?",
    ],
    "smartlead": ["EMAIL_REPLY", "EMAIL_BOUNCE", "LEAD_CATEGORY_UPDATED", "?"],
    "heyreach": ["CONNECTION_REQUEST_ACCEPTED", "MESSAGE_REPLY_RECEIVED", "INMAIL_SENT", "?"],
    "sendoso": ["send.delivered", "send.insufficient_funds", "send.failed", "?"],
}
EMAILS = [
    "dana.whitfield@northwindfreight.example",
    "aroha.ngata@kauricloud.example",
    "x@acme.com",
    "bad",
    "",
]
WHENS = [
    "2026-11-24T10:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "soon",
    1764000000,
    10**16,
    "",
]


def rand_text(rng: random.Random, n: int = 12) -> str:
    alphabet = "abcXYZ 09,;\"'\t\n\r=+-@[]{}éüß🙂\x00\u2028"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def cell(rng: random.Random) -> str:
    return rng.choice(TRICKY_CELLS) if rng.random() < 0.6 else rand_text(rng)


def csv_file(rng: random.Random, rows: int) -> tuple[bytes, int]:
    headers = [rng.choice(HEADERS) for _ in range(rng.randint(1, 8))]
    if rng.random() < 0.8:
        headers[0] = "Email"
    delimiter = rng.choice([",", ";", "\t", "|"])
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(headers)
    for _ in range(rows):
        row = [cell(rng) for _ in range(rng.randint(1, len(headers)))]
        if not any(c.strip() for c in row):
            row[0] = "filler@acme.com"
        w.writerow(row)
    text = buf.getvalue()
    encoding = rng.choice(["utf-8", "utf-8-sig", "utf-16", "cp1252"])
    try:
        return text.encode(encoding), rows
    except UnicodeEncodeError:
        return text.encode("utf-8"), rows


def json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.5:
        return rng.choice([None, True, 3, -1.5, 10**20, cell(rng), rand_text(rng)])
    if r < 0.75:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rand_text(rng, 5): json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def provider_event(rng: random.Random, provider: str) -> dict[str, Any]:
    name, email, when = rng.choice(PROVIDER_EVENTS[provider]), rng.choice(EMAILS), rng.choice(WHENS)
    bodies: dict[str, dict[str, Any]] = {
        "instantly": {"event_type": name, "lead_email": email, "timestamp": when, "reply_text": cell(rng)},
        "smartlead": {
            "event_type": name,
            "to_email": email,
            "event_timestamp": when,
            "reply_message": {"html": cell(rng)},
        },
        "heyreach": {
            "eventType": name,
            "timestamp": when,
            "lead": {"profileUrl": cell(rng), "emailAddress": email},
        },
        "sendoso": {
            "event": name,
            "data": {"tracking_code": rand_text(rng, 6), "email": email, "updated_at": when},
        },
    }
    body = bodies[provider]
    if rng.random() < 0.3:
        body[rand_text(rng, 5)] = json_value(rng)
    return body


def event_body(rng: random.Random) -> tuple[str, Any, int]:
    """(provider, body, records it carries)."""
    r = rng.random()
    if r < 0.35:
        record = {
            "type": rng.choice(["opened", "replied", "bounced", "clicked", "?"]),
            "email": rng.choice(EMAILS),
            "occurred_at": rng.choice(WHENS),
        }
        if rng.random() < 0.5:
            record["text"] = cell(rng)
        return "generic", record, 1
    if r < 0.9:
        provider = rng.choice(list(PROVIDER_EVENTS))
        if rng.random() < 0.3:
            items = [provider_event(rng, provider) for _ in range(rng.randint(1, 4))]
            return provider, {"events": items}, len(items)
        return provider, provider_event(rng, provider), 1
    junk = rng.choice([json_value(rng), {"events": []}, {"events": "not a list"}])
    return "generic", junk, 1


def run_csv(engine: Any, rng: random.Random, rows: int, tmp: Path, report: dict[str, Any]) -> None:
    from core.errors import InputError
    from core.timeutil import parse_instant
    from tools.importer import import_prospects

    now = parse_instant(NOW_TEXT)
    done = 0
    n = 0
    while done < rows:
        size = min(250, rows - done)
        data, count = csv_file(rng, size)
        path = tmp / f"fuzz_{n}.csv"
        path.write_bytes(data)
        try:
            result = import_prospects(engine, f"fz{n}", path, rejects_dir=tmp / "rejects", now=now)
        except InputError as exc:
            report["csv_file_refusals"] += 1
            report["csv_rows_refused_with_file_reason"] += count
            report.setdefault("sample_file_refusals", []).append(exc.message[:160])
        except Exception:  # noqa: BLE001 - counting exactly this is the point
            report["tracebacks"] += 1
            traceback.print_exc()
        else:
            report["csv_rows_accepted"] += result.accepted
            report["csv_rows_rejected"] += result.rejected
            report["silent_losses"] += count - result.accepted - result.rejected
            for r in result.rejects:
                if not (r.get("line") and r.get("reason")):
                    report["rejects_without_line_or_reason"] += 1
            if result.rejects and len(report["sample_rejects"]) < 6:
                r = rng.choice(result.rejects)
                report["sample_rejects"].append(
                    f"{path.name} line {r['line']} {r['field']}: {r['reason'][:100]}"
                )
        done += size
        n += 1


def run_events(ws: Any, bodies: list[tuple[str, Any, int]], tmp: Path, report: dict[str, Any]) -> None:
    from agents.events_service import ingest
    from core.timeutil import parse_instant
    from tools.events import read_events_file

    path = tmp / "events.jsonl"
    lines = []
    for provider, body, _ in bodies:
        lines.append(json.dumps(body if provider == "generic" else {"provider": provider, "payload": body}))
    lines.append("[" * 5000 + "]" * 5000)  # one line nested 5,000 deep
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = sum(c for _, body, c in bodies) + 1
    try:
        events, rejects = read_events_file(path)
        result = ingest(ws, events, now=parse_instant(NOW_TEXT))
    except Exception:  # noqa: BLE001
        report["tracebacks"] += 1
        traceback.print_exc()
        return
    report["event_records"] = records
    report["events_mapped"] = len(events)
    report["event_rejects"] = len(rejects) + len(result["failed"])
    report["events_stored"] = result["stored"]
    report["events_duplicates"] = result["duplicates"]
    report["silent_losses"] += records - len(events) - len(rejects)
    report["silent_losses"] += len(events) - result["stored"] - result["duplicates"] - len(result["failed"])
    for r in rejects + result["failed"]:
        if not ((r.get("line") or r.get("index") is not None) and r.get("reason")):
            report["rejects_without_line_or_reason"] += 1
    report["sample_event_rejects"] = [
        f"line {r['line']}{' item ' + str(r['index']) if 'index' in r else ''}: {r['reason'][:100]}"
        for r in rejects[:5]
    ]


def run_http(ws: Any, bodies: list[tuple[str, Any, int]], report: dict[str, Any]) -> None:
    import os

    from fastapi.testclient import TestClient

    from core.timeutil import parse_instant
    from service.app import create_app

    class Clock:
        def now(self):  # noqa: ANN202
            return parse_instant(NOW_TEXT)

    secrets = {p: f"bench-{p}-secret" for p in ("generic", *PROVIDER_EVENTS)}
    for p, s in secrets.items():
        os.environ[f"OUTBOUND_WEBHOOK_SECRET_{ws.id.upper()}_{p.upper()}"] = s
    client = TestClient(
        create_app(
            [ws], clock=Clock(), run_scheduler=False, run_worker=False, slack_client_factory=lambda w: None
        )
    )
    statuses: dict[int, int] = {}
    for provider, body, _ in bodies:
        raw = json.dumps(body).encode()
        sig = hmac.new(secrets[provider].encode(), raw, hashlib.sha256).hexdigest()
        resp = client.post(
            f"/webhooks/events/{provider}",
            content=raw,
            headers={"X-Signature": f"sha256={sig}", "Content-Type": "application/json"},
        )
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        if resp.status_code >= 500:
            report["http_5xx"] += 1
            print("5xx:", resp.status_code, resp.text[:300], file=sys.stderr)
        elif resp.status_code >= 400 and not resp.json().get("error"):
            report["rejects_without_line_or_reason"] += 1
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    sig = hmac.new(secrets["generic"].encode(), deep, hashlib.sha256).hexdigest()
    resp = client.post("/webhooks/events/generic", content=deep, headers={"X-Signature": f"sha256={sig}"})
    statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
    report["http_5xx"] += resp.status_code >= 500
    report["http_statuses"] = dict(sorted(statuses.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="fuzzed CSV rows to import")
    parser.add_argument("--events", type=int, default=2_000, help="fuzzed event bodies")
    parser.add_argument("--seed", type=int, default=15, help="random seed (the run is deterministic)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()

    from agents.services import init_workspace
    from core.timeutil import parse_instant
    from core.workspace import load_workspace
    from state.db import engine_for

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="fuzz_inputs_"))
    root = tmp / "demo"
    shutil.copytree(
        ROOT / "examples" / "demo", root, ignore=shutil.ignore_patterns("var", "outbox", "rejects")
    )
    toml = root / "workspace.toml"
    if args.database_url:
        toml.write_text(
            f'database_url = "{args.database_url}"\n'
            + toml.read_text(encoding="utf-8").replace('id = "demo"', f'id = "fuzz{args.seed}"', 1),
            encoding="utf-8",
        )
    ws = load_workspace(root)
    init_workspace(ws, now=parse_instant("2026-11-23T14:00:00Z"))
    engine = engine_for(ws.database_url)
    report: dict[str, Any] = {
        "tracebacks": 0,
        "silent_losses": 0,
        "rejects_without_line_or_reason": 0,
        "http_5xx": 0,
        "csv_rows": args.rows,
        "csv_rows_accepted": 0,
        "csv_rows_rejected": 0,
        "csv_file_refusals": 0,
        "csv_rows_refused_with_file_reason": 0,
        "sample_rejects": [],
    }
    t0 = time.perf_counter()
    run_csv(engine, rng, args.rows, tmp, report)
    t1 = time.perf_counter()
    bodies = [event_body(rng) for _ in range(args.events)]
    run_events(ws, bodies, tmp, report)
    t2 = time.perf_counter()
    run_http(ws, bodies, report)
    t3 = time.perf_counter()
    report["seconds"] = {
        "csv": round(t1 - t0, 1),
        "events_file": round(t2 - t1, 1),
        "http": round(t3 - t2, 1),
    }
    report.setdefault("sample_file_refusals", [])
    report["sample_file_refusals"] = report["sample_file_refusals"][:3]
    print(json.dumps(report, indent=2, ensure_ascii=False))
    shutil.rmtree(tmp, ignore_errors=True)
    bad = (
        report["tracebacks"]
        + report["silent_losses"]
        + report["rejects_without_line_or_reason"]
        + report["http_5xx"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
