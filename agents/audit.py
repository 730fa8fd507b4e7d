"""Anchors: the decision log's head, signed with a key that is not in the database, kept
outside it (an append-only JSONL file, optionally a Slack channel).

The hash chain alone proves nothing against someone who can write to the database: they
can delete the tail, append or rewrite records and update ``chain_heads`` to match. An
anchor fixes (workspace, seq, hash, time) of the head at one moment, signed with an
Ed25519 key held in a file or an environment variable. ``verify_with_anchors`` then
checks that the chain still holds, for every anchor, a record at that seq with that
hash: a truncation below an anchor, a replaced tail and a rewritten chain all fail.
What an anchor cannot prove is written in docs/audit.md.

    anchor line: {"v": 1, "workspace", "seq", "hash", "at" (when anchored),
                  "head_at" (time of the head record), "key_id", "signature" (base64)}
    signature = Ed25519(canonical_json(every field but "signature"))
    key_id    = first 16 hex digits of sha256(raw public key)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import Engine

from core.canonical import canonical_json
from core.errors import ChainBroken, ConfigError, InputError, ProviderError
from core.timeutil import iso, to_utc
from core.workspace import Workspace
from state import decision_log as dl

log = structlog.get_logger(__name__)

VERSION = 1
PUBLIC_KEY_NAME = "anchor_public_key.pem"
KEY_DIR_ENV = "OUTBOUND_KEY_DIR"


# ----------------------------------------------------------------- keys


def default_key_path(ws: Workspace) -> Path:
    """Where `audit keygen` puts the key when [audit] anchor_key_file is not set: outside
    the workspace folder (and so away from a SQLite database), under $OUTBOUND_KEY_DIR or
    ~/.config/outbound-agent."""
    base = os.environ.get(KEY_DIR_ENV) or str(Path.home() / ".config" / "outbound-agent")
    return Path(base) / f"anchor-{ws.id}.key"


def key_path(ws: Workspace) -> Path:
    configured = ws.config.audit.anchor_key_file
    if not configured:
        return default_key_path(ws)
    path = Path(configured).expanduser()
    return path if path.is_absolute() else ws.root / path


def anchor_path(ws: Workspace, out: Path | None = None) -> Path:
    if out is not None:
        return out
    path = Path(ws.config.audit.anchor_file).expanduser()
    return path if path.is_absolute() else ws.root / path


def public_key_path(anchors: Path) -> Path:
    """The public key is kept beside the anchors it verifies."""
    return anchors.with_name(PUBLIC_KEY_NAME)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_key(ws: Workspace, *, path: Path | None = None) -> dict[str, str]:
    """Create a new Ed25519 key file (mode 0600, never overwritten) and write its public
    key beside the anchor file."""
    target = path or key_path(ws)
    public = public_key_path(anchor_path(ws))
    if target.exists():
        raise ConfigError(
            "a key file already exists here; it is never overwritten",
            file=str(target),
            next_step="Keep using it, or move it away first if you really mean to replace the key.",
        )
    if public.exists():
        raise ConfigError(
            "a public key is already kept beside the anchor file; its anchors would no longer verify",
            file=str(public),
            next_step="Keep the existing key, or point the audit.anchor_file setting at a new file for a new key.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            "a key file already exists here; it is never overwritten",
            file=str(target),
            next_step="Keep using it, or move it away first if you really mean to replace the key.",
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.parent.mkdir(parents=True, exist_ok=True)
    public.write_bytes(_public_pem(private.public_key()))
    return {"key_file": str(target), "public_key_file": str(public), "key_id": key_id(private.public_key())}


def load_private_key(ws: Workspace) -> Ed25519PrivateKey:
    """The signing key from [audit] anchor_key_env (a PEM in the environment) or from the
    key file, which must not be readable by group or others."""
    env_name = ws.config.audit.anchor_key_env
    if env_name:
        text = os.environ.get(env_name, "")
        if not text:
            raise ConfigError(
                f"environment variable {env_name} is not set",
                key="audit.anchor_key_env",
                next_step=f"Put the PEM made by `run.py audit keygen` into {env_name}.",
            )
        return _parse_private(text.encode(), where=f"${env_name}")
    path = key_path(ws)
    if not path.exists():
        raise ConfigError(
            "no anchor signing key",
            file=str(path),
            next_step="Run `run.py audit keygen -w WORKSPACE` (and set audit.anchor_key_file if you moved the key).",
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"the key file is readable by others (mode {mode:o})",
            file=str(path),
            next_step=f"Run `chmod 600 {path}`.",
        )
    return _parse_private(path.read_bytes(), where=str(path))


def _parse_private(data: bytes, *, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError("not a PEM private key", file=where) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("the anchor key must be an Ed25519 key", file=where)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    if not path.exists():
        raise InputError(
            "public key not found",
            file=str(path),
            next_step="Pass --public-key, or keep the key `audit keygen` wrote beside the anchor file.",
        )
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError):
        raise InputError("not a PEM public key", file=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the anchor public key must be an Ed25519 key", file=str(path))
    return key


# ----------------------------------------------------------------- anchors


@dataclass(frozen=True)
class Anchor:
    workspace: str
    seq: int
    hash: str
    at: str
    head_at: str
    key_id: str
    signature: str = ""

    def signed_part(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "workspace": self.workspace,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "head_at": self.head_at,
            "key_id": self.key_id,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    def line(self) -> str:
        return canonical_json(self.to_dict())


def make_anchor(engine: Engine, workspace: str, key: Ed25519PrivateKey, *, now: datetime) -> Anchor:
    """Sign the current head, after checking the chain is whole (an anchor never blesses a
    chain that is already broken)."""
    result = dl.verify(engine, workspace)
    if not result.ok:
        raise ChainBroken(
            f"not anchoring a broken chain: seq {result.first_broken_seq}: {result.problem}",
        )
    seq, digest = dl.head(engine, workspace)
    rec = dl.record_at(engine, workspace, seq) if seq else None
    unsigned = Anchor(
        workspace=workspace,
        seq=seq,
        hash=digest,
        at=iso(to_utc(now)) or "",
        head_at=(iso(to_utc(rec.at)) or "") if rec is not None else "",
        key_id=key_id(key.public_key()),
    )
    signature = key.sign(canonical_json(unsigned.signed_part()).encode("utf-8"))
    return Anchor(**{**unsigned.__dict__, "signature": base64.b64encode(signature).decode("ascii")})


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one line and fsync it; earlier lines are never rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(anchor.line() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _ensure_public_key(path: Path, public_key: Ed25519PublicKey) -> None:
    pem = _public_pem(public_key)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
    elif path.read_bytes().strip() != pem.strip():
        raise ConfigError(
            "the public key beside the anchor file is not the signing key's",
            file=str(path),
            next_step="Anchor to a new file for a new key, or use the key that signed this file.",
        )


def slack_text(anchor: Anchor) -> str:
    """The Slack message: readable, plus the exact JSON line (a copy verifies like the file)."""
    return (
        f"Decision log anchor for *{anchor.workspace}*: seq {anchor.seq}, head {anchor.hash[:16]}…, "
        f"at {anchor.at}, key {anchor.key_id}\n```{anchor.line()}```"
    )


def post_anchor(client: Any, channel: str, anchor: Anchor) -> tuple[str, str]:
    """Post the anchor to a Slack channel with the workspace's Slack client."""
    import http.client

    from slack_sdk.errors import SlackClientError

    from tools.slack_review import slack_error

    try:
        response = client.chat_postMessage(
            channel=channel, text=slack_text(anchor), unfurl_links=False, unfurl_media=False
        )
    except (SlackClientError, OSError, http.client.HTTPException) as exc:
        raise slack_error(exc, method="chat.postMessage", token=client.token or "") from None
    return str(response["channel"]), str(response["ts"])


