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


def loads(text: str | bytes, *, limit: int = MAX_DEPTH, field: str = "body", line: int | None = None) -> Any:
    """json.loads with a depth limit; InputError (naming the field or line) for bad JSON,
    JSON nested deeper than ``limit``, or text that is not UTF-8."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 (byte {exc.start})", field=field, line=line) from None
    depth = max_depth(text)
    if depth > limit:
        raise InputError(f"JSON nested {depth} levels deep (limit {limit})", field=field, line=line)
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"JSON nested too deeply (limit {limit})", field=field, line=line) from None
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InputError(f"not valid JSON: {msg}", field=field, line=line) from None
