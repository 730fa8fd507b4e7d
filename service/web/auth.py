"""Who is signed in to the web view, and what they may do.

Users and roles come from each workspace's ``[[web.users]]`` (name, role, argon2
password hash). Signing in checks the password against every served workspace that lists
the name; the session names the workspaces where it matched. Roles are read from the
loaded config on every request, so a user removed from a workspace loses it at the next
restart of the service.

The session is a cookie signed with itsdangerous (secret from ``OUTBOUND_WEB_SECRET``; a
random per-process secret when unset, so sessions end at restart) holding the user name,
the workspace ids and a CSRF token; every form carries the token and every POST checks it.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import structlog
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.webconfig import ROLE_RANK
from core.workspace import Workspace

log = structlog.get_logger(__name__)
COOKIE = "outbound_web"
SECRET_ENV = "OUTBOUND_WEB_SECRET"
SESSION_SECONDS = 12 * 3600
_HASHER = PasswordHash((Argon2Hasher(),))
_DUMMY_HASH = _HASHER.hash("not-a-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    """An argon2id hash for ``[[web.users]] password_hash``."""
    if len(password) < 8:
        from core.errors import InputError

        raise InputError("a password needs at least 8 characters", field="password")
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bool(_HASHER.verify(password, password_hash))
    except Exception:  # a malformed hash in config never signs anyone in
        return False


@dataclass(frozen=True)
class Session:
    user: str = ""
    workspaces: tuple[str, ...] = ()
    csrf: str = ""

    @property
    def signed_in(self) -> bool:
        return bool(self.user and self.workspaces)


@dataclass
class Auth:
    """Sessions, CSRF and roles for the served workspaces."""

    workspaces: dict[str, Workspace]
    secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.secret:
            self.secret = os.environ.get(SECRET_ENV, "")
        if not self.secret:
            log.warning("web_secret_unset", env=SECRET_ENV, effect="sessions end when the service restarts")
            self.secret = secrets.token_urlsafe(32)
        self._signer = URLSafeTimedSerializer(self.secret, salt="outbound-web-session")

    # -- cookie
    def load(self, cookie: str | None) -> Session:
        if not cookie:
            return Session()
        try:
            data: Any = self._signer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return Session()
        if not isinstance(data, dict):
            return Session()
        wss = tuple(
            w for w in data.get("ws", []) if isinstance(w, str) and self.role(str(data.get("u", "")), w)
        )
        return Session(user=str(data.get("u", "")), workspaces=wss, csrf=str(data.get("c", "")))

    def dump(self, session: Session) -> str:
        return self._signer.dumps({"u": session.user, "ws": list(session.workspaces), "c": session.csrf})

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def csrf_ok(session: Session, submitted: str) -> bool:
        return bool(session.csrf) and hmac.compare_digest(session.csrf.encode(), (submitted or "").encode())

    # -- users and roles
    def role(self, user: str, ws_id: str) -> str:
        ws = self.workspaces.get(ws_id)
        if ws is None or not user:
            return ""
        for u in ws.config.web.users:
            if u.name == user:
                return u.role
        return ""

    def allowed(self, session: Session, ws_id: str, need: str) -> bool:
        if not session.signed_in or ws_id not in session.workspaces:
            return False
        role = self.role(session.user, ws_id)
        return bool(role) and ROLE_RANK[role] >= ROLE_RANK[need]

    def sign_in(self, user: str, password: str) -> tuple[str, ...]:
        """The workspaces where this name and password match (empty: refused)."""
        matched, tried = [], False
        for ws_id, ws in self.workspaces.items():
            for u in ws.config.web.users:
                if u.name == user:
                    tried = True
                    if verify_password(password, u.password_hash):
                        matched.append(ws_id)
        if not tried:  # the same work for an unknown name: no timing hint that it is unknown
            verify_password(password, _DUMMY_HASH)
        return tuple(matched)
