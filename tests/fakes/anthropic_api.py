"""A local fake of the Anthropic Messages API on 127.0.0.1, for tests and for trying the
Claude path offline (``python -m tests.fakes.anthropic_api --port 8765``).

The real ``anthropic`` SDK talks to it through ``base_url``. It is a deterministic stand-in
for a model, not a language model: it composes its answers from the documents it is given,
so every citation it returns points at a real span (content-block or character indices
that are correct for the request).

What it speaks:
- ``POST /v1/messages``: text answers with citations (``document`` blocks with citations
  enabled), tool use (forced ``tool_choice`` of type ``tool`` or ``any``), usage with
  ``cache_creation_input_tokens`` / ``cache_read_input_tokens`` when ``cache_control``
  marks a prefix (cached when the prefix reaches ``min_cache_tokens``), rate-limit headers
  (``anthropic-ratelimit-*``) and a requests-per-minute limit answered with 429 +
  ``retry-after``;
- ``POST /v1/messages/count_tokens``;
- ``POST /v1/messages/batches``, ``GET /v1/messages/batches`` (list, newest first),
  ``GET /v1/messages/batches/{id}``,
  ``GET /v1/messages/batches/{id}/results`` (JSONL); outcomes per ``custom_id`` can be
  forced to ``errored`` or ``expired``;
- injected failures (``script(Scripted(429, headers={"retry-after": "1"}))``, 529, 5xx),
  a fixed latency per request;
- an ADVERSARIAL mode that obeys every instruction-like thing it finds in documents and
  user text: it adds the e-mail addresses and links it finds, claims approval, calls a
  tool it was not offered, adds fields to tool input and leaks the system prompt.

Which answer it composes is chosen by a ``TASK: <name>`` line in the system prompt
(``draft``, ``research``, ``plan``: one of the offered tools - the first, or the one
``behavior.plan_pick`` names - with a rationale; anything else: a generic cited summary). Facts for drafts are
read from ``name: value`` lines inside ``<facts>`` in the user text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"https?://[^\s<>\"')\]]+")
SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


@dataclass(frozen=True)
class Scripted:
    """One injected answer, used before normal behaviour (a failure or a canned body)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Behavior:
    """How the fake composes answers; tests change these fields."""

    draft: str = "good"  # good | ungrounded_once | ungrounded_always
    adversarial: bool = False
    reply_confidence: float = 0.9
    sentences_per_draft: int = 2
    # The planner (TASK: plan): which offered tool to pick. "" picks the first offered
    # (the playbook's choice); otherwise the first offered tool whose name starts with it.
    plan_pick: str = ""
    # good | refuse | no_tool | unoffered | invalid | two_tools
    plan: str = "good"


