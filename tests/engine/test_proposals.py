"""Taxonomy proposals on synthetic Gaussian blobs: each detector finds the planted change and
nothing on a clean taxonomy."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.proposals import (
    LabeledData,
    Proposal,
    filter_rejected,
    propose_additions,
    propose_all,
    propose_merges,
    propose_splits,
    rare_labels,
)
from engine.proposals import merges as merges_module
from engine.proposals import splits as splits_module
from engine.proposals.merges import MIN_SUPPORT, pair_separability

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]  # fmt: skip


def _blobs(
    n_classes: int = 8, per: int = 30, d: int = 64, noise: float = 0.6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Unit-ish points around random directions; texts are '<blob word> <filler>' sentences."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), per)
    X = centres[y] + rng.normal(scale=noise / np.sqrt(d), size=(len(y), d))
    texts = [f"{WORDS[c]} about my {WORDS[c]} order {i}" for i, c in enumerate(y)]
    return X.astype(np.float32), y, texts, centres


def _data(X: np.ndarray, y: np.ndarray, names: list[str], texts: list[str]) -> LabeledData:
    return LabeledData(embeddings=X, labels=y, label_names=names, texts=texts)


def test_fused_label_is_proposed_for_a_split_with_pure_groups() -> None:
    X, y, texts, _ = _blobs(d=128)
    y = np.where(y == 1, 0, y)  # blobs 0 and 1 share one name
    names = ["fused", "unused", *(f"l{c}" for c in range(2, 8))]
    y = np.where(y > 1, y, y)  # ids 2..7 keep their names; id 1 is now unused
    truth = np.repeat(np.arange(8), 30)
    splits = propose_splits(_data(X, y, names, texts))
    assert [p.labels for p in splits] == [("fused",)]
    clusters = splits[0].evidence["clusters"]
    purity = sum(np.bincount(truth[c["ids"]]).max() for c in clusters) / 60
    assert purity >= 0.95
    assert {c["suggested_name"].split("_")[0] for c in clusters} == {"alpha", "bravo"}
    assert all(c["examples"] and c["words"] for c in clusters)
    assert splits[0].key == ("split", "fused")
    assert splits[0].evidence["space"] == "whole embedding"  # 8 labels: too few for a basis


def test_the_pool_finds_a_fused_label_whose_labels_sit_on_one_side() -> None:
    """Active learning may label a fused label almost only from one of its real classes: the
    labeled view then has no second group, but the unlabeled examples the model puts under the
    label do, and their groups (with the few labeled ones) recover the two classes."""
    X, y, texts, _ = _blobs(n_classes=10, per=60, d=128, seed=3)
    truth = y.copy()
    y = np.where(y == 1, 0, y)
    names = ["fused", "unused", *(f"l{c}" for c in range(2, 10))]
    labeled = np.concatenate(
        [np.flatnonzero(truth == c)[:12] for c in range(2, 10)]
        + [np.flatnonzero(truth == 0)[:12], np.flatnonzero(truth == 1)[:2]]
    )
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    plain = LabeledData(embeddings=X[labeled], labels=y[labeled], label_names=names,
                        texts=[texts[i] for i in labeled], example_ids=labeled)  # fmt: skip
    assert propose_splits(plain) == []  # 12 + 2 labeled: the smaller group is under 5
    pooled = LabeledData(embeddings=X[labeled], labels=y[labeled], label_names=names,
                         texts=[texts[i] for i in labeled], example_ids=labeled,
                         pool_embeddings=X[rest], pool_texts=[texts[i] for i in rest],
                         pool_ids=rest)  # fmt: skip
    splits = propose_splits(pooled)
    assert [p.labels for p in splits] == [("fused",)]
    evidence = splits[0].evidence
    assert evidence["view"] == "all examples"
    clusters = evidence["clusters"]
    assert sorted(c["unlabeled"] for c in clusters) == [48, 58]  # the fused label's pool rows
    for c in clusters:  # labeled ids stay pure, and every group shows examples and words
        assert len(set(truth[c["ids"]].tolist())) == 1
        assert len(c["examples"]) == 3 and c["words"]
    assert sum(c["size"] for c in clusters) == 14
    assert any(e.get("unlabeled") for c in clusters for e in c["examples"])
    assert "unlabeled examples the model puts there" in splits[0].message


def _phrased(
    n_labels: int = 48, per: int = 24, d: int = 96, topic: int = 24, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Labels whose means differ in ``topic`` dimensions, each phrased two ways: half its
    examples lie +1 along one shared style direction outside those dimensions, half -1."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_labels, d))
    centres[:, :topic] = rng.normal(size=(n_labels, topic))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    style = np.zeros(d)
    style[topic:] = rng.normal(size=d - topic)
    style /= np.linalg.norm(style)
    y = np.repeat(np.arange(n_labels), per)
    sign = np.tile([1.0, -1.0], len(y) // 2)
    noise = rng.normal(scale=0.25 / np.sqrt(topic), size=(len(y), d))
    return (centres[y] + sign[:, None] * style + noise).astype(np.float32), y


def test_many_labels_are_read_in_the_directions_that_tell_labels_apart(monkeypatch) -> None:
    """Every label is two phrasings further apart than two intents: in the whole space the
    fused label's best two groups are its phrasings, as for every other label, so nothing
    stands out. Along the directions the labels' means differ by, the phrasings vanish and the
    fused label's two intents are two groups no other label has."""
    X, truth = _phrased()
    y = np.where(truth == 1, 0, truth)
    names = ["fused", "unused", *(f"l{c}" for c in range(2, 48))]
    data = LabeledData(embeddings=X, labels=y, label_names=names)
    splits = propose_splits(data)
    assert [p.labels for p in splits] == [("fused",)]
    assert splits[0].evidence["space"].endswith("directions between labels")
    assert "directions that tell this project's labels apart" in splits[0].message
    for c in splits[0].evidence["clusters"]:  # each group is one of the two intents
        assert len(set(truth[c["ids"]].tolist())) == 1
    monkeypatch.setattr(splits_module, "BETWEEN_MIN_LABELS", 10**6)  # the whole-space rule
    assert propose_splits(data) == []


