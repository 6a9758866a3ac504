"""review36: a rename rewrites a proposal's message only where its detector put a label's name
(``evidence["message_names"]``), never the detector's own words that read like a name."""

from __future__ import annotations

from typing import Any

from engine import projects, proposing, taxonomy
from engine.proposals.base import MESSAGE_NAMES, Proposal, quoted, spelled
from engine.proposals.rare import _parts
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.engine.test_proposals_follow_renames import _save
from tests.engine.test_proposing import FUSED, make_project, seven_intents  # noqa: F401

MERGE = (
    "Merge {a} and refund? The model and the nearest neighbours can hardly tell them apart "
    "(confusion 0.61, mixing 0.58; 1 = indistinguishable), 4 examples confidently look like "
    "the other label."
)
SPLIT = (
    "Split {a}? Its 20 labeled examples form two groups (12 and 8 labeled, cosine 0.41): "
    "maybe '{a}_1' and 'fees'."
)


def _marked(kind: str, labels: tuple[str, ...], message: str, evidence: dict[str, Any]) -> Any:
    """The evidence a refresh saves for a proposal the merge or split detector wrote."""
    p = Proposal(kind=kind, labels=labels, score=0.5, evidence=evidence,
                 key=(kind, *labels), message=message)  # fmt: skip
    return proposing._with_message_names(p).evidence


def test_a_merge_of_a_label_called_model_keeps_the_model_in_its_message(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=["model", "refund"])
    evidence = _marked("merge", ("model", "refund"), MERGE.format(a="model"), {})
    assert evidence[MESSAGE_NAMES] == [[6, "model"], [16, "refund"]]
    merge = _save(ws, "merge", ["model", "refund"], evidence, MERGE.format(a="model"))
    taxonomy.rename_label(ws, project="bank", label="model", new_name="misc", actor="bo")
    assert proposing.get_proposal(ws, merge).message == MERGE.format(a="misc")


def test_a_split_of_a_label_called_groups_keeps_its_two_groups(ws: Workspace) -> None:
    """Renamed twice: the marks follow the first rename (the name is longer, then shorter)."""
    projects.create_project(ws, name="bank", labels=["groups", "refund"])
    clusters = [{"suggested_name": "groups_1"}, {"suggested_name": "fees"}]
    message = SPLIT.format(a="groups")
    split = _save(ws, "split", ["groups"], _marked("split", ("groups",), message,
                                                   {"clusters": clusters}), message)  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="groups", new_name="account_kinds",
                          actor="bo")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="account_kinds", new_name="kinds", actor="bo")
    row = proposing.get_proposal(ws, split)
    assert row.message == SPLIT.format(a="kinds")
    assert [c["suggested_name"] for c in row.evidence["clusters"]] == ["kinds_1", "fees"]


def test_a_rare_label_called_examples_keeps_its_count_of_examples(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=["examples", "refund"])
    advice = ("gather more examples of ", ("examples",))
    message, names = spelled(*_parts("examples", 8, 0.2, advice, min_examples=5))
    rare = _save(ws, "rare", ["examples"], {"count": 8, MESSAGE_NAMES: names}, message)
    taxonomy.rename_label(ws, project="bank", label="examples", new_name="cases", actor="bo")
    assert proposing.get_proposal(ws, rare).message == (
        "cases is hard to learn from 8 examples (out-of-fold F1 0.20): gather more examples of "
        "cases."
    )


def test_an_add_given_a_free_name_still_follows_a_rename_of_its_nearest(ws: Workspace) -> None:
    """The add suggests a name a label has: a refresh gives it a free one (longer), and the
    marks of the names after it move with the text."""
    projects.create_project(ws, name="bank", labels=["other", "refund", "card_fees"])

    def add(name: str, nearest: str) -> tuple[str, list[list[Any]]]:
        return spelled("Add a label like ", *quoted(name), "? 6 examples set aside by experts "
                       "form a group as tight as a label (mean cosine 0.61) and closer to each "
                       "other than to any label (nearest: ", (nearest,), ", 0.42).")  # fmt: skip

    message, names = add("card_fees", "other")
    evidence = {"nearest_label": "other", "ids": [1, 2, 3], MESSAGE_NAMES: names}
    row = _save(ws, "add", ["card_fees"], evidence, message, key=["add", "#1"])
    with session_scope(ws.db) as s:  # as a refresh does once it saved the proposals
        project = project_repo.get_project(session=s, name="bank")
        assert proposal_repo.free_suggested_names(session=s, project_id=int(project.id or 0))
    assert proposing.get_proposal(ws, row).message == add("card_fees_2", "other")[0]
    taxonomy.rename_label(ws, project="bank", label="other", new_name="misc", actor="bo")
    assert proposing.get_proposal(ws, row).message == add("card_fees_2", "misc")[0]


def test_a_split_the_detector_finds_says_where_it_names_labels(  # type: ignore[no-untyped-def]
    ws,
    seven_intents,  # noqa: F811
    tmp_path,
) -> None:
    """The marks a refresh reads from the split detector's own wording (a changed wording
    leaves them out, and a rename then falls back to rewriting whole names)."""
    make_project(ws, tmp_path, seven_intents, rename=FUSED, labeled=16)
    (split,) = [p for p in proposing.refresh_proposals(ws, "bank") if p.kind == "split"]
    names = [c["suggested_name"] for c in split.evidence["clusters"]]
    marks = split.evidence[MESSAGE_NAMES]
    assert [m[1:] for m in marks] == [["account_questions"], *([n, "suggested"] for n in names)]
    assert all(split.message[m[0] : m[0] + len(m[1])] == m[1] for m in marks)
