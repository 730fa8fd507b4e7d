"""The `[web]` and `[experiments]` sections of workspace.toml.

`[web]`: who may sign in to the web view of this workspace and with which role. Only
password hashes are stored (argon2, made by `run.py web hash-password` / `web user add`),
never passwords.

`[experiments]`: how a playbook step with `variants` assigns them (see agents/experiments.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["viewer", "approver", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "approver": 1, "admin": 2}


class WebUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="Sign-in name.")
    role: Role = Field("viewer", description="viewer: read; approver: also decide reviews; admin: all.")
    password_hash: str = Field(description="An argon2 hash from `run.py web hash-password`.")

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError("must be an argon2 hash (run.py web hash-password), never a plain password")
        return value


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: tuple[WebUser, ...] = Field((), description="Who may sign in to this workspace's pages.")

    @model_validator(mode="after")
    def _unique(self) -> WebConfig:
        names = [u.name for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate web user name(s): {dupes}")
        return self


class ExperimentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allocator: Literal["hash", "thompson"] = Field(
        "hash", description="hash: even split by prospect; thompson: learn from positive replies."
    )
    min_sample: int = Field(20, ge=1, description="Sends per variant before the allocator learns.")
    holdout: float = Field(0.2, ge=0.0, le=1.0, description="Share of prospects always split evenly.")
    seed: int = Field(0, description="Seed of every draw, so replay reproduces each assignment.")
