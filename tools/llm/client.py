"""The one LLM client: the anthropic SDK (injected, never built at import time) with the
model per task from `[llm]`, the shared prompt prefix cached, a rate limiter, bounded
retries on 429/529/5xx only, failures classified with `core.errors`, dollars from the usage
fields written to the cost ledger, and every request and response recorded by digest.

A request whose digest is already recorded in this workspace is answered from the record:
replay needs no network and re-running a step does not pay twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
from anthropic.types import Message
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.canonical import digest as canonical_digest
from core.errors import (
    InvalidInput,
    NotFound,
    ProviderConfigError,
    ProviderError,
    QuotaExceeded,
    Transient,
)
from core.workspace import LlmConfig, WorkspaceConfig
from state.db import session_scope
from state.ledger import record_cost
from state.models_llm import LlmBatchItem, LlmCall
from tools.llm.costs import price_for, usage_usd
from tools.llm.limiter import RateLimiter
from tools.llm.prompts import Prompt, load_text

PROVIDER = "anthropic"
SECRET_KEYS = frozenset({"api_key", "x-api-key", "authorization", "anthropic-api-key"})


@dataclass(frozen=True)
class CallScope:
    """Who a call is for: recorded with it and with its cost."""

    at: datetime
    run_id: str = ""
    prospect_id: str = ""


@dataclass(frozen=True)
class LlmResult:
    message: Message
    digest: str
    task: str
    model: str
    prompt_version: str
    usage: dict[str, int]
    usd: float
    replayed: bool  # answered from the record: no network, no cost

    def cost(self) -> dict[str, float]:
        """The decision record's cost field for this call (0 when replayed)."""
        if self.replayed:
            return {"tokens": 0, "usd": 0.0, "llm_usd": 0.0}
        tokens = sum(int(self.usage.get(k) or 0) for k in TOKEN_FIELDS)
        return {"tokens": tokens, "usd": self.usd, "llm_usd": self.usd}


@dataclass(frozen=True)
class BatchRequest:
    """One call to put in a Message Batch."""

    task: str
    prompt: Prompt
    messages: Sequence[Mapping[str, Any]]
    scope: CallScope
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: Mapping[str, Any] | None = None


TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def redact(value: Any) -> Any:
    """A copy of `value` without secrets (keys named like credentials, key-shaped strings)."""
    if isinstance(value, Mapping):
        return {k: ("[redacted]" if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and value.startswith(("sk-ant-", "sk-")) and " " not in value:
        return "[redacted]"
    return value


def shared_prefix(cfg: WorkspaceConfig) -> str:
    """The text every prompt of a workspace starts with: evidence rules, client, ICP, offer
    and house style. It is the cached part of each request."""
    icp = cfg.icp
    lines = [
        load_text("shared"),
        "",
        f"Client: {cfg.client.name}. Sender: {cfg.sender.name}, {cfg.sender.company}.",
        "Ideal customer profile: "
        + "; ".join(
            p
            for p in (
                f"industries {', '.join(icp.industries)}" if icp.industries else "",
                f"countries {', '.join(icp.countries)}" if icp.countries else "",
                f"titles {', '.join(icp.titles)}" if icp.titles else "",
                f"from {icp.min_employees} employees" if icp.min_employees else "",
                f"up to {icp.max_employees} employees" if icp.max_employees else "",
            )
            if p
        ),
    ]
    if cfg.llm.offer:
        lines += ["", "What the client offers:", cfg.llm.offer.strip()]
    if cfg.llm.house_style:
        lines += ["", "House style:", cfg.llm.house_style.strip()]
    return "\n".join(lines)


def classify(exc: Exception) -> ProviderError:
    """The project's error class for an SDK failure."""
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        retry_after = _retry_after(exc.response.headers) if exc.response is not None else None
        msg = f"HTTP {status}: {_api_message(exc)}"
        if status == 429 or status == 529 or status >= 500:
            return Transient(msg, provider=PROVIDER, status=status, retry_after=retry_after)
        if status in (401, 403):
            return ProviderConfigError(msg, provider=PROVIDER, status=status)
        if status == 404:
            return NotFound(
                msg, provider=PROVIDER, status=status, next_step="Check [llm] models in workspace.toml."
            )
        if "credit balance" in msg.lower() or status == 402:
            return QuotaExceeded(msg, provider=PROVIDER, status=status)
        return InvalidInput(msg, provider=PROVIDER, status=status)
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        return Transient(f"{type(exc).__name__}: {exc}", provider=PROVIDER)
    return InvalidInput(f"{type(exc).__name__}: {exc}", provider=PROVIDER)


def _api_message(exc: anthropic.APIStatusError) -> str:
    body: Mapping[str, Any] = exc.body if isinstance(exc.body, Mapping) else {}
    inner = body.get("error")
    err: Mapping[str, Any] = inner if isinstance(inner, Mapping) else {}
    return str(err.get("message") or exc.message)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class LlmClient:
    """Built once per process by `agents.context.build_context` from `[llm]`."""

    def __init__(
        self,
        *,
        sdk: anthropic.Anthropic,
        config: WorkspaceConfig,
        engine: Engine | None,
        workspace: str,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sdk = sdk
        self.cfg: LlmConfig = config.llm
        self.prefix = shared_prefix(config)
        self.engine = engine
        self.workspace = workspace
        self.sleep = sleep
        self.limiter = limiter or RateLimiter(
            requests_per_minute=self.cfg.requests_per_minute,
            input_tokens_per_minute=self.cfg.input_tokens_per_minute,
            output_tokens_per_minute=self.cfg.output_tokens_per_minute,
            sleep=sleep,
        )
        self._slots = threading.BoundedSemaphore(self.cfg.max_concurrency)
        self.network_calls = 0

    def model_for(self, task: str) -> str:
        return self.cfg.models[task]

    def system(self, prompt: Prompt, *, ttl: str) -> list[dict[str, Any]]:
        """The system blocks: shared prefix and task prompt, cached as one prefix."""
        block: dict[str, Any] = {"type": "text", "text": f"{self.prefix}\n\n{prompt.text}"}
        if self.cfg.prompt_cache:
            block["cache_control"] = {"type": "ephemeral", **({"ttl": "1h"} if ttl == "1h" else {})}
        return [block]

    def params(
        self,
        task: str,
        prompt: Prompt,
        *,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Mapping[str, Any] | None = None,
        batch: bool = False,
    ) -> dict[str, Any]:
        """The Messages API parameters for one call (also the body of a batch request)."""
        ttl = self.cfg.batch_cache_ttl if batch else self.cfg.cache_ttl
        params: dict[str, Any] = {
            "model": self.model_for(task),
            "max_tokens": self.cfg.max_tokens.get(task, 1024),
            "system": self.system(prompt, ttl=ttl),
            "messages": [dict(m) for m in messages],
        }
        if tools:
            params["tools"] = [dict(t) for t in tools]
        if tool_choice:
            params["tool_choice"] = dict(tool_choice)
        return params

    def digest(self, task: str, prompt: Prompt, params: Mapping[str, Any]) -> str:
        return canonical_digest({"task": task, "prompt": prompt.version, "params": redact(params)})

    def create(
        self,
        task: str,
        prompt: Prompt,
        *,
        messages: Sequence[Mapping[str, Any]],
        scope: CallScope,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> LlmResult:
        """One synchronous call (or its recorded answer). Raises a classified ProviderError.
        With `session`, the call is recorded in that (caller's) transaction."""
        params = self.params(task, prompt, messages=messages, tools=tools, tool_choice=tool_choice)
        key = self.digest(task, prompt, params)
        recorded = self.recorded(key, session=session)
        if recorded is not None:
            return recorded
        message, usage = self._call(params)
        return self.record(task, prompt, params, key, message, usage, scope, batch=False, session=session)

    def run_batch(
        self, items: Sequence[BatchRequest], *, poll_s: float = 30.0, max_polls: int = 2880
    ) -> list[LlmResult | ProviderError]:
        """Many calls through the Message Batches API (half price; 1-hour cache TTL), in the
        order given. Already-recorded requests are answered from the record; requests an
        earlier (crashed) process already submitted are collected from their batch instead
        of being paid again; errored, expired or canceled results fall back to a synchronous
        call, whose failure is returned (classified) for that item."""
        prepared = []
        for it in items:
            params = self.params(
                it.task,
                it.prompt,
                messages=it.messages,
                tools=it.tools,
                tool_choice=it.tool_choice,
                batch=True,
            )
            prepared.append((it, params, self.digest(it.task, it.prompt, params)))
        out: dict[str, LlmResult | ProviderError] = {}
        todo = []
        for it, params, key in prepared:
            done = self.recorded(key)
            if done is not None:
                out[key] = done
            else:
                todo.append((it, params, key))
        waiting = self._waiting_batches([k for _, _, k in todo])
        fresh = [(it, p, k) for it, p, k in todo if k not in waiting]
        if fresh:
            try:
                batch = self.sdk.messages.batches.create(
                    requests=[{"custom_id": k[:64], "params": p} for _, p, k in fresh]  # type: ignore[typeddict-item]
                )
            except anthropic.APIError as exc:
                raise classify(exc) from exc
            self._remember_batch(batch.id, fresh, fresh[0][0].scope.at)
            waiting.update({k: batch.id for _, _, k in fresh})
        by_custom = {k[:64]: (it, p, k) for it, p, k in todo}
        unfinished: set[str] = set()
        for batch_id in sorted(set(waiting.values())):
            collected = self._collect(batch_id, poll_s, max_polls)
            if collected is None:  # still running: its items stay waiting (crash-safe)
                unfinished |= {k for k, b in waiting.items() if b == batch_id}
                continue
            for custom_id, kind, message in collected:
                if custom_id not in by_custom:
                    continue
                it, params, key = by_custom[custom_id]
                self._mark_batch_item(key, kind)
                if kind == "succeeded" and message is not None:
                    usage = {k: int(getattr(message.usage, k, 0) or 0) for k in TOKEN_FIELDS}
                    out[key] = self.record(
                        it.task, it.prompt, params, key, message, usage, it.scope, batch=True
                    )
        for it, _params, key in todo:
            if key in out:
                continue
            if key in unfinished:
                out[key] = Transient(
                    f"batch {waiting[key]} has not ended; its requests wait",
                    provider=PROVIDER,
                    next_step="Run again later: waiting results are collected, never paid twice.",
                )
                continue
            try:  # errored, expired, canceled or missing: one synchronous call
                out[key] = self.create(
                    it.task,
                    it.prompt,
                    messages=it.messages,
                    scope=it.scope,
                    tools=it.tools,
                    tool_choice=it.tool_choice,
                )
            except ProviderError as exc:
                out[key] = exc
        return [out[key] for _, _, key in prepared]

    def _collect(
        self, batch_id: str, poll_s: float, max_polls: int
    ) -> list[tuple[str, str, Message | None]] | None:
        try:
            for _ in range(max_polls):
                if self.sdk.messages.batches.retrieve(batch_id).processing_status == "ended":
                    break
                self.sleep(poll_s)
            else:
                return None
            rows: list[tuple[str, str, Message | None]] = []
            for r in self.sdk.messages.batches.results(batch_id):
                message = getattr(r.result, "message", None) if r.result.type == "succeeded" else None
                rows.append((r.custom_id, r.result.type, message))
            return rows
        except anthropic.APIError as exc:
            raise classify(exc) from exc

    def _waiting_batches(self, keys: Sequence[str]) -> dict[str, str]:
        if self.engine is None or not keys:
            return {}
        with Session(self.engine) as session:
            rows = session.exec(
                select(LlmBatchItem).where(
                    LlmBatchItem.workspace == self.workspace,
                    LlmBatchItem.digest.in_(list(keys)),  # type: ignore[attr-defined]
                    LlmBatchItem.status == "waiting",
                )
            ).all()
        return {r.digest: r.batch_id for r in rows}

    def _remember_batch(
        self, batch_id: str, fresh: Sequence[tuple[BatchRequest, dict[str, Any], str]], at: datetime
    ) -> None:
        if self.engine is None:
            return
        with session_scope(self.engine) as session:
            for it, params, key in fresh:
                old = session.exec(
                    select(LlmBatchItem).where(
                        LlmBatchItem.workspace == self.workspace, LlmBatchItem.digest == key
                    )
                ).first()
                if old is not None:
                    old.batch_id, old.status = batch_id, "waiting"
                    session.add(old)
                    continue
                session.add(
                    LlmBatchItem(
                        workspace=self.workspace,
                        digest=key,
                        batch_id=batch_id,
                        custom_id=key[:64],
                        task=it.task,
                        prospect_id=it.scope.prospect_id,
                        request=redact(params),
                        created_at=at,
                    )
                )

    def _mark_batch_item(self, key: str, status: str) -> None:
        if self.engine is None:
            return
        with session_scope(self.engine) as session:
            row = session.exec(
                select(LlmBatchItem).where(
                    LlmBatchItem.workspace == self.workspace, LlmBatchItem.digest == key
                )
            ).first()
            if row is not None:
                row.status = status
                session.add(row)

    # --- the Message Batches API, step by step (the daily run's batches, agents.batching) --

    def submit_batch(self, requests: Sequence[Mapping[str, Any]]) -> str:
        """Create one Message Batch from `{"custom_id", "params"}` requests; its id.
        Raises the classified error (see `classify`)."""
        try:
            batch = self.sdk.messages.batches.create(requests=[dict(r) for r in requests])  # type: ignore[misc]
        except anthropic.APIError as exc:
            raise classify(exc) from exc
        self.network_calls += 1
        return str(batch.id)

    def batch_status(self, batch_id: str) -> str:
        """`in_progress`, `canceling` or `ended`."""
        try:
            return str(self.sdk.messages.batches.retrieve(batch_id).processing_status)
        except anthropic.APIError as exc:
            raise classify(exc) from exc

    def batch_results(self, batch_id: str) -> list[tuple[str, str, Message | None, dict[str, Any]]]:
        """(custom_id, result type, message when succeeded, error when errored) per request."""
        try:
            rows: list[tuple[str, str, Message | None, dict[str, Any]]] = []
            for r in self.sdk.messages.batches.results(batch_id):
                message = getattr(r.result, "message", None) if r.result.type == "succeeded" else None
                error = getattr(r.result, "error", None) if r.result.type == "errored" else None
                rows.append(
                    (r.custom_id, r.result.type, message, error.model_dump(mode="json") if error else {})
                )
            return rows
        except anthropic.APIError as exc:
            raise classify(exc) from exc

    def recent_batches(self, since: datetime) -> list[tuple[str, datetime, int]]:
        """(id, created_at, number of requests) of the batches created at or after `since`
        (wall clock), newest first: how a submission whose outcome is unknown is found."""
        out: list[tuple[str, datetime, int]] = []
        try:
            for b in self.sdk.messages.batches.list(limit=100):
                if b.created_at < since:
                    break
                c = b.request_counts
                total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
                out.append((str(b.id), b.created_at, int(total)))
        except anthropic.APIError as exc:
            raise classify(exc) from exc
        return out

    def record_batch_result(
        self,
        *,
        task: str,
        prompt_version: str,
        params: Mapping[str, Any],
        key: str,
        message: Message,
        scope: CallScope,
    ) -> LlmResult:
        """Store one succeeded batch result under its request's digest, priced as batch
        work (the discount and the batch cache TTL), once."""
        usage = {k: int(getattr(message.usage, k, 0) or 0) for k in TOKEN_FIELDS}
        return self._record(task, prompt_version, params, key, message, usage, scope, batch=True)

    def recorded(self, key: str, session: Session | None = None) -> LlmResult | None:
        query = select(LlmCall).where(LlmCall.workspace == self.workspace, LlmCall.digest == key)
        if session is not None:
            row = session.exec(query).first()
        elif self.engine is None:
            return None
        else:
            with Session(self.engine) as own:
                row = own.exec(query).first()
        if row is None:
            return None
        return LlmResult(
            Message.model_validate(row.response),
            key,
            row.task,
            row.model,
            row.prompt_version,
            dict(row.usage),
            row.usd,
            replayed=True,
        )

    def _call(self, params: dict[str, Any]) -> tuple[Message, dict[str, int]]:
        est_in = len(json.dumps(params)) // 4
        attempt = 0
        while True:
            self.limiter.acquire(est_in, int(params["max_tokens"]))
            try:
                with self._slots:
                    self.network_calls += 1
                    raw = self.sdk.messages.with_raw_response.create(**params)
                self.limiter.observe(raw.headers)
                message = raw.parse()
                usage = {k: int(getattr(message.usage, k, 0) or 0) for k in TOKEN_FIELDS}
                return message, usage
            except anthropic.APIError as exc:
                err = classify(exc)
                if not isinstance(err, Transient) or attempt >= self.cfg.max_retries:
                    raise err from exc
                attempt += 1
                wait = err.retry_after if err.retry_after is not None else min(30.0, 0.5 * 2**attempt)
                if err.status == 429:
                    self.limiter.block_for(wait)
                else:
                    self.sleep(wait)

    def record(
        self,
        task: str,
        prompt: Prompt,
        params: Mapping[str, Any],
        key: str,
        message: Message,
        usage: Mapping[str, int],
        scope: CallScope,
        *,
        batch: bool,
        session: Session | None = None,
    ) -> LlmResult:
        """Store the call and its cost (once per digest) and return it; with `session`, in
        the caller's transaction."""
        return self._record(
            task, prompt.version, params, key, message, usage, scope, batch=batch, session=session
        )

    def _record(
        self,
        task: str,
        prompt_version: str,
        params: Mapping[str, Any],
        key: str,
        message: Message,
        usage: Mapping[str, int],
        scope: CallScope,
        *,
        batch: bool,
        session: Session | None = None,
    ) -> LlmResult:
        model = str(params["model"])
        ttl = self.cfg.batch_cache_ttl if batch else self.cfg.cache_ttl
        usd = usage_usd(price_for(self.cfg.prices, model), usage, ttl=ttl, batch=batch)
        result = LlmResult(message, key, task, model, prompt_version, dict(usage), usd, replayed=False)
        if session is not None:
            self._store(session, result, params, scope, batch)
            return result
        if self.engine is None:
            return result
        try:
            with session_scope(self.engine) as own:
                self._store(own, result, params, scope, batch)
        except IntegrityError:  # another worker recorded the same request first
            again = self.recorded(key)
            if again is not None:
                return again
            raise
        return result

    def _store(
        self, session: Session, r: LlmResult, params: Mapping[str, Any], scope: CallScope, batch: bool
    ) -> None:
        mode = "batch" if batch else "sync"
        session.add(
            LlmCall(
                workspace=self.workspace,
                digest=r.digest,
                task=r.task,
                model=r.model,
                prompt_version=r.prompt_version,
                mode=mode,
                run_id=scope.run_id,
                prospect_id=scope.prospect_id,
                request=redact(dict(params)),
                response=r.message.model_dump(mode="json"),
                usage=dict(r.usage),
                usd=r.usd,
                created_at=scope.at,
            )
        )
        record_cost(
            session,
            workspace=self.workspace,
            key=f"llm:{r.digest}",
            at=scope.at,
            kind="llm",
            provider=f"{PROVIDER}:{r.model}",
            usd=r.usd,
            llm_usd=r.usd,
            run_id=scope.run_id,
            prospect_id=scope.prospect_id,
            tokens_in=int(r.usage.get("input_tokens", 0)),
            tokens_out=int(r.usage.get("output_tokens", 0)),
            cache_read_tokens=int(r.usage.get("cache_read_input_tokens", 0)),
            cache_write_tokens=int(r.usage.get("cache_creation_input_tokens", 0)),
            detail={"task": r.task, "prompt_version": r.prompt_version, "mode": mode},
        )
        session.flush()


def build_client(
    config: WorkspaceConfig,
    *,
    engine: Engine | None,
    workspace: str,
    env: Mapping[str, str],
    http_client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LlmClient:
    """The client for a workspace: the key from `[llm] api_key_env`, the base URL from
    `[llm] base_url` or ANTHROPIC_BASE_URL; SDK retries off (this client retries)."""
    cfg = config.llm
    key = env.get(cfg.api_key_env, "")
    if not key:
        raise ProviderConfigError(
            f"no API key in ${cfg.api_key_env}",
            provider=PROVIDER,
            next_step=f"Export {cfg.api_key_env}, or set providers back to the offline defaults.",
        )
    kwargs: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": cfg.timeout_s}
    base = cfg.base_url or env.get("ANTHROPIC_BASE_URL", "")
    if base:
        kwargs["base_url"] = base
    if http_client is not None:
        kwargs["http_client"] = http_client
    return LlmClient(
        sdk=anthropic.Anthropic(**kwargs), config=config, engine=engine, workspace=workspace, sleep=sleep
    )
