"""A doctor finding: one check, its status, what was found and what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Finding:
    """``next_step`` is empty only for ``ok``; every problem says what to do about it."""

    area: str
    check: str
    status: Status
    message: str
    next_step: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status in ("warn", "fail") and not self.next_step:
            raise ValueError(f"finding {self.area}/{self.check} has no next step")

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "check": self.check,
            "status": self.status,
            "message": self.message,
            "next_step": self.next_step,
            "detail": self.detail,
        }


def ok(area: str, check: str, message: str, **detail: Any) -> Finding:
    return Finding(area, check, "ok", message, "", detail)


def warn(area: str, check: str, message: str, next_step: str, **detail: Any) -> Finding:
    return Finding(area, check, "warn", message, next_step, detail)


def fail(area: str, check: str, message: str, next_step: str, **detail: Any) -> Finding:
    return Finding(area, check, "fail", message, next_step, detail)


def skip(area: str, check: str, message: str, next_step: str = "", **detail: Any) -> Finding:
    return Finding(area, check, "skip", message, next_step, detail)
