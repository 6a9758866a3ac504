"""Addition proposals: a tight group among the examples experts set aside as fitting no label
(skipped, flagged, or discussed in a thread without labeling them since), which no existing
label claims."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np

from engine.proposals.base import (
    MESSAGE_NAMES,
    Key,
    LabeledData,
    Proposal,
    centroids,
    quoted,
    spelled,
    unit_rows,
)
from engine.proposals.words import distinctive_words

HALVES_ROWS = 2_000  # rows of a label read for its halves (a large label's SVD stays cheap)
MIN_GROUP = 3  # three experts' "fits nothing" on similar texts is a pattern; two may be chance
FALLBACK_COHESION, FALLBACK_CROSS = 0.5, 0.2  # pairwise cosines assumed with < 2 usable labels
# An add is keyed by its examples, not by its words or its place in the output: one more example
# changed a group's third word (a new key: a rejected group came back at once), and groups with
# no words took each other's decisions. The key holds a sample of the group's ids: those of the
# SKETCH smallest hashes (a bottom-k sketch, Broder 1997), a uniform sample that stays the same
# as the group grows unless a new id hashes lower, and fits storage's 600 characters ("#id").
SKETCH = 32
SAME_GROUP = 0.5  # a group holding half of a decided group's examples (or of its own) is that one


def propose_additions(
    data: LabeledData,
    *,
    skipped_embeddings: np.ndarray,
    skipped_texts: Sequence[str],
    skipped_ids: Sequence[int] | None = None,
    min_group: int = MIN_GROUP,
) -> list[Proposal]:
    """New labels suggested by groups of skipped/flagged examples, largest first.

    Groups are average-linkage clusters: two groups join while their mean pairwise cosine is
    closer to a typical label's inside (median within-label cosine) than to a typical pair of
    neighbouring labels' (median cosine to the nearest label), i.e. above the midpoint. A group
    must also hold together better than the labels claim it (:func:`_placed`): its members sit,
    on average, closer to the centre of the group's other members than each sits to its own
    nearest label's centroid, so "unsure between A and B" skips, which each sit near A or near B,
    do not become a new label.

    One missing label often comes out of the linkage in pieces (its sub-phrasings). Two groups
    are then proposed as one (:func:`join_fragments`) when they sit like the two halves of one
    existing label: their centres are at least as close as the median label's halves' are, and
    the same label is nearest to both.
    """
    from sklearn.cluster import AgglomerativeClustering

    E = unit_rows(np.asarray(skipped_embeddings, dtype=np.float32))
    ids = list(skipped_ids) if skipped_ids is not None else list(range(len(E)))
    if len(E) != len(skipped_texts) or len(E) != len(ids):
        raise ValueError("skipped embeddings, texts and ids must have the same length")
    if len(E) < min_group:
        return []
    within, cross = label_cohesion(data)
    joins = (within + cross) / 2
    groups = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - joins
    ).fit_predict(E)
    cent = centroids(data)[data.counts() > 0]
    found = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) >= min_group and not _placed(E, members, cent)[3]:
            found.append(members)  # a group that sits inside an existing label is no addition
    if len(found) > 1:
        found = join_fragments(E, found, cent, halves_cosine(data, min_group=min_group))
    for n, members in enumerate(found):
        groups[members] = -1 - n  # joined groups read as one from here on
    labeled_texts = list(data.texts) if data.texts is not None else []
    out: list[Proposal] = []
    for n, members in enumerate(found):
        g = -1 - n
        centre, best_label, label_sim, _ = _placed(E, members, cent)
        own = E[members] @ centre
        texts = [skipped_texts[i] for i in members.tolist()]
        others = [t for i, t in enumerate(skipped_texts) if groups[i] != g] + labeled_texts
        words = distinctive_words(texts, others, top=3)
        name = "_".join(w for w, _, _ in words[:2]) or f"new_label_{len(out) + 1}"
        used_names = [n for n, c in zip(data.label_names, data.counts(), strict=True) if c > 0]
        nearest = used_names[best_label] if best_label >= 0 else None
        pairwise = E[members] @ E[members].T
        mean_pair = float((pairwise.sum() - len(members)) / (len(members) * (len(members) - 1)))
        order = members[np.argsort(-own, kind="stable")]
        evidence: dict[str, Any] = {
            "size": len(members),
            "cohesion": round(mean_pair, 3),
            "label_cohesion": round(within, 3),
            "neighbour_label_cosine": round(cross, 3),
            "nearest_label": nearest,
            "nearest_label_cosine": round(label_sim, 3),
            "own_centre_cosine": round(float(own.mean()), 3),
            "words": [{"word": w, "share": s, "share_other": o} for w, s, o in words],
            "examples": [{"id": int(ids[i]), "text": skipped_texts[i]} for i in order[:3].tolist()],
            "ids": [int(ids[i]) for i in members],
        }
        message, evidence[MESSAGE_NAMES] = spelled(
            "Add a label like ", *quoted(name), f"? {len(members)} examples set aside by experts "
            f"form a group as tight as a label (mean cosine {mean_pair:.2f}) and closer to each "
            "other than to any label (nearest: ",
            (str(nearest),) if nearest is not None else "None",
            f", {label_sim:.2f}).",
        )  # fmt: skip
        out.append(Proposal(
            kind="add", labels=(name,),
            score=round(min(1.0, mean_pair - label_sim + len(members) / 100), 4),
            evidence=evidence, key=add_key(int(ids[i]) for i in members), message=message,
            evidence_strength=float(len(members)),
        ))  # fmt: skip
    out.sort(key=lambda p: (-p.evidence_strength, -p.score, p.key))
    return out


def add_key(ids: Iterable[int]) -> Key:
    """An add's key: ``("add", "#<id>", ...)``, the ids of the group's :data:`SKETCH` examples
    with the smallest hashes, in id order."""
    chosen = sorted({int(i) for i in ids}, key=_id_hash)[:SKETCH]
    return ("add", *(f"#{i}" for i in sorted(chosen)))


def key_ids(key: Sequence[str]) -> set[int] | None:
    """The example ids an add's key holds (:func:`add_key`); None for another key (an add
    keyed by its words, as they were before)."""
    if len(key) < 2 or key[0] != "add":
        return None
    if not all(k.startswith("#") and k[1:].isdigit() for k in key[1:]):
        return None
    return {int(k[1:]) for k in key[1:]}


def same_group(key: Sequence[str], strength: float, ids: Collection[int]) -> bool:
    """Whether the add of ``ids`` is the group of a decided add's ``key`` (which had
    ``strength`` examples): they share at least half of the smaller one's examples.

    The key holds every example of a group of up to :data:`SKETCH`: the shared ones are
    counted. A larger group's key is a sample of it, from which the shared ones are estimated
    (its hits times the group's size over the sample's), at most as many as ``ids`` may share:
    those of its ids that hash no higher than the sample's highest are the group's only if
    the sample holds them (it holds the group's lowest hashes). One sampled id in common is
    no evidence of half a group: a small group cut from other set-aside examples may share
    one of a large group's by chance, and its estimate (one id times the group's size over
    32) would overshoot its own size."""
    sample = key_ids(key)
    if not sample or not ids:
        return False
    ids = {int(i) for i in ids}
    hits = len(sample & ids)
    size = max(strength, len(sample))
    if size <= len(sample):  # the key is the whole group
        return hits > 0 and hits >= SAME_GROUP * min(size, len(ids))
    top = max(_id_hash(i) for i in sample)
    outside = sum(1 for i in ids - sample if _id_hash(i) <= top)  # surely not the group's
    shared = min(hits / len(sample) * size, len(ids) - outside)
    return hits > 1 and shared >= SAME_GROUP * min(size, len(ids))


def _id_hash(example_id: int) -> int:
    digest = hashlib.blake2b(str(example_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _placed(
    E: np.ndarray, members: np.ndarray, cent: np.ndarray
) -> tuple[np.ndarray, int, float, bool]:
    """(unit centre, nearest label's index in ``cent`` or -1, members' mean cosine to it, whether
    existing labels claim the group: its members are on average at least as close to their own
    nearest label's centroid (each its own) as to the centre of the group's other members).

    Each member is left out of the centre it is compared with, as it is out of every label's
    centroid: a small group's centre is made of the very examples it is read against (with 3,
    a third of it), which would keep any 3 look-alike skips "closer to each other than to any
    label" while each of them sits at its own label's border. Read per member, the labels' claim
    covers groups between two labels (or more), whose members split between their nearest labels.
    """
    Em = E[members]
    centre = unit_rows(Em.mean(axis=0, keepdims=True))[0]
    to_label = Em @ cent.T if len(cent) else np.zeros((len(members), 0))
    best = int(to_label.mean(axis=0).argmax()) if to_label.shape[1] else -1
    label_sim = float(to_label[:, best].mean()) if best >= 0 else 0.0
    others = Em.sum(axis=0, keepdims=True) - Em  # each member's group without it (none: 0)
    to_others = (Em * others).sum(axis=1) / np.maximum(np.linalg.norm(others, axis=1), 1e-12)
    claimed = float(to_label.max(axis=1).mean()) if best >= 0 else 0.0
    return centre, best, label_sim, claimed >= float(to_others.mean())


def join_fragments(
    E: np.ndarray, found: list[np.ndarray], cent: np.ndarray, halves: float | None
) -> list[np.ndarray]:
    """Groups of rows of ``E`` joined where they read as pieces of one label: the closest pair
    whose centres' cosine is at least ``halves`` (how close the two halves of a typical existing
    label sit, :func:`halves_cosine`) and whose nearest label is the same is joined, until no such
    pair is left, and only where the joined group is still no part of an existing label."""
    found = list(found)
    if halves is None:
        return found
    while len(found) > 1:
        placed = [_placed(E, m, cent) for m in found]
        C = np.stack([p[0] for p in placed])
        near = np.array([p[1] for p in placed])
        sim = C @ C.T
        sim[near[:, None] != near[None, :]] = -np.inf
        sim[np.tril_indices(len(found))] = -np.inf
        order = np.argsort(-sim, axis=None, kind="stable")
        pairs = [np.unravel_index(k, sim.shape) for k in order[: int(np.isfinite(sim).sum())]]
        for a, b in pairs:
            if sim[a, b] < halves:
                return found
            union = np.sort(np.concatenate([found[a], found[b]]))
            if not _placed(E, union, cent)[3]:
                found = [m for i, m in enumerate(found) if i not in (a, b)] + [union]
                break
        else:
            return found
    return found


def halves_cosine(data: LabeledData, *, min_group: int = MIN_GROUP) -> float | None:
    """Median over labels with ``2 * min_group``+ examples of the cosine between the centres of
    the label's two halves, cut at its mean along its widest direction (first principal axis);
    None with fewer than 2 such labels."""
    out = []
    for c in np.flatnonzero(data.counts() >= 2 * min_group):
        U = data.unit[data.labels == c]
        U = U[:: -(-len(U) // HALVES_ROWS)].astype(np.float64)  # every k-th row of a large label
        D = U - U.mean(axis=0)
        side = D @ np.linalg.svd(D, full_matrices=False)[2][0] > 0
        if side.sum() < 1 or (~side).sum() < 1:
            continue
        a, b = unit_rows(np.stack([U[side].mean(axis=0), U[~side].mean(axis=0)]))
        out.append(float(a @ b))
    return float(np.median(out)) if len(out) >= 2 else None


def label_cohesion(data: LabeledData) -> tuple[float, float]:
    """Medians over labels with 2+ examples of (mean pairwise cosine inside the label, mean
    pairwise cosine to the examples of its most similar other label)."""
    used = np.flatnonzero(data.counts() >= 2)
    if len(used) < 2:
        return FALLBACK_COHESION, FALLBACK_CROSS
    sums = np.stack([data.unit[data.labels == c].sum(axis=0) for c in used])
    n = data.counts()[used].astype(np.float64)
    cross = (sums @ sums.T) / np.outer(n, n)  # mean of U_a U_b^T without forming it
    within = (np.diag(sums @ sums.T) - n) / (n * (n - 1))  # mean off-diagonal of U_a U_a^T
    np.fill_diagonal(cross, -np.inf)
    return float(np.median(within)), float(np.median(cross.max(axis=1)))
