"""An enrichment provider described entirely by `[[enrichment.providers]]` config: a URL
template, the key from an env var (in a header or a query parameter), a mapping from the
JSON response to fields, what counts as a hit and what a call and a hit cost. The client is
injected; the key never appears in errors or records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from core.errors import InvalidInput, NotFound, ProviderConfigError, QuotaExceeded, Transient
from core.spend_config import EnrichmentProviderConfig
from tools.enrichment.providers import Person, ProviderAnswer


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.person.email``; list indexes allowed), or None."""
    cur = data
    for part in path.split(".") if path else []:
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


class HttpProvider:
    def __init__(self, cfg: EnrichmentProviderConfig, client: httpx.Client, env: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.fields = cfg.fields
        self.client = client
        self._key = env.get(cfg.key_env, "") if cfg.key_env else ""
        if cfg.key_env and not self._key:
            raise ProviderConfigError(
                f"env var {cfg.key_env} is not set",
                provider=self.name,
                next_step=f"Set {cfg.key_env} and run again.",
            )

    def estimate(self, hit_rate: float) -> float:
        return self.cfg.cost_per_call + self.cfg.cost_per_hit * hit_rate

    def _request(self, person: Person) -> tuple[str, dict[str, str], dict[str, str]]:
        values = {k: quote(v, safe="") for k, v in person.template_values().items()}
        try:
            url = self.cfg.url.format(**values)
        except (KeyError, IndexError) as exc:
            raise InvalidInput(f"url template names unknown field {exc}", provider=self.name) from exc
        headers: dict[str, str] = {"Accept": "application/json"}
        params: dict[str, str] = {}
        if self._key and self.cfg.auth_header:
            name, _, value = self.cfg.auth_header.partition(":")
            headers[name.strip()] = value.strip().format(key=self._key) if value else self._key
        if self._key and self.cfg.auth_query:
            params[self.cfg.auth_query] = self._key
        return url, headers, params

    def lookup(self, person: Person) -> ProviderAnswer:
        needed = [
            f
            for f, v in (
                ("first_name", person.first_name),
                ("last_name", person.last_name),
                ("domain", person.domain),
            )
            if not v and "{" + f + "}" in self.cfg.url
        ]
        if needed:
            raise InvalidInput(
                f"missing {', '.join(needed)}",
                provider=self.name,
                next_step=f"Fill in {', '.join(needed)} on the prospect.",
            )
        url, headers, params = self._request(person)
        try:
            r = self.client.get(
                httpx.URL(url).copy_merge_params(params), headers=headers, timeout=self.cfg.timeout_seconds
            )
        except httpx.TimeoutException as exc:
            raise Transient("timed out", provider=self.name) from exc
        except httpx.TransportError as exc:
            raise Transient(f"could not connect ({type(exc).__name__})", provider=self.name) from exc
        self._raise_for(r)
        try:
            body = r.json()
        except ValueError as exc:
            raise Transient(
                f"answered {r.status_code} with malformed JSON", provider=self.name, status=r.status_code
            ) from exc
        values = {
            f: v for f in self.fields if (v := dig(body, self.cfg.mapping.get(f, f))) not in (None, "", [])
        }
        verified_flag = dig(body, self.cfg.verified_path) if self.cfg.verified_path else None
        verified = {f: (bool(verified_flag) if self.cfg.verified_path else True) for f in values}
        if self.cfg.hit == "verified":
            values = {f: v for f, v in values.items() if verified[f]}
        hit = bool(values)
        return ProviderAnswer(
            values,
            {f: verified[f] for f in values},
            self.cfg.cost_per_call + (self.cfg.cost_per_hit if hit else 0.0),
        )

    def _raise_for(self, r: httpx.Response) -> None:
        code = r.status_code
        if code < 400:
            return
        if code == 404:
            raise NotFound("no match", provider=self.name, status=code)
        if code in (401, 403):
            raise ProviderConfigError(f"rejected the credentials ({code})", provider=self.name, status=code)
        if code == 402:
            raise QuotaExceeded("out of credits (402)", provider=self.name, status=code)
        if code == 429 or code >= 500:
            ra = r.headers.get("retry-after", "").strip()
            raise Transient(
                f"answered {code}",
                provider=self.name,
                status=code,
                retry_after=float(ra) if ra.replace(".", "", 1).isdigit() else None,
            )
        detail = ""
        try:
            body = r.json()
            detail = str(body.get("field") or body.get("error") or "")[:120] if isinstance(body, dict) else ""
        except ValueError:
            pass
        err = InvalidInput(
            f"rejected the request ({code}){': ' + detail if detail else ''}", provider=self.name, status=code
        )
        err.field = detail  # type: ignore[attr-defined]
        raise err
