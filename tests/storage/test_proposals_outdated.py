"""When a taxonomy change makes a proposal moot: one pure rule, shared by the refresh's save
(engine.proposing) and the supersede that follows a change (``supersede_outdated``)."""

from __future__ import annotations

from storage.repositories.proposals import merge_target, outdated

ACTIVE = {"billing", "refunds", "cards"}
MERGE = {"suggestion": "merge", "nearest_label": "refunds"}
GATHER = {"suggestion": "gather_more", "nearest_label": "refunds"}


def test_an_add_is_moot_once_a_label_it_adds_exists() -> None:
    assert not outdated(kind="add", labels=["fees"], evidence={}, active=ACTIVE)
    assert outdated(kind="add", labels=["fees", "cards"], evidence={}, active=ACTIVE)
    # a label added by hand in another case stands for it: approving would be refused anyway
    assert outdated(kind="add", labels=["Cards"], evidence={}, active=ACTIVE)


def test_a_merge_or_split_is_moot_once_a_label_it_names_is_gone() -> None:
    assert not outdated(kind="merge", labels=["billing", "refunds"], evidence={}, active=ACTIVE)
    assert outdated(kind="merge", labels=["billing", "fees"], evidence={}, active=ACTIVE)
    assert not outdated(kind="split", labels=["cards"], evidence=None, active=ACTIVE)
    assert outdated(kind="split", labels=["fees"], evidence=None, active=ACTIVE)


def test_a_rare_labels_merge_needs_the_label_it_would_merge_into() -> None:
    assert merge_target(kind="rare", evidence=MERGE) == "refunds"
    assert not outdated(kind="rare", labels=["billing"], evidence=MERGE, active=ACTIVE)
    assert outdated(kind="rare", labels=["billing"], evidence=MERGE, active={"billing"})
    # "gather more" merges nothing: only the rare label itself must stay
    assert merge_target(kind="rare", evidence=GATHER) is None
    assert not outdated(kind="rare", labels=["billing"], evidence=GATHER, active={"billing"})
    assert outdated(kind="rare", labels=["billing"], evidence=GATHER, active={"refunds"})


def test_only_a_rare_labels_merge_has_a_target() -> None:
    # an "add" names its nearest label as context: nothing is merged into it
    assert merge_target(kind="add", evidence={"nearest_label": "refunds"}) is None
    assert merge_target(kind="rare", evidence={"suggestion": "merge"}) is None
    assert merge_target(kind="rare", evidence=None) is None
