"""Cohen's kappa and Krippendorff's alpha against hand-computed and published values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.agreement import (
    cohen_kappa,
    krippendorff_alpha,
    measure_agreement,
    select_for_multiple_labeling,
)
from storage.errors import InvalidInputError

# Krippendorff 2011, "Computing Krippendorff's alpha-reliability", section C: 4 observers, 12 units,
# values 1-5, None = missing. Published nominal alpha: 0.743.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _triples(table: dict[str, list[int | None]]) -> list[tuple[object, object, object]]:
    return [(u, r, v) for r, row in table.items() for u, v in enumerate(row) if v is not None]


def _two_by_two() -> list[tuple[str, str]]:
    # A said yes/B yes 20, yes/no 5, no/yes 10, no/no 15. By hand: p_o = 35/50 = 0.7;
    # A says yes 25/50, B 30/50, so p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    return [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15


def test_cohen_kappa_on_a_hand_computed_two_by_two_table() -> None:
    assert cohen_kappa(_two_by_two()) == pytest.approx(0.4)


def test_cohen_kappa_edges() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    # opposite on every item with balanced marginals: p_o = 0, p_e = 0.5 -> -1
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # no variation: undefined
    assert cohen_kappa([]) is None


def test_krippendorff_alpha_matches_the_published_example() -> None:
    alpha = krippendorff_alpha(_triples(KRIPPENDORFF_2011))
    assert alpha == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_hand_case_two_raters() -> None:
    # 4 units rated by two coders: (a,a) (a,b) (b,b) (b,b). Coincidences: o_aa = 2, o_ab = o_ba = 1,
    # o_bb = 4; n_a = 3, n_b = 5, n = 8. alpha = 1 - 7 * 2 / (64 - 9 - 25) = 1 - 14/30 = 0.5333.
    ratings = [(0, "x", "a"), (0, "y", "a"), (1, "x", "a"), (1, "y", "b"),
               (2, "x", "b"), (2, "y", "b"), (3, "x", "b"), (3, "y", "b")]  # fmt: skip
    assert krippendorff_alpha(ratings) == pytest.approx(1 - 14 / 30)


def test_measure_agreement_overall_and_per_label() -> None:
    ratings = [(i, "ann", a) for i, (a, _) in enumerate(_two_by_two())]
    ratings += [(i, "bob", b) for i, (_, b) in enumerate(_two_by_two())]
    ratings.append((99, "ann", "y"))  # a lone label: not pairable, ignored
    report = measure_agreement(ratings)
    assert (report.items, report.raters, report.values) == (50, 2, 100)
    assert report.kappa == pytest.approx(0.4)
    assert report.observed == pytest.approx(0.7)
    # alpha = 1 - 99 * 30 / (100^2 - 55^2 - 45^2) = 1 - 2970 / 4950 = 0.4
    assert report.alpha == pytest.approx(0.4)
    by_label = {la.label: la for la in report.per_label}
    # yes chosen 55 times, agreed on in 20 items (40 of those values): 40/55
    assert by_label["y"].n == 55
    assert by_label["y"].specific_agreement == pytest.approx(40 / 55)
    assert by_label["n"].specific_agreement == pytest.approx(30 / 45)
    # with two labels, one-vs-rest equals the overall coefficient
    assert by_label["y"].kappa == pytest.approx(0.4)
    assert by_label["n"].alpha == pytest.approx(0.4)


def test_measure_agreement_many_raters_has_alpha_not_kappa() -> None:
    report = measure_agreement(_triples(KRIPPENDORFF_2011))
    assert report.kappa is None
    assert report.alpha == pytest.approx(0.743, abs=5e-4)
    assert report.items == 11  # unit 12 has a single value
    assert sum(la.n for la in report.per_label) == report.values == 40
    by_label = {la.label: la for la in report.per_label}
    assert by_label[3].specific_agreement is not None and by_label[3].alpha is not None
    assert by_label[3].alpha > by_label[1].alpha  # type: ignore[operator]


def test_a_later_label_replaces_an_earlier_one() -> None:
    ratings = [(0, "ann", "a"), (0, "bob", "b"), (0, "ann", "b"), (1, "ann", "a"), (1, "bob", "a")]
    report = measure_agreement(ratings)
    assert report.observed == pytest.approx(1.0)
    assert report.kappa == pytest.approx(1.0)


def test_select_for_multiple_labeling_share_and_always() -> None:
    candidates = np.arange(10_000)
    chosen = select_for_multiple_labeling(candidates, rng=np.random.default_rng(0))
    assert 0.09 < len(chosen) / len(candidates) < 0.11
    assert set(chosen.tolist()) <= set(candidates.tolist())
    again = select_for_multiple_labeling(candidates, rng=np.random.default_rng(0))
    assert np.array_equal(chosen, again)
    audit = np.array([3, 5, 7])
    picked = select_for_multiple_labeling(
        np.arange(10), share=0.0, rng=np.random.default_rng(1), always=audit
    )
    assert picked.tolist() == [3, 5, 7]
    # small batches still get chosen over time (a fixed round(0.1 * 5) would be 0 forever)
    rng = np.random.default_rng(2)
    total = sum(len(select_for_multiple_labeling(np.arange(5), rng=rng)) for _ in range(200))
    assert 60 < total < 140
    with pytest.raises(InvalidInputError):
        select_for_multiple_labeling(candidates, share=1.5, rng=rng)
