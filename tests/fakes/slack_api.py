"""A local fake of Slack's Web API, and helpers that build signed interaction requests.

``FakeSlackApi`` is a threaded HTTP server on 127.0.0.1 (a free port) that answers the
methods the review queue uses: ``chat.postMessage``, ``chat.update``, ``views.open``,
``chat.postEphemeral``, ``auth.test``, ``conversations.info`` and ``conversations.list``
(GET, as slack_sdk sends them). Point a real ``slack_sdk.WebClient`` at it:

    with FakeSlackApi() as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        client.chat_postMessage(channel="#reviews", text="hi")
        assert fake.calls[0].method == "chat.postMessage"

Like Slack it checks the bearer token (``not_authed`` / ``invalid_auth``), accepts JSON
or form bodies, checks the Block Kit limits that matter here (``invalid_blocks``),
remembers posted messages (``chat.update`` of an unknown ts gives
``message_not_found``) and refuses a trigger id used twice (``exchanged_trigger_id``).
``fail_next`` scripts failures: ``ratelimited`` comes back as HTTP 429 with
``Retry-After``, as Slack sends it. Recorded calls never hold the token.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0FAKE"
DEFAULT_TOKEN = "xoxb-fake-0000-token"


@dataclass(frozen=True)
class FakeCall:
    """One request the fake received (the Authorization header is not kept)."""

    method: str
    body: dict[str, Any]
    content_type: str
    authorized: bool


@dataclass
class _Failure:
    error: str
    status: int
    headers: dict[str, str]
    raw_body: str | None


@dataclass
class FakeSlackApi:
    """The fake server; use it as a context manager (it yields itself)."""

    token: str = DEFAULT_TOKEN
    calls: list[FakeCall] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=lambda: {"reviews": "C0REVIEWS"})
    not_member: set[str] = field(default_factory=set)  # channel ids the bot was not invited to

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[_Failure]] = {}
        self._used_triggers: set[str] = set()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def __enter__(self) -> FakeSlackApi:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use FakeSlackApi as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    # -- scripting and inspection

    def fail_next(
        self,
        method: str,
        error: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        raw_body: str | None = None,
    ) -> None:
        """Make the next call of ``method`` ("*" for any) fail with ``error``.

        ``ratelimited`` defaults to HTTP 429 with Retry-After (30 s unless given); other
        errors default to HTTP 200 with ``ok: false``. ``raw_body`` replaces the JSON
        body (for a 5xx page that is not JSON).
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        headers: dict[str, str] = {}
        if status == 429:
            headers["Retry-After"] = str(30 if retry_after is None else retry_after)
        elif retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(error=error, status=status, headers=headers, raw_body=raw_body)
            )

    def calls_to(self, method: str) -> list[FakeCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # -- request handling (called from the server threads)

    def _handle(
        self, method: str, auth: str, content_type: str, raw: bytes
    ) -> tuple[int, dict[str, str], str]:
        body = _decode_body(content_type, raw)
        authorized = auth == f"Bearer {self.token}"
        with self._lock:
            self.calls.append(
                FakeCall(
                    method=method,
                    body=body,
                    content_type=content_type.split(";")[0].strip(),
                    authorized=authorized,
                )
            )
        if not auth.startswith("Bearer ") or auth == "Bearer ":
            return _error("not_authed")
        if not authorized:
            return _error("invalid_auth")
        with self._lock:
            queue = self._failures.get(method) or self._failures.get("*")
            failure = queue.pop(0) if queue else None
        if failure is not None:
            text = (
                failure.raw_body
                if failure.raw_body is not None
                else json.dumps({"ok": False, "error": failure.error})
            )
            return failure.status, failure.headers, text
        handler = _METHODS.get(method)
        if handler is None:
            return _error("unknown_method", status=404)
        with self._lock:
            result = handler(self, body)
        return 200, {}, json.dumps(result)

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _resolve_channel(self, channel: str) -> str | None:
        if not channel:
            return None
        if channel.startswith("#"):
            return self.channels.get(channel[1:])
        if channel in self.channels:
            return self.channels[channel]
        if channel[0] in "UW":  # a user id: the app's DM with that user
            return "D" + channel[1:]
        if channel[0] in "CGD":
            return channel
        return None

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(body.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        blocks = _json_field(body.get("blocks"))
        if not body.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        problem = block_problems(blocks or [], max_blocks=50)
        if problem:
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        ts = self._next_ts()
        message = _message(body, ts, blocks)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(body.get("channel", "")), str(body.get("ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        blocks = _json_field(body.get("blocks"))
        problem = block_problems(blocks or [], max_blocks=50)
        if problem:
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        message = _message(body, ts, blocks)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        trigger = str(body.get("trigger_id", ""))
        view = _json_field(body.get("view"))
        if not trigger:
            return {"ok": False, "error": "invalid_arguments"}
        if trigger in self._used_triggers:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        problem = view_problems(view)
        if problem:
            return {"ok": False, "error": "invalid_arguments", "errors": [problem]}
        self._used_triggers.add(trigger)
        view_id = f"V{len(self._used_triggers):08d}"
        return {
            "ok": True,
            "view": {
                **view,
                "id": view_id,
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "state": {"values": {}},
                "hash": f"1700000000.{view_id}",
                "root_view_id": view_id,
                "previous_view_id": None,
            },
        }

    def _chat_post_ephemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._resolve_channel(str(body.get("channel", ""))) is None:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": "outbound-review",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel", ""))
        names = {cid: name for name, cid in self.channels.items()}
        if channel not in names:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": _channel(channel, names[channel], channel not in self.not_member)}

    def _conversations_list(self, body: dict[str, Any]) -> dict[str, Any]:
        listed = [_channel(cid, name, cid not in self.not_member) for name, cid in self.channels.items()]
        return {"ok": True, "channels": listed, "response_metadata": {"next_cursor": ""}}


def _channel(cid: str, name: str, is_member: bool) -> dict[str, Any]:
    return {"id": cid, "name": name, "is_channel": True, "is_archived": False, "is_member": is_member}


_METHODS = {
    "chat.postMessage": FakeSlackApi._chat_post_message,
    "chat.update": FakeSlackApi._chat_update,
    "views.open": FakeSlackApi._views_open,
    "chat.postEphemeral": FakeSlackApi._chat_post_ephemeral,
    "auth.test": FakeSlackApi._auth_test,
    "conversations.info": FakeSlackApi._conversations_info,
    "conversations.list": FakeSlackApi._conversations_list,
}


class _Handler(BaseHTTPRequestHandler):
    api: FakeSlackApi

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        method = self.path.split("?")[0].rsplit("/api/", 1)[-1]
        status, headers, text = self.api._handle(
            method, self.headers.get("Authorization", ""), self.headers.get("Content-Type", ""), raw
        )
        data = text.encode("utf-8")
        self.send_response(status)
        is_json = text.startswith("{")
        self.send_header("Content-Type", "application/json; charset=utf-8" if is_json else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (read methods such as conversations.info use GET)
        path, _, query = self.path.partition("?")
        method = path.rsplit("/api/", 1)[-1]
        status, headers, text = self.api._handle(
            method, self.headers.get("Authorization", ""), "application/x-www-form-urlencoded", query.encode()
        )
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


def _error(code: str, status: int = 200) -> tuple[int, dict[str, str], str]:
    return status, {}, json.dumps({"ok": False, "error": code})


def _decode_body(content_type: str, raw: bytes) -> dict[str, Any]:
    text = raw.decode("utf-8") if raw else ""
    if "json" in content_type:
        value = json.loads(text or "{}")
        return value if isinstance(value, dict) else {"_": value}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _json_field(value: Any) -> Any:
    """Blocks and views arrive as JSON values, or as JSON strings in form bodies."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _message(body: Mapping[str, Any], ts: str, blocks: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "subtype": None,
        "text": body.get("text", ""),
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": TEAM_ID,
        "ts": ts,
    }
    if blocks:
        message["blocks"] = blocks
    return message


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def block_problems(blocks: list[Any], *, max_blocks: int) -> str:
    """The first Block Kit limit the blocks break (as Slack would say), or ""."""
    if len(blocks) > max_blocks:
        return f"more than {max_blocks} blocks"
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            return f"[{i}] is not a block"
        kind = block["type"]
        if len(block.get("block_id", "")) > 255:
            return f"[{i}] block_id longer than 255"
        if kind == "header" and _units(_text(block.get("text"))) > 150:
            return f"[{i}] header text longer than 150"
        if kind == "section":
            if _units(_text(block.get("text"))) > 3000:
                return f"[{i}] section text longer than 3000"
        if kind == "context":
            elements = block.get("elements", [])
            if len(elements) > 10 or any(_units(_text(e)) > 3000 for e in elements):
                return f"[{i}] context too large"
        if kind == "actions":
            elements = block.get("elements", [])
            if len(elements) > 25:
                return f"[{i}] more than 25 actions"
            for element in elements:
                if (
                    _units(_text(element.get("text"))) > 75
                    or len(element.get("value", "")) > 2000
                    or len(element.get("action_id", "")) > 255
                ):
                    return f"[{i}] button too large"
        if kind == "input":
            element = block.get("element", {})
            initial, limit = element.get("initial_value") or "", element.get("max_length", 3000)
            if _units(initial) > min(limit, 3000):
                return f"[{i}] initial_value longer than max_length"
    return ""


def view_problems(view: Mapping[str, Any]) -> str:
    """The first modal limit the view breaks, or ""."""
    if view.get("type") != "modal":
        return "view type must be modal"
    for key in ("title", "submit", "close"):
        if _units(_text(view.get(key))) > 24:
            return f"{key} longer than 24"
    if len(view.get("private_metadata", "")) > 3000:
        return "private_metadata longer than 3000"
    return block_problems(view.get("blocks", []), max_blocks=100)


# ----------------------------------------------------------------- inbound (Slack -> us)


def signed_request(secret: str, payload: dict[str, Any], *, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """An interaction request as Slack sends it: ``payload=<json>`` form-encoded, signed
    with ``v0=HMAC_SHA256(secret, "v0:{timestamp}:{body}")``."""
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }
    return body, headers


def block_actions_payload(
    action_id: str,
    review_id: str,
    *,
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0REVIEWS",
    message_ts: str = "1700000000.000001",
    trigger_id: str = "1234.5678.abcdef",
) -> dict[str, Any]:
    """A realistic ``block_actions`` payload for a click on a review card button."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": "fake-team"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "reviews"},
        "message": {
            "type": "message",
            "user": BOT_USER_ID,
            "ts": message_ts,
            "bot_id": BOT_ID,
            "text": "Review needed",
            "blocks": [],
        },
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{TEAM_ID}/1/response-url",
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"review:{review_id}",
                "text": {"type": "plain_text", "text": action_id, "emoji": False},
                "value": review_id,
                "type": "button",
                "action_ts": "1700000001.000100",
            }
        ],
    }


def view_submission_payload(
    callback_id: str,
    private_metadata: str,
    values: Mapping[str, str | None],
    *,
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    trigger_id: str = "2234.5678.abcdef",
) -> dict[str, Any]:
    """A realistic ``view_submission`` payload; ``values`` maps each input's block id
    (equal to its action id) to the text typed in it."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "fake-team"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": trigger_id,
        "view": {
            "id": "V00000001",
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {
                "values": {
                    key: {key: {"type": "plain_text_input", "value": value}} for key, value in values.items()
                }
            },
            "hash": "1700000002.abc",
            "title": {"type": "plain_text", "text": "Review"},
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
