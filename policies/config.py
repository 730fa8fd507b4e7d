"""The `[policy]` section of workspace.toml: every rule's settings with the defaults a
careful agency would choose. Pure data (pydantic), validated on load."""

from __future__ import annotations

from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowConfig(_Section):
    days: tuple[str, ...] = Field(("mon", "tue", "wed", "thu", "fri"),
                                  description="Local weekdays on which messages may go out.")
    start: time = Field(time(8, 0), description="Local opening time of the sending window.")
    end: time = Field(time(17, 0), description="Local closing time (exclusive).")
    holidays: tuple[date, ...] = Field((), description="Local dates with no sends.")


class FrequencyConfig(_Section):
    min_business_days_between_touches: int = Field(
        1, ge=1, description="At most one touch per prospect per business day by default.")


class PolicyConfig(_Section):
    window: WindowConfig = WindowConfig()
    frequency: FrequencyConfig = FrequencyConfig()
    unknown_timezone: str = Field("defer", pattern="^(defer|review)$",
                                  description="What to do when the prospect's zone is unknown.")
    disabled_rules: tuple[str, ...] = Field((), description="Rule ids switched off.")
