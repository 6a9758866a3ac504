"""A stored taxonomy proposal as the views show it: one function, imported by the proposal flow
and by the digest (which must not import the flow: the flow imports the DM flow, which imports
the admin commands, which import the digest)."""

from __future__ import annotations

from bot.views.proposals import ProposalCard
from engine import proposing
from storage.models import TaxonomyProposal


def proposal_card(project: str, row: TaxonomyProposal) -> ProposalCard:
    return ProposalCard(
        id=int(row.id or 0),
        project=project,
        kind=row.kind,
        labels=list(row.labels),
        score=row.score,
        message=row.message,
        evidence=row.evidence,
        status=row.status,
        decided_by=row.decided_by,
        names=proposing.default_names(row),
    )