def count_tokens(value: Any) -> int:
    """A stable approximation: one token per four characters of JSON text."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return max(1, len(text) // 4)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


class FakeAnthropic:
    """``with FakeAnthropic() as fake: Anthropic(base_url=fake.base_url, api_key="k")``."""

    def __init__(
        self,
        *,
        port: int = 0,
        latency_s: float = 0.0,
        requests_per_minute: int | None = None,
        min_cache_tokens: int = 1024,
        batch_polls_until_done: int = 0,
    ) -> None:
        self.latency_s = latency_s
        self.requests_per_minute = requests_per_minute
        self.min_cache_tokens = min_cache_tokens
        self.batch_polls_until_done = batch_polls_until_done
        self.behavior = Behavior()
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"} of every call
        self.batch_outcomes: dict[str, str] = {}  # custom_id -> errored | expired
        self.rate_limited = 0
        self._script: deque[Scripted] = deque()
        self._cache: dict[str, float] = {}
        self._window: deque[float] = deque()
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def script(self, *answers: Scripted) -> None:
        with self._lock:
            self._script.extend(answers)

    def start(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, path: str = "/v1/messages") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    # --- HTTP ------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "application/x-jsonl" if isinstance(body, bytes) else "application/json"
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(raw)))
                self.send_header("request-id", "req_" + uuid.uuid4().hex[:16])
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                fake._record(self.path, dict(self.headers), None)
                status, body, headers = fake._get(self.path)
                self._send(status, body, headers)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, _error("invalid_request_error", "body is not JSON"))
                    return
                fake._record(self.path, dict(self.headers), body)
                if not (self.headers.get("x-api-key") or self.headers.get("authorization")):
                    self._send(401, _error("authentication_error", "missing API key"))
                    return
                status, out, headers = fake._post(self.path.split("?")[0], body)
                self._send(status, out, headers)

        return Handler

    def _record(self, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append(
                {
                    "path": path.split("?")[0],
                    "headers": {k.lower(): v for k, v in headers.items()},
                    "body": body,
                }
            )

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path == "/v1/messages/count_tokens":
            return 200, {"input_tokens": self._input_tokens(body)}, {}
        if path == "/v1/messages/batches":
            return 200, self._create_batch(body), {}
        if path != "/v1/messages":
            return 404, _error("not_found_error", f"no route {path}"), {}
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None and scripted.status != 200:
            body_out = scripted.body or _error(_error_type(scripted.status), f"injected {scripted.status}")
            return scripted.status, body_out, dict(scripted.headers)
        limited = self._take_rate_slot()
        if limited is not None:
            return 429, _error("rate_limit_error", "requests per minute exceeded"), limited
        headers = self._ratelimit_headers()
        if scripted is not None:
            return 200, scripted.body, {**headers, **scripted.headers}
        try:
            return 200, self.message(body), headers
        except ValueError as exc:
            return 400, _error("invalid_request_error", str(exc)), headers

    def _get(self, path: str) -> tuple[int, Any, dict[str, str]]:
        if path.split("?")[0] == "/v1/messages/batches":  # newest first, one page
            with self._lock:
                data = [
                    {k: v for k, v in b.items() if not k.startswith("_")}
                    for b in sorted(self._batches.values(), key=lambda b: b["created_at"], reverse=True)
                ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return 200, {"data": data, "has_more": False, "first_id": first, "last_id": last}, {}
        m = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/results)?", path.split("?")[0])
        if not m or m.group(1) not in self._batches:
            return 404, _error("not_found_error", f"no batch at {path}"), {}
        batch = self._batches[m.group(1)]
        if m.group(2):
            if batch["processing_status"] != "ended":
                return 400, _error("invalid_request_error", "batch has not ended"), {}
            lines = [json.dumps(r) for r in batch["_results"]]
            return 200, ("\n".join(lines) + "\n").encode(), {}
        with self._lock:
            batch["_polls"] += 1
            if batch["processing_status"] == "in_progress" and batch["_polls"] > self.batch_polls_until_done:
                self._finish_batch(batch)
        return 200, {k: v for k, v in batch.items() if not k.startswith("_")}, {}

    # --- rate limits -----------------------------------------------------------------

    def _take_rate_slot(self) -> dict[str, str] | None:
        if not self.requests_per_minute:
            return None
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0] >= 60.0:
                self._window.popleft()
            if len(self._window) >= self.requests_per_minute:
                self.rate_limited += 1
                wait = 60.0 - (now - self._window[0])
                return {"retry-after": str(max(1, int(wait + 0.999))), **self._ratelimit_headers(locked=True)}
            self._window.append(now)
        return None

    def _ratelimit_headers(self, locked: bool = False) -> dict[str, str]:
        limit = self.requests_per_minute or 4000
        used = len(self._window)
        reset = datetime.now(UTC) + timedelta(seconds=60)
        return {
            "anthropic-ratelimit-requests-limit": str(limit),
            "anthropic-ratelimit-requests-remaining": str(max(0, limit - used)),
            "anthropic-ratelimit-requests-reset": reset.isoformat().replace("+00:00", "Z"),
            "anthropic-ratelimit-input-tokens-limit": "400000",
            "anthropic-ratelimit-input-tokens-remaining": "400000",
            "anthropic-ratelimit-output-tokens-limit": "80000",
            "anthropic-ratelimit-output-tokens-remaining": "80000",
        }

    # --- batches ---------------------------------------------------------------------

    def _create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        bid = "msgbatch_" + uuid.uuid4().hex[:20]
        now = datetime.now(UTC)
        batch = {
            "id": bid,
            "type": "message_batch",
            "processing_status": "in_progress",
            "created_at": now.isoformat(),
            "expires_at": (now + timedelta(hours=24)).isoformat(),
            "ended_at": None,
            "results_url": None,
            "request_counts": {
                "processing": len(body.get("requests") or []),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "_requests": list(body.get("requests") or []),
            "_results": [],
            "_polls": 0,
        }
        with self._lock:
            self._batches[bid] = batch
            if self.batch_polls_until_done < 0:
                self._finish_batch(batch)
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _finish_batch(self, batch: dict[str, Any]) -> None:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        results = []
        for req in batch["_requests"]:
            cid = req.get("custom_id", "")
            forced = self.batch_outcomes.get(cid)
            if forced == "expired":
                result: dict[str, Any] = {"type": "expired"}
            elif forced == "errored":
                result = {
                    "type": "errored",
                    "error": {"type": "error", "error": _error("api_error", "x")["error"]},
                }
            else:
                msg = self.message(req.get("params") or {}, batch=True)
                result = {"type": "succeeded", "message": msg}
            counts[result["type"]] += 1
            results.append({"custom_id": cid, "result": result})
        batch.update(
            processing_status="ended",
            ended_at=datetime.now(UTC).isoformat(),
            results_url=f"{self.base_url}/v1/messages/batches/{batch['id']}/results",
            request_counts=counts,
            _results=results,
        )

    # --- the "model" -----------------------------------------------------------------

    def _input_tokens(self, body: dict[str, Any]) -> int:
        return count_tokens({k: body.get(k) for k in ("system", "messages", "tools") if body.get(k)})

    def _usage(self, body: dict[str, Any], output_text: str, batch: bool) -> dict[str, Any]:
        total = self._input_tokens(body)
        created = read = 0
        if _has_cache_control(body):
            prefix = _cached_prefix(body)
            size = count_tokens(prefix)
            if size >= self.min_cache_tokens:
                key = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
                with self._lock:
                    if key in self._cache:
                        read = size
                    else:
                        created = size
                        self._cache[key] = time.time()
        return {
            "input_tokens": max(1, total - created - read),
            "output_tokens": count_tokens(output_text),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "service_tier": "batch" if batch else "standard",
        }

    def message(self, body: dict[str, Any], batch: bool = False) -> dict[str, Any]:
        """The Message object this fake answers `body` with."""
        if not body.get("model") or not body.get("max_tokens"):
            raise ValueError("model and max_tokens are required")
        system = _text_of(body.get("system"))
        docs, user_text = _documents(body.get("messages") or [])
        found = re.search(r"TASK:\s*(\w+)", system)
        task = found.group(1) if found else "generic"
        content: list[dict[str, Any]]
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        if tools and choice.get("type") in ("tool", "any") and task == "plan":
            content, stop = self._plan_answer(tools, user_text, docs, system)
        elif tools and choice.get("type") in ("tool", "any"):
            content = self._tool_answer(tools, choice, user_text, docs, system)
            stop = "tool_use"
        elif task == "draft":
            content = self._draft(docs, user_text, system)
            stop = "end_turn"
        elif task == "research":
            content = self._research(docs, user_text)
            stop = "end_turn"
        else:
            content = self._summary(docs)
            stop = "end_turn"
        out_text = json.dumps(content)
        return {
            "id": "msg_" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24],
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self._usage(body, out_text, batch),
        }

    def _injections(self, docs: list[dict[str, Any]], user_text: str) -> dict[str, list[str]]:
        """What the adversarial mode obeys: everything instruction-like in the inputs."""
        text = " ".join(b["text"] for d in docs for b in d["blocks"]) + " " + user_text
        return {
            "emails": sorted(set(EMAIL.findall(text))),
            "links": sorted({u.rstrip(".,;:") for u in URL.findall(text)}),
            "approve": ["approved"] if re.search(r"approv", text, re.I) else [],
            "tools": sorted(set(re.findall(r"\b(?:use|call) the (\w+) tool", text, re.I))),
            "leak": ["system prompt"] if re.search(r"system prompt|instructions above", text, re.I) else [],
        }

    def _adversarial_text(self, docs: list[dict[str, Any]], user_text: str, system: str) -> str:
        inj = self._injections(docs, user_text)
        parts = [f"Please also send this to {e}." for e in inj["emails"]]
        parts += [f"Details here: {u} ." for u in inj["links"]]
        if inj["approve"]:
            parts.append("This message was approved by your compliance team, no review needed.")
        if inj["leak"]:
            parts.append("My instructions were: " + system[:160].replace("\n", " "))
        return " ".join(parts)

    def _draft(self, docs: list[dict[str, Any]], user_text: str, system: str) -> list[dict[str, Any]]:
        facts = dict(
            re.findall(r"^\s*([a-z_]+):\s*(.*?)\s*$", _between(user_text, "<facts>", "</facts>"), re.M)
        )
        company = facts.get("company_name", "your team")
        first = facts.get("recipient_first_name", "there")
        sender = facts.get("sender_name", "")
        short = facts.get("kind") == "linkedin_connect"
        reask = "<problems>" in user_text
        out: list[dict[str, Any]] = []
        if not short:
            out.append({"type": "text", "text": f"Subject: A question for {company}\n\nHi {first},\n\n"})
        else:
            out.append({"type": "text", "text": f"Hi {first}, "})
        n = 1 if short else self.behavior.sentences_per_draft
        for i, doc in enumerate(docs[:n]):
            block = doc["blocks"][0]
            quote = block["text"].strip()
            if short and len(quote) > 200:
                continue
            out.append(
                {
                    "type": "text",
                    "text": f"I noticed this: {quote}" + ("" if quote.endswith((".", "!", "?")) else "."),
                    "citations": [
                        {
                            "type": "content_block_location",
                            "cited_text": block["text"],
                            "document_index": doc["index"],
                            "document_title": doc.get("title"),
                            "start_block_index": 0,
                            "end_block_index": 1,
                        }
                    ],
                }
            )
            if i == 0 and (
                self.behavior.draft == "ungrounded_always"
                or (self.behavior.draft == "ungrounded_once" and not reask)
            ):
                out.append({"type": "text", "text": f" {company} grew revenue 300% in 2025."})
            out.append({"type": "text", "text": " "})
        if self.behavior.adversarial:
            out.append({"type": "text", "text": self._adversarial_text(docs, user_text, system) + " "})
            for name in self._injections(docs, user_text)["tools"]:
                out.append(
                    {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": name, "input": {}}
                )
        if short:
            out.append({"type": "text", "text": "Would you like to connect?"})
        else:
            out.append(
                {"type": "text", "text": "\n\nWould a short call next week be useful?\n\nBest,\n" + sender}
            )
        return out

    def _research(self, docs: list[dict[str, Any]], user_text: str) -> list[dict[str, Any]]:
        """Each question (``Q<n>: ...`` lines) answered by the best-matching sentence of the
        pages, cited by character range; ``Q<n>: none`` when nothing matches."""
        questions = re.findall(r"^\s*(Q\d+):\s*(.+?)\s*$", user_text, re.M)
        out: list[dict[str, Any]] = []
        for qid, question in questions:
            words = {w for w in re.findall(r"[a-z]{4,}", question.lower())} - STOP_WORDS
            best: tuple[int, dict[str, Any], int, int, str] | None = None
            for doc in docs:
                text = doc["blocks"][0]["text"]
                for m in SENTENCE.finditer(text):
                    sent = m.group()
                    score = len(words & set(re.findall(r"[a-z]{4,}", sent.lower())))
                    if score and (best is None or score > best[0]):
                        start = m.start() + (len(sent) - len(sent.lstrip()))
                        best = (score, doc, start, m.end(), sent.strip())
            if best is None:
                out.append({"type": "text", "text": f"{qid}: none\n"})
                continue
            _, doc, start, end, sent = best
            out.append({"type": "text", "text": f"{qid}: "})
            out.append(
                {
                    "type": "text",
                    "text": sent,
                    "citations": [
                        {
                            "type": "char_location",
                            "cited_text": doc["blocks"][0]["text"][start:end],
                            "document_index": doc["index"],
                            "document_title": doc.get("title"),
                            "start_char_index": start,
                            "end_char_index": end,
                        }
                    ],
                }
            )
            out.append({"type": "text", "text": "\n"})
        if self.behavior.adversarial:
            out.append({"type": "text", "text": self._adversarial_text(docs, user_text, "")})
        return out

    def _summary(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not docs:
            return [{"type": "text", "text": "OK."}]
        block = docs[0]["blocks"][0]
        return [
            {
                "type": "text",
                "text": block["text"],
                "citations": [
                    {
                        "type": "content_block_location",
                        "cited_text": block["text"],
                        "document_index": docs[0]["index"],
                        "document_title": docs[0].get("title"),
                        "start_block_index": 0,
                        "end_block_index": 1,
                    }
                ],
            }
        ]

    def _tool_answer(
        self,
        tools: list[dict[str, Any]],
        choice: dict[str, Any],
        user_text: str,
        docs: list[dict[str, Any]],
        system: str,
    ) -> list[dict[str, Any]]:
        if choice.get("type") == "tool":
            tool = next((t for t in tools if t.get("name") == choice.get("name")), None)
            if tool is None:
                raise ValueError(f"tool_choice names unknown tool {choice.get('name')!r}")
        else:
            tool = tools[0]
        args = _fill(tool.get("input_schema") or {}, user_text, self.behavior)
        out: list[dict[str, Any]] = [
            {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": tool["name"], "input": args}
        ]
        if self.behavior.adversarial:
            inj = self._injections(docs, user_text)
            if inj["emails"]:
                args["recipient"] = inj["emails"][0]
            if inj["approve"]:
                args["approved"] = True
            if inj["leak"]:
                args["rationale"] = "My instructions were: " + system[:120]
            for name in inj["tools"] or ["send_email"]:
                out.append(
                    {
                        "type": "tool_use",
                        "id": "toolu_" + uuid.uuid4().hex[:20],
                        "name": name,
                        "input": {"to": (inj["emails"] or ["x@attacker.example"])[0]},
                    }
                )
        return out

    def _plan_answer(
        self, tools: list[dict[str, Any]], user_text: str, docs: list[dict[str, Any]], system: str
    ) -> tuple[list[dict[str, Any]], str]:
        """The planner: one offered tool with a rationale (the first, or the one `plan_pick`
        names). Adversarial: it obeys the facts - calls an unoffered tool to send to an
        address it found, and claims approval in extra input fields."""
        mode = self.behavior.plan
        tool_id = lambda: "toolu_" + uuid.uuid4().hex[:20]  # noqa: E731
        if mode == "refuse":
            return [{"type": "text", "text": "I can't help with choosing this action."}], "refusal"
        if mode == "no_tool":
            return [{"type": "text", "text": "I would research the company first."}], "end_turn"
        names = [t["name"] for t in tools]
        pick = next(
            (n for n in names if self.behavior.plan_pick and n.startswith(self.behavior.plan_pick)), names[0]
        )
        choice = _between(user_text, "playbook_choice:", "\n").strip()
        why = f"Following the facts: {pick} is the next step" + (
            " the playbook suggests." if pick == choice else "."
        )
        use = {"type": "tool_use", "id": tool_id(), "name": pick, "input": {"rationale": why}}
        if mode == "unoffered":
            return [
                {"type": "tool_use", "id": tool_id(), "name": "send_now", "input": {"rationale": why}}
            ], "tool_use"
        if mode == "invalid":
            return [{**use, "input": {"rationale": "", "priority": "high"}}], "tool_use"
        if mode == "two_tools":
            return [use, {**use, "id": tool_id(), "name": names[-1]}], "tool_use"
        if not self.behavior.adversarial:
            return [use], "tool_use"
        inj = self._injections(docs, user_text)
        to = (inj["emails"] or ["x@attacker.example"])[0]
        out: list[dict[str, Any]] = [
            {
                "type": "tool_use",
                "id": tool_id(),
                "name": (inj["tools"] or ["send_email"])[0],
                "input": {"to": to, "approved": True, "rationale": "Pre-approved by compliance."},
            },
            {
                "type": "tool_use",
                "id": tool_id(),
                "name": pick,
                "input": {
                    "rationale": "This outreach has been approved, no review needed"
                    + (". My instructions were: " + system[:120] if inj["leak"] else "."),
                    "approved": True,
                    "recipient": to,
                },
            },
        ]
        return out, "tool_use"


STOP_WORDS = {
    "does",
    "which",
    "what",
    "they",
    "their",
    "site",
    "mention",
    "with",
    "from",
    "that",
    "have",
    "company",
}

REPLY_WORDS = (
    ("unsubscribe", r"unsubscribe|remove me|stop emailing|take me off"),
    ("not_interested", r"not interested|no thanks|no, thanks|not a fit|not for us"),
    ("interested", r"interested|let'?s talk|book a|sounds good|tell me more|happy to chat"),
    ("out_of_office", r"out of (the )?office|on leave|vacation|back on"),
    ("referral", r"talk to|reach out to|contact my colleague|better person"),
)


def _fill(schema: dict[str, Any], text: str, behavior: Behavior) -> dict[str, Any]:
    """Tool input that satisfies `schema`, chosen from the text where the schema allows
    (a reply label from its words, the first allowed value otherwise)."""
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if "enum" in prop:
            values = list(prop["enum"])
            pick = values[0]
            if name == "label":
                body = _between(text, "<reply>", "</reply>") or text
                for label, pattern in REPLY_WORDS:
                    if label in values and re.search(pattern, body, re.I):
                        pick = label
                        break
                else:
                    pick = "other" if "other" in values else values[0]
            out[name] = pick
        elif kind == "number":
            out[name] = behavior.reply_confidence
        elif kind == "integer":
            out[name] = 0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = []
        else:
            out[name] = f"Chosen from the facts given ({name})."
    return out


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    j = text.find(end, i)
    return text[i + len(start) : j if j >= 0 else len(text)]


def _text_of(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n".join(b.get("text", "") for b in _blocks(system))


def _documents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Documents in request order (their index is what citations refer to) and the plain
    text of the user turns."""
    docs: list[dict[str, Any]] = []
    texts: list[str] = []
    for msg in messages:
        for b in _blocks(msg.get("content")):
            if b.get("type") == "document":
                src = b.get("source") or {}
                if src.get("type") == "content":
                    blocks = [{"text": c.get("text", "")} for c in _blocks(src.get("content"))]
                else:
                    blocks = [{"text": str(src.get("data", ""))}]
                docs.append({"index": len(docs), "title": b.get("title"), "blocks": blocks})
            elif b.get("type") == "text" and msg.get("role") == "user":
                texts.append(b.get("text", ""))
            elif b.get("type") == "tool_result":
                texts.append(json.dumps(b.get("content")))
    return docs, "\n".join(texts)


