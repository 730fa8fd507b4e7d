"""Human labels for prospects: "Katrin Vogel (Kranich Logistik)" instead of
``p_089502c6fa51`` wherever a person reads (tables, summaries). Ids stay in JSON output."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from state import repo
from state.models import Prospect


def label_for(name: str, company: str, email: str, prospect_id: str) -> str:
    """The best readable handle: name and company, else the email, else the id."""
    who = name.strip() or email.strip()
    if not who:
        return prospect_id
    return f"{who} ({company.strip()})" if company.strip() else who


def prospect_labels(engine: Engine, workspace: str, ids: Iterable[str]) -> dict[str, str]:
    """prospect id -> readable label, for every id that exists (others map to themselves)."""
    wanted = sorted({i for i in ids if i})
    labels = {i: i for i in wanted}
    if not wanted:
        return labels
    with Session(engine) as session:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = session.exec(
                select(Prospect).where(Prospect.workspace == workspace, col(Prospect.id).in_(chunk))
            ).all()
            companies = repo.companies_by_id(
                session, workspace=workspace, ids=[p.company_id for p in rows if p.company_id]
            )
            for p in rows:
                company = companies.get(p.company_id) if p.company_id else None
                labels[p.id] = label_for(
                    p.full_name or f"{p.first_name} {p.last_name}",
                    company.name if company else "",
                    p.email_norm,
                    p.id,
                )
    return labels
