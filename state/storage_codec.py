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

Storage format 3 (rows appended from migration `0012store` on): the compact body's canonical
JSON is stored compressed like an observation, raw DEFLATE in `decisions.packed` with the
workspace's preset *body* dictionary (`decision_dicts`, built by `build_body_dictionary`)
named by `decisions.codec`. The hash chain covers the canonical text, so `audit verify`
inflates and re-hashes; rows with an empty codec keep the plain text in `decisions.body`.
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
# Decision bodies: a workspace's body dictionary is (re)built when its chain reaches each of
# these lengths, from its newest BODY_DICT_SAMPLE bodies (two dictionaries per workspace).
BODY_DICT_AT = (40, 400)
BODY_DICT_SAMPLE = 200
BODY_DICT_PER_KIND = 2  # newest bodies of each (node, action) whose skeletons go in


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
        raise CodecError(f"compressed bytes cannot be read: {exc}") from None
    if not do.eof:
        raise CodecError("compressed bytes are truncated")
    if do.unused_data:
        raise CodecError("compressed bytes have data after their end")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"compressed bytes are not UTF-8 text: {exc}") from None


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


def _common_values(sample: list[Mapping[str, Any]], owner: Any) -> set[str]:
    per_prospect: dict[str, set[str]] = {}
    for i, item in enumerate(sample):
        _leaves(item, per_prospect.setdefault(str(owner(item) or f"#{i}"), set()))
    counts: Counter[str] = Counter()
    for values in per_prospect.values():
        counts.update(values)
    return {v for v, n in counts.items() if n >= DICT_MIN_PROSPECTS}


def build_dictionary(observations: Iterable[Mapping[str, Any]]) -> bytes:
    """A preset dictionary from sample observations: their structure (keys, nesting) with
    only the values that at least DICT_MIN_PROSPECTS different prospects share (a mode, a
    country, a step id, a shared company); every other value is blanked, so no single
    prospect's name, address or text ends up in it."""
    sample = list(observations)
    common = _common_values(sample, lambda o: (o.get("prospect") or {}).get("id"))
    parts = [
        json.dumps(_skeleton(o, common), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for o in sample[-8:]
    ]
    # DEFLATE matches best against the end of the dictionary: the newest sample goes last.
    return "".join(parts).encode("utf-8")[-DICT_MAX:]


# ----------------------------------------------------------------- decision bodies


def build_body_dictionary(bodies: Iterable[Mapping[str, Any]]) -> bytes:
    """A preset dictionary from sample stored (compact) bodies, oldest first: the skeletons
    of the newest BODY_DICT_PER_KIND bodies of each (node, action), the most frequent kinds
    last (DEFLATE matches best near the end of its dictionary). As for observations, only
    values at least DICT_MIN_PROSPECTS different prospects share are kept (a rule id, a
    rationale template, a run id); every other value is blanked."""
    sample = list(bodies)
    common = _common_values(sample, lambda b: b.get("prospect_id"))
    kinds: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for b in sample:
        kinds.setdefault((str(b.get("node", "")), str(b.get("action", ""))), []).append(b)
    chosen: list[Mapping[str, Any]] = []
    for key in sorted(kinds, key=lambda k: (len(kinds[k]), k)):
        chosen += kinds[key][-BODY_DICT_PER_KIND:]
    parts = [
        json.dumps(_skeleton(b, common), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for b in chosen
    ]
    return "".join(parts).encode("utf-8")[-DICT_MAX:]


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
