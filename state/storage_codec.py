"""How decision bodies and observations are kept small on disk.

Observations: raw DEFLATE of the canonical JSON, with a preset dictionary per workspace
(`observation_dicts`). The digest (and so the hash chain) is over the canonical text,
never over the compressed bytes, so compression changes nothing `audit verify` or
`replay` check.

Decision bodies (records appended from format 2 on, marked `"fmt": 2`): the verdicts that
allowed are kept as their rule ids in `allowed` (their outcome is "allow" and their reason
text is the rule's explanation, recomputed by `replay` from the observation); verdicts that
did not allow are kept whole in `verdicts`. The same holds for the verdicts inside
`planner_input.denials`. `expand_body` gives the reader the long form back, with each
allowed rule as `{"rule", "outcome": "allow", "reason": ""}` (allowed rules first).
Bodies without `fmt` are left as they are.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

FORMAT = 2
DICT_SAMPLE = 40  # observations a dictionary is built from
DICT_MIN_PROSPECTS = 5  # a value enters the dictionary only if this many prospects share it
DICT_MAX = 32 * 1024  # DEFLATE's window: a longer dictionary is not used


class CodecError(ValueError):
    """Stored bytes that cannot be read back (unknown codec, missing dictionary, corrupt)."""


# ----------------------------------------------------------------- observations


def pack(text: str, dictionary: bytes | None) -> bytes:
    co = (
        zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
        if dictionary
        else zlib.compressobj(9, zlib.DEFLATED, -15)
    )
    return co.compress(text.encode("utf-8")) + co.flush()


def unpack(data: bytes, dictionary: bytes | None) -> str:
    try:
        do = zlib.decompressobj(-15, dictionary) if dictionary else zlib.decompressobj(-15)
        out = do.decompress(data) + do.flush()
    except zlib.error as exc:
        raise CodecError(f"compressed observation cannot be read: {exc}") from None
    if not do.eof:
        raise CodecError("compressed observation is truncated")
    return out.decode("utf-8")


def _leaves(value: Any, out: set[str]) -> None:
    if isinstance(value, Mapping):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    else:
        out.add(json.dumps(value))


def _skeleton(value: Any, common: set[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _skeleton(v, common) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(v, common) for v in value]
    if isinstance(value, bool) or value is None or json.dumps(value) in common:
        return value
    return "" if isinstance(value, str) else 0


def build_dictionary(observations: Iterable[Mapping[str, Any]]) -> bytes:
    """A preset dictionary from sample observations: their structure (keys, nesting) with
    only the values that at least DICT_MIN_PROSPECTS different prospects share (a mode, a
    country, a step id, a shared company); every other value is blanked, so no single
    prospect's name, address or text ends up in it."""
    sample = list(observations)
    per_prospect: dict[str, set[str]] = {}
    for i, obs in enumerate(sample):
        key = str(((obs.get("prospect") or {}).get("id")) or f"#{i}")
        _leaves(obs, per_prospect.setdefault(key, set()))
    counts: Counter[str] = Counter()
    for values in per_prospect.values():
        counts.update(values)
    common = {v for v, n in counts.items() if n >= DICT_MIN_PROSPECTS}
    parts = [
        json.dumps(_skeleton(o, common), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for o in sample[-8:]
    ]
    # DEFLATE matches best against the end of the dictionary: the newest sample goes last.
    return "".join(parts).encode("utf-8")[-DICT_MAX:]


# ----------------------------------------------------------------- decision bodies


def _split(verdicts: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    allowed, kept = [], []
    for v in verdicts:
        if v.get("outcome") == "allow" and set(v) <= {"rule", "outcome", "reason"}:
            allowed.append(str(v["rule"]))
        else:
            kept.append(dict(v))
    return allowed, kept


def compact_body(body: dict[str, Any]) -> dict[str, Any]:
    """The stored (format 2) form of a body about to be appended."""
    out = dict(body)
    out["fmt"] = FORMAT
    if "verdicts" in out:
        out["allowed"], out["verdicts"] = _split(out["verdicts"] or [])
    pin = out.get("planner_input")
    if isinstance(pin, Mapping) and pin.get("denials"):
        denials = []
        for d in pin["denials"]:
            d = dict(d)
            dec = d.get("decision")
            if isinstance(dec, Mapping) and "verdicts" in dec:
                allowed, kept = _split(dec["verdicts"] or [])
                d["decision"] = {**dec, "allowed": allowed, "verdicts": kept}
            denials.append(d)
        out["planner_input"] = {**pin, "denials": denials}
    return out


def _join(allowed: list[str], kept: list[Any]) -> list[Any]:
    return [{"rule": r, "outcome": "allow", "reason": ""} for r in allowed] + list(kept)


def expand_body(body: dict[str, Any]) -> dict[str, Any]:
    """The long form of a stored body (in place; returned for convenience)."""
    if body.get("fmt") != FORMAT:
        return body
    if "allowed" in body:
        body["verdicts"] = _join(body.pop("allowed"), body.get("verdicts") or [])
    pin = body.get("planner_input")
    if isinstance(pin, dict):
        for d in pin.get("denials") or []:
            dec = d.get("decision") if isinstance(d, dict) else None
            if isinstance(dec, dict) and "allowed" in dec:
                dec["verdicts"] = _join(dec.pop("allowed"), dec.get("verdicts") or [])
    return body
