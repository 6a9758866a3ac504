"""A rename changes a name, not the evidence: open proposals naming the label follow it (same id,
still open, evidence and message under the new name), on SQLite and PostgreSQL. Merges, splits
and retires still supersede them (tests/engine/test_proposing.py)."""

from __future__ import annotations

from typing import Any

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo

LABELS = ["age_limit", "exchange_rate", "card", "card arrival", "atm_support"]

MERGE_EVIDENCE: dict[str, Any] = {  # shaped as engine/proposals/merges.py writes it
    "confusion": 0.8,
    "counts": {"age_limit": 12, "exchange_rate": 9},
    "examples": {"age_limit": [{"id": 1, "text": "how old"}], "exchange_rate": []},
    "confident_joint": {"age_limit->exchange_rate": 4, "exchange_rate->age_limit": 3},
    "mean_probability_on_other": {"age_limit->exchange_rate": 0.4},
}


def _save(ws: Workspace, kind: str, labels: list[str], evidence: dict[str, Any],
          message: str = "", *, key: list[str] | None = None) -> int:  # fmt: skip
    """An open proposal of project "bank", saved as a refresh saves one; its id."""
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="bank")
        assert project.id is not None
        row, _ = proposal_repo.save_open_proposal(
            session=s, project_id=project.id, kind=kind, labels=labels,
            key=proposing.key_text(key or [kind, *labels]), score=0.5, evidence=evidence,
            evidence_strength=10.0, message=message or f"{kind} {', '.join(labels)}",
        )  # fmt: skip
        assert row.id is not None
        return row.id


def test_open_proposals_follow_a_rename_and_stay_open(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    merge = _save(ws, "merge", ["age_limit", "exchange_rate"], MERGE_EVIDENCE,
                  "Merge age_limit and exchange_rate? confusion 0.80.")  # fmt: skip
    rare = _save(ws, "rare", ["atm_support"],
                 {"suggestion": "merge", "nearest_label": "age_limit", "count": 2},
                 "atm_support has 2 examples: merge it into age_limit (cosine 0.81).")  # fmt: skip
    split = _save(ws, "split", ["age_limit"],
                  {"clusters": [{"suggested_name": "age_limit_1"},
                                {"suggested_name": "young_kids"}]},
                  "Split age_limit? ... maybe 'age_limit_1' and 'young_kids'.")  # fmt: skip
    add = _save(ws, "add", ["lost_card"], {"nearest_label": "age_limit"},
                "Add a label like 'lost_card'? ... (nearest: age_limit, 0.41).",
                key=["add", "card", "lost"])  # fmt: skip
    gather = "exchange_rate has 3 examples: gather more examples of exchange_rate."
    rejected = _save(ws, "rare", ["exchange_rate"], {"suggestion": "gather_more"}, gather)
    proposing.reject(ws, "bank", rejected, actor="ana", actor_is_admin=True)

    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age",
                          actor="ana")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="exchange_rate", new_name="fx_rate",
                          actor="ana")  # fmt: skip

    row = proposing.get_proposal(ws, merge)  # same id, still open, under today's names
    assert (row.status, row.key, row.labels) == (
        "open", '["merge", "fx_rate", "minimum_age"]', ["fx_rate", "minimum_age"],
    )  # fmt: skip
    assert row.message == "Merge minimum_age and fx_rate? confusion 0.80."
    assert row.evidence["counts"] == {"minimum_age": 12, "fx_rate": 9}
    assert set(row.evidence["examples"]) == {"minimum_age", "fx_rate"}
    assert row.evidence["confident_joint"] == {"minimum_age->fx_rate": 4, "fx_rate->minimum_age": 3}
    assert row.evidence["mean_probability_on_other"] == {"minimum_age->fx_rate": 0.4}
    assert proposing.default_names(row) == ["minimum_age"]  # into the larger, as before

    row = proposing.get_proposal(ws, rare)  # the label it would be merged into was renamed
    assert (row.status, row.labels, row.evidence["nearest_label"]) == (
        "open", ["atm_support"], "minimum_age",
    )  # fmt: skip
    assert row.message == "atm_support has 2 examples: merge it into minimum_age (cosine 0.81)."

    row = proposing.get_proposal(ws, split)
    assert (row.status, row.key) == ("open", '["split", "minimum_age"]')
    assert proposing.default_names(row) == ["minimum_age_1", "young_kids"]
    assert row.message == "Split minimum_age? ... maybe 'minimum_age_1' and 'young_kids'."

    row = proposing.get_proposal(ws, add)  # keyed by words: only its nearest label follows
    assert (row.status, row.key, row.labels) == ("open", '["add", "card", "lost"]', ["lost_card"])
    assert row.evidence["nearest_label"] == "minimum_age"
    assert row.message == "Add a label like 'lost_card'? ... (nearest: minimum_age, 0.41)."

    row = proposing.get_proposal(ws, rejected)  # a decision follows as before, its text kept
    assert (row.status, row.key) == ("rejected", '["rare", "fx_rate"]')
    assert row.message == gather

    # and the renamed proposal is approved as it is shown
    decision = proposing.approve(ws, "bank", merge, actor="ana", actor_is_admin=True)
    assert decision.proposal.status == "applied"
    names = [lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)]
    assert "minimum_age" in names and "fx_rate" not in names
    # minimum_age is still a label, but with fx_rate's examples: found on its old ones, the
    # proposals about it go (the next refresh proposes them again if the evidence holds)
    assert proposing.get_proposal(ws, rare).status == "superseded"
    assert proposing.get_proposal(ws, split).status == "superseded"


def test_a_name_inside_another_label_name_is_left_alone(ws: Workspace) -> None:
    """Renaming "card" must not touch "card arrival" in the text (matched whole, longest
    first); a merge still supersedes the proposals naming a label merged away."""
    projects.create_project(ws, name="bank", labels=LABELS)
    merge = _save(ws, "merge", ["card", "card arrival"],
                  {"counts": {"card": 3, "card arrival": 8}},
                  "Merge card and card arrival? card arrival looks like card.")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="card", new_name="cards", actor="ana")
    row = proposing.get_proposal(ws, merge)
    assert (row.status, row.labels) == ("open", ["card arrival", "cards"])
    assert row.message == "Merge cards and card arrival? card arrival looks like cards."
    assert row.evidence["counts"] == {"cards": 3, "card arrival": 8}

    taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "atm_support"], actor="ana")
    assert proposing.get_proposal(ws, merge).status == "open"  # names neither label
    taxonomy.merge_labels(ws, project="bank", labels=["card arrival", "cards"], actor="ana")
    assert proposing.get_proposal(ws, merge).status == "superseded"