def write_anchor(
    ws: Workspace,
    engine: Engine,
    *,
    now: datetime,
    out: Path | None = None,
    slack_client: Any = None,
) -> dict[str, Any]:
    """Sign the head, append it to the anchor file and, given a Slack client, post it to the
    workspace's Slack channel. The anchor is written to the file before Slack is tried."""
    key = load_private_key(ws)
    target = anchor_path(ws, out)
    _ensure_public_key(public_key_path(target), key.public_key())
    anchor = make_anchor(engine, ws.id, key, now=now)
    append_anchor(target, anchor)
    result: dict[str, Any] = {**anchor.to_dict(), "file": str(target)}
    if slack_client is not None:
        channel = ws.config.slack.channel
        if not channel:
            raise ConfigError("no Slack channel to post the anchor to", key="slack.channel")
        try:
            result["slack"] = dict(
                zip(("channel", "ts"), post_anchor(slack_client, channel, anchor), strict=True)
            )
        except ProviderError as exc:
            result["slack_error"] = exc.message  # the file anchor stands; Slack is a second copy
    log.info("audit.anchored", workspace=ws.id, seq=anchor.seq, file=str(target))
    return result


def anchor_job(
    ws: Workspace, engine: Engine, now: datetime, slack_client: Any = None
) -> dict[str, Any] | None:
    """The scheduler's daily anchor: skipped (logged) when no key is configured."""
    try:
        load_private_key(ws)
    except ConfigError as exc:
        log.warning("audit.anchor_skipped", workspace=ws.id, reason=exc.message)
        return None
    return write_anchor(
        ws, engine, now=now, slack_client=slack_client if ws.config.audit.anchor_slack else None
    )