def test_how_far_apart_a_fused_labels_groups_must_be_is_set_by_two_labels_read_as_one(
    monkeypatch,
) -> None:
    """With many labels, the whole view's threshold is a share of the z that two of the
    project's own labels glued together reach: a label split about 45% as far as that is
    proposed; demanding more of the same evidence proposes nothing."""
    rng = np.random.default_rng(0)
    n_labels, per, d = 48, 60, 64
    centres = rng.normal(size=(n_labels, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres[1] = centres[0] + 2.5 * rng.normal(size=d) / np.sqrt(d)  # an intent close to 0's
    truth = np.repeat(np.arange(n_labels), per)
    X = (centres[truth] + rng.normal(scale=1 / np.sqrt(d), size=(len(truth), d))).astype(np.float32)
    y = np.where(truth == 1, 0, truth)
    labeled = np.concatenate([np.flatnonzero(truth == c)[:4] for c in range(n_labels)])
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    names = ["fused", "unused", *(f"l{c}" for c in range(2, n_labels))]
    data = LabeledData(embeddings=X[labeled], labels=y[labeled], label_names=names,
                       example_ids=labeled, pool_embeddings=X[rest], pool_ids=rest)  # fmt: skip
    splits = propose_splits(data)
    assert [p.labels for p in splits] == [("fused",)]
    evidence = splits[0].evidence
    assert evidence["view"] == "all examples"  # 4 + 4 labeled: the labeled view cannot
    glued, z = evidence["glued_pair_z"], evidence["z_cosine"]
    assert splits_module.BETWEEN_POOL_SHARE * glued <= z < glued  # closer than two labels
    assert z > 2 * splits_module.OUTLIER_Z  # the floor did not decide
    assert "as far apart as two of this project's labels read as one" in splits[0].message
    for c in evidence["clusters"]:
        assert len(set(truth[c["ids"]].tolist())) == 1
    stricter = dataclasses.replace(splits_module._BETWEEN_LABELS, pool_share=z / glued + 0.05)
    monkeypatch.setattr(splits_module, "_BETWEEN_LABELS", stricter)
    assert propose_splits(data) == []


def test_groups_found_in_a_few_directions_are_re_decided_with_all_of_them() -> None:
    """Two intents that differ along a direction the between-label space dropped: groups with
    a tenth of their members on the wrong side (as a 2-means in too few directions leaves them)
    come back nearly pure from the cross-fitted probe on the whole embeddings."""
    rng = np.random.default_rng(0)
    d = 64
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    truth = np.repeat([0, 1], [180, 120])
    side = np.where(truth == 0, 0.4, -0.4)
    X = rng.normal(scale=1 / np.sqrt(d), size=(300, d)) + np.outer(side, direction)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rough = truth.copy()
    wrong = rng.choice(300, size=30, replace=False)
    rough[wrong] = 1 - rough[wrong]
    refined = splits_module.refine_groups(X, rough)
    assert (rough == truth).mean() == 0.9
    assert (refined == truth).mean() >= 0.97  # and group 0 is still the larger one
    # a refinement that would leave a group under min_size keeps the groups as they were
    assert np.array_equal(splits_module.refine_groups(X, rough, min_size=200), rough)


def test_one_blob_cut_in_two_is_the_top_merge() -> None:
    X, y, texts, _ = _blobs(d=32)
    rng = np.random.default_rng(1)
    members = np.flatnonzero(y == 3)
    y = y.copy()
    y[rng.permutation(members)[:15]] = 8  # a random half of blob 3 gets a second name
    names = [f"l{c}" for c in range(8)] + ["l3_bis"]
    merges = propose_merges(_data(X, y, names, texts))
    assert merges and merges[0].labels == ("l3", "l3_bis")
    assert merges[0].key == ("merge", "l3", "l3_bis")
    assert merges[0].evidence["confusion"] > 0.7 and merges[0].evidence["mixing"] > 0.7
    assert len(merges) == 1


def test_diffuse_label_is_not_a_split_but_a_fused_one_is() -> None:
    """A label spread over many sub-topics has far-apart 2-means groups too; only the label made
    of two modes (the fused pair) is proposed."""
    X, y, texts, _ = _blobs(n_classes=10, per=40, d=128, seed=7)
    rng = np.random.default_rng(7)
    subtopics = rng.normal(size=(8, 128))
    subtopics /= np.linalg.norm(subtopics, axis=1, keepdims=True)
    diffuse = np.flatnonzero(y == 2)  # blob 2 becomes 8 equally far sub-topics, 5 examples each
    X[diffuse] = subtopics[np.arange(len(diffuse)) % 8] + rng.normal(
        scale=0.6 / np.sqrt(128), size=(len(diffuse), 128)
    )
    y = np.where(y == 1, 0, y)
    names = ["fused", "unused", "diffuse", *(f"l{c}" for c in range(3, 10))]
    splits = propose_splits(_data(X, y, names, texts))
    assert [p.labels for p in splits] == [("fused",)]
    assert splits[0].evidence["z_elbow"] > 0 and splits[0].evidence["elbow"] > 1


def test_probe_tells_a_random_cut_from_two_real_look_alikes() -> None:
    """Two near blobs the head confuses still differ along one direction: the pair probe finds
    it (large z); the same points under random names are exchangeable (z near 0)."""
    rng = np.random.default_rng(11)
    d = 64
    base = rng.normal(size=d)
    base /= np.linalg.norm(base)
    shift = rng.normal(size=d)
    shift -= (shift @ base) * base
    shift *= 0.08 / np.linalg.norm(shift)
    y = np.repeat([0, 1], 20)
    X = base + np.where(y[:, None] == 0, shift, -shift) + rng.normal(scale=0.05, size=(40, d))
    real = LabeledData(embeddings=X, labels=y, label_names=["a", "b"])
    auc, z = pair_separability(real, 0, 1)
    assert auc > 0.8 and z > 3
    zs = []
    for seed in range(5):
        shuffled = LabeledData(embeddings=X, labels=rng.permutation(y), label_names=["a", "b"])
        zs.append(pair_separability(shuffled, 0, 1, seed=seed)[1])
    assert max(abs(v) for v in zs) < 2.5 and abs(float(np.mean(zs))) < 1.5
    assert pair_separability(LabeledData(embeddings=X[:21], labels=y[:21], label_names=["a", "b"]),
                             0, 1) == (0.5, 0.0)  # fmt: skip


def _boundary_look_alikes(seed: int, *, n: int = 10, per: int = 80, d: int = 64):
    """Blobs with a pool. l0 and l1 are two intents whose labeled examples are all hard cases
    from between them, named either way at random (what active learning leaves labeled), so
    the labeled examples alone look like a random cut; l2 is cut at random into l2 and l2_bis."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    step = rng.normal(size=d)
    centres[1] = centres[0] + 0.6 * step / np.linalg.norm(step)
    truth = np.repeat(np.arange(n), per)
    X = centres[truth] + rng.normal(scale=0.6 / np.sqrt(d), size=(len(truth), d))
    y = truth.copy()
    y[rng.permutation(np.flatnonzero(truth == 2))[: per // 2]] = n
    hard = (centres[0] + centres[1]) / 2 + rng.normal(scale=0.6 / np.sqrt(d), size=(16, d))
    hard_y = rng.permutation(np.repeat([0, 1], 8))
    labeled = np.concatenate([
        rng.permutation(np.flatnonzero(y == c))[: 6 if c in (2, n) else 8] for c in range(2, n + 1)
    ])  # fmt: skip
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    names = [f"l{c}" for c in range(n)] + ["l2_bis"]
    L = np.vstack([hard, X[labeled]]).astype(np.float32)
    Ly = np.concatenate([hard_y, y[labeled]])
    pooled = LabeledData(embeddings=L, labels=Ly, label_names=names, pool_embeddings=X[rest])
    return pooled, dataclasses.replace(pooled, pool_embeddings=None)


def test_a_pair_that_reads_as_two_intents_in_the_pool_is_no_merge() -> None:
    """The labeled examples of two look-alike intents can be as mixed as a random cut's; read as
    one label with the unlabeled examples, they are two groups and the cut is one."""
    firsts_without_pool = []
    for seed in range(5):
        pooled, plain = _boundary_look_alikes(seed)
        merges = {p.labels: p for p in propose_merges(pooled, threshold=0.0)}
        cut, look_alikes = merges[("l2", "l2_bis")], merges[("l0", "l1")]
        assert max(merges.values(), key=lambda p: p.score) is cut
        assert cut.evidence["one_label_z"] < 1.0 < merges_module.ONE_LABEL_Z
        assert look_alikes.evidence["one_label_z"] >= merges_module.ONE_LABEL_Z
        assert "as far apart as two different labels'" in look_alikes.message
        assert "no further apart than one label's" in cut.message
        without = propose_merges(plain, threshold=0.0)
        assert "one_label_z" not in without[0].evidence  # no pool: the first three signals only
        firsts_without_pool.append(without[0].labels)
    # without the pool the look-alikes' mixed hard cases put them first most of the time
    assert firsts_without_pool.count(("l0", "l1")) >= 3


def test_the_one_label_signal_is_silent_where_look_alikes_read_as_one_group_too(
    monkeypatch,
) -> None:
    """The signal speaks only where the project's candidate pairs typically read as two labels;
    where even they read as one group (a taxonomy of very close intents), it says nothing and
    the ranking is that of the labeled examples alone."""
    pooled, plain = _boundary_look_alikes(0)
    z = merges_module._one_label_z(merges_module.split_views(pooled), [(0, 1), (2, 10), (3, 4)],
                                   seed=0, n_classes=pooled.n_classes)  # fmt: skip
    assert z[(2, 10)] < 1.0 and z[(0, 1)] > 3.0 and float(np.median(list(z.values()))) >= 3.0
    monkeypatch.setattr(merges_module, "ONE_LABEL_Z", 1e6)  # no candidate median reaches it
    silent = propose_merges(pooled, threshold=0.0)
    assert all("one_label_z" not in p.evidence for p in silent)
    assert [(p.labels, p.score) for p in silent] == [
        (p.labels, p.score) for p in propose_merges(plain, threshold=0.0)
    ]


def test_a_merge_needs_enough_examples_of_both_labels() -> None:
    X, y, texts, _ = _blobs(d=32)
    members = np.flatnonzero(y == 3)
    y = y.copy()
    y[members[: MIN_SUPPORT - 1]] = 8  # too few examples under the second name to judge
    names = [f"l{c}" for c in range(8)] + ["l3_bis"]
    assert all("l3_bis" not in p.labels for p in propose_merges(_data(X, y, names, texts)))
    y[members[: MIN_SUPPORT + 2]] = 8
    merges = propose_merges(_data(X, y, names, texts))
    assert merges and merges[0].labels == ("l3", "l3_bis")
    assert merges[0].evidence["probe_z"] < 2 and "shuffled names" in merges[0].message


def test_clean_taxonomy_gets_no_merge_or_split() -> None:
    X, y, texts, _ = _blobs(d=384, seed=3)
    data = _data(X, y, [f"l{c}" for c in range(8)], texts)
    assert propose_merges(data) == []
    assert propose_splits(data) == []


def test_disagreements_raise_the_merge_score() -> None:
    X, y, texts, _ = _blobs(d=32, seed=4)
    data = _data(X, y, [f"l{c}" for c in range(8)], texts)
    quiet = propose_merges(data, threshold=0.0, limit=1)
    rows = np.flatnonzero(y == 2)[:20]
    loud = propose_merges(data, threshold=0.0, disagreements=[(int(r), 2, 5) for r in rows])
    assert loud[0].labels == ("l2", "l5") and loud[0].evidence["disagreements"] == 20
    assert loud[0].score > quiet[0].score


def test_skipped_cluster_becomes_an_addition() -> None:
    X, y, texts, _ = _blobs(n_classes=9, d=64, seed=5)
    known = y < 8  # blob 8 is the missing label: experts skipped its examples
    data = _data(
        X[known],
        y[known],
        [f"l{c}" for c in range(8)],
        [t for t, k in zip(texts, known, strict=True) if k],
    )
    noise = np.random.default_rng(6).normal(size=(4, 64)).astype(np.float32)
    skipped = np.concatenate([X[~known][:12], noise])
    skipped_texts = [t for t, k in zip(texts, known, strict=True) if not k][:12] + [
        f"odd {i}" for i in range(4)
    ]
    adds = propose_additions(data, skipped_embeddings=skipped, skipped_texts=skipped_texts,
                             skipped_ids=list(range(100, 116)))  # fmt: skip
    assert len(adds) == 1
    assert adds[0].labels[0].startswith("india")
    assert set(adds[0].evidence["ids"]) == set(range(100, 112))
    assert adds[0].evidence_strength == 12


def test_rare_labels_suggest_gathering_or_merging() -> None:
    X, y, texts, centres = _blobs(n_classes=6, d=32, seed=7)
    rng = np.random.default_rng(8)
    near = centres[0] + rng.normal(scale=0.1 / np.sqrt(32), size=(2, 32))  # 2 right next to l0
    far = centres[5] + rng.normal(scale=0.6 / np.sqrt(32), size=(3, 32))  # 3 of a distinct label
    keep = y < 5
    X2 = np.concatenate([X[keep], near, far]).astype(np.float32)
    y2 = np.concatenate([y[keep], [5, 5], [6, 6, 6]])
    names = [f"l{c}" for c in range(5)] + ["twin", "lonely", "empty"]
    found = {p.labels[0]: p for p in rare_labels(_data(X2, y2, names, ["t"] * len(y2)))}
    assert set(found) == {"twin", "lonely", "empty"}
    assert found["twin"].evidence["suggestion"] == "merge"
    assert found["twin"].evidence["nearest_label"] == "l0"
    assert found["lonely"].evidence["suggestion"] == "gather_more"
    assert found["empty"].evidence["count"] == 0
    # no examples, no out-of-fold F1 to quote
    assert found["empty"].evidence["f1"] is None and "F1" not in found["empty"].message
    assert found["empty"].message == "empty has no examples yet: gather more examples of empty."


def test_no_label_is_called_too_rare_while_most_labels_are() -> None:
    """At a project's start every label has its few seed labels: "gather more" of each would be
    one channel post per label. A label is too rare once it lags behind the median label."""
    X, y, _, _ = _blobs(n_classes=6, d=32, seed=7)
    names = [f"l{c}" for c in range(6)]
    first = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(6)])  # 3 of each
    assert rare_labels(_data(X[first], y[first], names, ["t"] * len(first))) == []
    # the others reach 5, l5 stays at 3: it lags, and is called too rare
    more = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(5)] + [first[y[first] == 5]])
    found = rare_labels(_data(X[more], y[more], names, ["t"] * len(more)))
    assert [p.labels for p in found] == [("l5",)]


def test_a_poorly_learned_label_with_enough_examples_is_not_called_too_few() -> None:
    """8 examples right next to l0: enough to count as learnable (no rare label in `status`),
    but the model cannot tell them from l0. The rare check says it is hard to learn, and its
    "merge it into l0" is left to the merge proposal for the same pair (one Approve, not two)."""
    X, y, _, centres = _blobs(n_classes=6, d=32, seed=7)
    rng = np.random.default_rng(8)
    twin = centres[0] + rng.normal(scale=0.3 / np.sqrt(32), size=(8, 32))
    keep = y < 5
    data = _data(
        np.concatenate([X[keep], twin]).astype(np.float32),
        np.concatenate([y[keep], [5] * 8]),
        [f"l{c}" for c in range(5)] + ["twin"],
        ["t"] * (int(keep.sum()) + 8),
    )
    (rare,) = rare_labels(data)
    assert rare.evidence["suggestion"] == "merge" and rare.evidence["nearest_label"] == "l0"
    assert "hard to learn from 8 examples" in rare.message and "too few" not in rare.message
    found = propose_all(data)
    assert [(p.kind, p.labels) for p in found if "twin" in p.labels] == [("merge", ("l0", "twin"))]


def test_nothing_is_proposed_that_would_leave_one_label() -> None:
    """With two labels, a merge (or a rare label's "merge it into") would leave a single class,
    which cannot be trained: neither is proposed, however alike the two are."""
    X, y, texts, _ = _blobs(n_classes=1, per=40, d=32)
    y = np.arange(len(y)) % 2  # one blob cut in two: the perfect merge, were there a third label
    y[:36] = 0  # and the second label rare, right next to the first
    data = _data(X, y, ["a", "b"], texts)
    assert propose_merges(data) == []
    (rare,) = rare_labels(data)
    assert rare.labels == ("b",) and rare.evidence["suggestion"] == "gather_more"


def test_keys_are_stable_and_rejections_hold_until_evidence_grows() -> None:
    X, y, texts, _ = _blobs(d=32)
    y = y.copy()
    y[np.flatnonzero(y == 3)[::2]] = 8
    names = [f"l{c}" for c in range(8)] + ["l3_bis"]
    first = propose_all(_data(X, y, names, texts))
    again = propose_all(_data(X, y, names, texts))
    assert [p.key for p in first] == [p.key for p in again]
    top = first[0]
    assert top.key == ("merge", "l3", "l3_bis")
    rejected = {top.key: top.evidence_strength}
    assert top.key not in {p.key for p in propose_all(_data(X, y, names, texts), rejected=rejected)}
    grown = Proposal(**{**top.__dict__, "evidence_strength": top.evidence_strength * 2})
    assert filter_rejected([grown], rejected) == [grown]


def test_every_proposal_carries_evidence_and_serialises() -> None:
    X, y, texts, _ = _blobs(d=64)
    y = np.where(y == 1, 0, y)
    y[np.flatnonzero(y == 3)[::2]] = 1  # l1 is now half of blob 3
    names = [f"l{c}" for c in range(8)]
    proposals = propose_all(_data(X, y, names, texts))
    assert {p.kind for p in proposals} >= {"merge", "split"}
    assert proposals == sorted(proposals, key=lambda p: -p.score)
    for p in proposals:
        d = p.to_dict()
        assert d["evidence"] and d["message"] and d["key"][0] == p.kind
        assert 0.0 <= p.score <= 1.0
