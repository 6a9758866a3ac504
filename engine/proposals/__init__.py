"""Taxonomy proposals: the merges, splits, additions and rare labels the model suggests.

Pure array code on a project's labeled examples (:class:`LabeledData`); no storage, no Slack.
Every detector returns :class:`Proposal` objects with readable evidence (numbers and sample
examples), a 0..1 ``score`` to rank by, a stable ``key`` and an ``evidence_strength``, so that a
rejected proposal is held back until its evidence has grown (:func:`filter_rejected`).

    data = LabeledData(embeddings=X, labels=y, label_names=names, texts=texts)
    for p in propose_all(data, skipped_embeddings=S, skipped_texts=s_texts):
        print(p.message)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from engine.proposals.additions import key_ids, propose_additions, same_group
from engine.proposals.base import Key, LabeledData, Proposal, out_of_fold_proba
from engine.proposals.merges import Disagreement, confident_joint, propose_merges
from engine.proposals.rare import FEW_EXAMPLES, MIN_EXAMPLES, rare_labels
from engine.proposals.splits import propose_splits, split_views

__all__ = [
    "Disagreement",
    "LabeledData",
    "Proposal",
    "confident_joint",
    "filter_rejected",
    "out_of_fold_proba",
    "propose_additions",
    "propose_all",
    "propose_merges",
    "propose_splits",
    "rare_labels",
]

# A rejected proposal returns once its supporting evidence is 1.5x larger, and larger by at
# least 3: the factor alone would bring back one rejected at strength 1 or 2 (a merge's few
# confidently confused examples, a small cluster) after a single new example.
EVIDENCE_GROWTH = 1.5
EVIDENCE_MIN_GROWTH = 3.0


def propose_all(
    data: LabeledData,
    *,
    disagreements: Sequence[Disagreement] = (),
    skipped_embeddings: np.ndarray | None = None,
    skipped_texts: Sequence[str] = (),
    skipped_ids: Sequence[int] | None = None,
    rejected: Mapping[Key, float] | None = None,
    seed: int = 0,
    rare_minimum: int = MIN_EXAMPLES,
    learned: np.ndarray | None = None,
) -> list[Proposal]:
    """Every kind of proposal, highest score first, minus those rejected on as much evidence.
    ``rare_minimum``: the labels a class needs to stop counting as too rare to learn (the
    project's setting, as `labelbot status` and the queue read it). ``learned``: which of
    ``data``'s examples a model learns from (n booleans; None: all), the only ones the
    rare-label check counts, as status does: audit labels (and their twins) only evaluate
    models. The other checks read every label.

    Out-of-fold probabilities are computed once and shared by the merge and rare-label checks.
    ``rejected`` maps a rejected proposal's key to its ``evidence_strength`` at rejection.

    Runs on one BLAS thread: the detectors' linear algebra is hundreds of small matrices (one
    label's ~300 examples at a time), where a second thread costs more than it saves, and on
    busy cores far more: at 50,000 examples with 2 OpenBLAS threads on 2 shared cores, the
    split check's ~220 SVDs of 300 x 106 matrices took 25 s (up to 3 s each, the threads
    waiting on each other), 0.5 s on one thread (bench/proposals_scale.py). The proposals are
    the same to the bit (checked at 2,000-50,000 examples and on the Banking77 test projects).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _propose_all(
            data,
            disagreements=disagreements,
            skipped_embeddings=skipped_embeddings,
            skipped_texts=skipped_texts,
            skipped_ids=skipped_ids,
            rejected=rejected,
            seed=seed,
            rare_minimum=rare_minimum,
            learned=learned,
        )


def _propose_all(
    data: LabeledData,
    *,
    disagreements: Sequence[Disagreement],
    skipped_embeddings: np.ndarray | None,
    skipped_texts: Sequence[str],
    skipped_ids: Sequence[int] | None,
    rejected: Mapping[Key, float] | None,
    seed: int,
    rare_minimum: int,
    learned: np.ndarray | None,
) -> list[Proposal]:
    if data.oof_proba is None and len(data.labels) > 1:
        proba = out_of_fold_proba(data.embeddings, data.labels, n_classes=data.n_classes, seed=seed)
        data = dataclasses.replace(data, oof_proba=proba)
    views = split_views(data, seed=seed)  # read once, by both the merge and the split check
    found = [
        *propose_merges(data, disagreements=disagreements, seed=seed, views=views),
        *propose_splits(data, seed=seed, views=views),
        *rare_labels(
            data if learned is None else _rows(data, np.asarray(learned, dtype=bool)),
            min_examples=rare_minimum,
            few_examples=max(FEW_EXAMPLES, rare_minimum),
            seed=seed,
        ),
    ]
    if skipped_embeddings is not None and len(skipped_texts):
        found += propose_additions(
            data,
            skipped_embeddings=skipped_embeddings,
            skipped_texts=skipped_texts,
            skipped_ids=skipped_ids,
        )
    found = _without_repeated_merges(found)
    found.sort(key=lambda p: (-p.score, p.key))
    return filter_rejected(found, rejected or {})


def _rows(data: LabeledData, keep: np.ndarray) -> LabeledData:
    """``data``'s examples where ``keep``, without its pool, citing the same ids; with their
    out-of-fold probabilities (from heads that read every label)."""
    if keep.all():
        return data
    ids = data.example_ids if data.example_ids is not None else np.arange(len(data.labels))
    rows = np.flatnonzero(keep).tolist()
    return LabeledData(
        embeddings=data.embeddings[keep],
        labels=data.labels[keep],
        label_names=data.label_names,
        texts=None if data.texts is None else [data.texts[i] for i in rows],
        example_ids=np.asarray(ids)[keep],
        oof_proba=None if data.oof_proba is None else np.asarray(data.oof_proba)[keep],
    )


def _without_repeated_merges(found: list[Proposal]) -> list[Proposal]:
    """Rare-label proposals that suggest the very merge a merge proposal already makes say it
    twice (one Approve would do both): the merge proposal, with its fuller evidence, stays."""
    merged = {frozenset(p.labels) for p in found if p.kind == "merge"}
    return [
        p
        for p in found
        if not (
            p.kind == "rare"
            and p.evidence.get("suggestion") == "merge"
            and frozenset((*p.labels, p.evidence.get("nearest_label"))) in merged
        )
    ]


def filter_rejected(
    proposals: Sequence[Proposal],
    rejected: Mapping[Key, float],
    *,
    growth: float = EVIDENCE_GROWTH,
    min_growth: float = EVIDENCE_MIN_GROWTH,
) -> list[Proposal]:
    """Proposals whose key was never rejected, or whose evidence has grown since: to at least
    ``growth`` times the strength at rejection, and by at least ``min_growth``. An add is held
    back by a decided add of the same group (its examples: ``additions.same_group``), whatever
    its key now."""
    adds = [(k, v) for k, v in rejected.items() if key_ids(k)]
    out = []
    for p in proposals:
        before = rejected.get(tuple(p.key))
        if p.kind == "add" and adds:
            ids = [int(i) for i in p.evidence.get("ids") or ()]
            same = [v for k, v in adds if same_group(k, v, ids)]
            before = max([*same, *([] if before is None else [before])], default=None)
        if before is None or p.evidence_strength >= max(growth * before, before + min_growth):
            out.append(p)
    return out