# ----------------------------------------------------------------- verification


def read_anchors(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, anchor) for every line; a line that is not an anchor is an InputError."""
    if not path.exists():
        raise InputError("anchor file not found", file=str(path))
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except ValueError:
                raise InputError("not a JSON line", file=str(path), line=number) from None
            missing = [f for f in ("workspace", "seq", "hash", "at", "key_id", "signature") if f not in data]
            if not isinstance(data, Mapping) or missing:
                raise InputError(f"not an anchor (missing {', '.join(missing)})", file=str(path), line=number)
            out.append((number, dict(data)))
    return out


def signature_ok(data: Mapping[str, Any], public_key: Ed25519PublicKey) -> bool:
    signed = {k: v for k, v in data.items() if k != "signature"}
    try:
        public_key.verify(
            base64.b64decode(str(data["signature"]), validate=True), canonical_json(signed).encode()
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verify_with_anchors(
    engine: Engine, workspace: str, anchors_file: Path, *, public_key_file: Path | None = None
) -> dict[str, Any]:
    """The chain check of ``decision_log.verify`` plus, for every signed anchor of this
    workspace, that the chain still holds that seq with that hash."""
    chain = dl.verify(engine, workspace)
    public_key = load_public_key(public_key_file or public_key_path(anchors_file))
    expected_id = key_id(public_key)
    mine = [(n, a) for n, a in read_anchors(anchors_file) if a.get("workspace") == workspace]
    head_seq, _ = dl.head(engine, workspace)
    result: dict[str, Any] = {
        **chain.to_dict(),
        "anchors": len(mine),
        "newest_anchor": None,
        "unanchored_records": head_seq,
    }
    problems: list[tuple[int | None, str]] = []
    if not chain.ok:
        problems.append((chain.first_broken_seq, chain.problem))
    if not mine:
        problems.append((None, f"the anchor file holds no anchor for workspace {workspace}"))
    for number, a in mine:
        where = f"anchor at line {number} ({a['at']})"
        if a.get("key_id") != expected_id or not signature_ok(a, public_key):
            problems.append((None, f"{where}: the signature does not verify with the public key"))
            continue
        seq = int(a["seq"])
        if seq == 0:
            continue
        rec = dl.record_at(engine, workspace, seq)
        if rec is None:
            problems.append(
                (seq, f"{where} covers seq {seq} but the chain ends at seq {head_seq}: records were removed")
            )
        elif rec.hash != a["hash"]:
            problems.append(
                (
                    seq,
                    f"{where}: record seq {seq} is not the anchored one: the chain was rewritten or its tail replaced",
                )
            )
    valid = [a for n, a in mine if a.get("key_id") == expected_id and signature_ok(a, public_key)]
    if valid:
        newest = max(valid, key=lambda a: int(a["seq"]))
        result["newest_anchor"] = {"seq": int(newest["seq"]), "at": newest["at"]}
        result["unanchored_records"] = max(0, head_seq - int(newest["seq"]))
    if problems:
        seqs = [s for s, _ in problems if s is not None]
        result.update(
            ok=False,
            first_broken_seq=min(seqs) if seqs else None,
            problem="; ".join(p for _, p in problems),
            problems=[p for _, p in problems],
        )
    return result
