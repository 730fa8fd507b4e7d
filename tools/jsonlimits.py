"""JSON from outside (webhook bodies, event lines, Slack payloads, JSON cells) is checked
for size and nesting depth before it is parsed, so a body nested thousands of levels deep
is refused with a reason instead of ending in a RecursionError."""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import InputError

MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def max_depth(text: str | bytes) -> int:
    """How deeply brackets nest in a JSON text (strings skipped), without parsing it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


class BadJSON(ValueError):
    """The text is not JSON, not UTF-8, or nested deeper than the limit; str() says which."""


def parse(text: str | bytes, *, limit: int = MAX_DEPTH) -> Any:
    """json.loads with a depth limit; BadJSON with a plain reason otherwise."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadJSON(f"not valid UTF-8 (byte {exc.start})") from None
    depth = max_depth(text)
    if depth > limit:
        raise BadJSON(f"JSON nested {depth} levels deep (limit {limit})")
    try:
        return json.loads(text)
    except RecursionError:
        raise BadJSON(f"JSON nested too deeply (limit {limit})") from None
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise BadJSON(f"not valid JSON: {msg}") from None


def loads(text: str | bytes, *, limit: int = MAX_DEPTH, field: str = "body", line: int | None = None) -> Any:
    """:func:`parse`, with an InputError naming the field (or line) instead of BadJSON."""
    try:
        return parse(text, limit=limit)
    except BadJSON as exc:
        raise InputError(str(exc), field=field, line=line) from None
