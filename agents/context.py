"""Run-scoped dependencies handed to every node through LangGraph's `Runtime`: the
workspace, the database engine, providers and the policy engine. Built once per process
by `build_context`, never at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy.engine import Engine

from core.workspace import Workspace
from policies.engine import PolicyEngine
from tools.channels.base import Channel, Sender
from tools.drafting import TemplateDrafter
from tools.enrichment import Enricher, FileEnricher
from tools.research import Researcher, SnapshotResearcher


@dataclass(frozen=True)
class AgentContext:
    workspace: Workspace
    engine: Engine
    researcher: Researcher
    enricher: Enricher
    drafter: TemplateDrafter
    channels: Mapping[str, Channel]
    policy: PolicyEngine
    sender: Sender
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def ws_id(self) -> str:
        return self.workspace.id


def sender_of(ws: Workspace) -> Sender:
    s = ws.config.sender
    return Sender(name=s.name, email=s.email, company=s.company, postal_address=s.postal_address,
                  unsubscribe_url=s.unsubscribe_url, title=s.title,
                  unsubscribe_mailto=s.unsubscribe_mailto,
                  linkedin_account_id=s.linkedin_account_id)


def build_context(ws: Workspace, engine: Engine, *, channels: Mapping[str, Channel] | None = None) -> AgentContext:
    from tools.channels.outbox_file import FileOutbox

    cfg = ws.config
    sender = sender_of(ws)
    if channels is None:
        chans: dict[str, Channel] = {}
        for name in ("email", "linkedin", "direct_mail"):
            ch_cfg = getattr(cfg.channels, name)
            if ch_cfg.provider == "file":
                chans[name] = FileOutbox(ws.outbox_dir, channel=name,
                                         domain=cfg.sender.email.split("@")[1])
            else:
                from tools.channels.registry import build_channel_for_workspace

                chans[name] = build_channel_for_workspace(ws, name)
        channels = chans
    if "phone" not in channels:  # call steps become owner tasks, written to the outbox
        channels = {**channels, "phone": FileOutbox(ws.outbox_dir, channel="phone",
                                                    domain=cfg.sender.email.split("@")[1])}
    return AgentContext(
        workspace=ws, engine=engine,
        researcher=SnapshotResearcher(ws.web_dir, cfg.costs.research_credits),
        enricher=FileEnricher(ws.root / "enrichment.csv", cfg.costs.enrichment_credits),
        drafter=TemplateDrafter(ws.templates_dir),
        channels=channels, policy=PolicyEngine(cfg.policy), sender=sender)