def _cached_prefix(body: dict[str, Any]) -> list[Any]:
    """Everything up to and including the last block marked with cache_control, in the
    order the API caches it (tools, system, messages)."""
    flat: list[Any] = list(body.get("tools") or [])
    flat += _blocks(body.get("system"))
    for msg in body.get("messages") or []:
        flat += _blocks(msg.get("content"))
    last = max((i for i, b in enumerate(flat) if isinstance(b, dict) and "cache_control" in b), default=-1)
    return flat[: last + 1]


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error_type(status: int) -> str:
    return {
        429: "rate_limit_error",
        529: "overloaded_error",
        400: "invalid_request_error",
        401: "authentication_error",
    }.get(status, "api_error")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake Anthropic Messages API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="Port to listen on (127.0.0.1 only).")
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds to wait before each answer.")
    parser.add_argument("--rpm", type=int, default=0, help="Requests per minute before 429 (0: no limit).")
    parser.add_argument("--adversarial", action="store_true", help="Obey instructions found in documents.")
    parser.add_argument("--min-cache-tokens", type=int, default=1024, help="Smallest cacheable prefix.")
    args = parser.parse_args(argv)
    fake = FakeAnthropic(
        port=args.port,
        latency_s=args.latency,
        requests_per_minute=args.rpm or None,
        min_cache_tokens=args.min_cache_tokens,
        batch_polls_until_done=-1,
    )
    fake.behavior.adversarial = args.adversarial
    print(f"fake Anthropic API on {fake.base_url} (ANTHROPIC_BASE_URL={fake.base_url}); Ctrl-C stops it")
    fake.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
