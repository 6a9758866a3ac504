"""How much do the experts agree? Chance-corrected agreement from (item, rater, label) triples.

* Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales") when exactly two
  raters labeled: ``(p_o - p_e) / (1 - p_e)`` over the items both labeled, with each rater's own
  label distribution for chance.
* Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"):
  any number of raters, any of them missing on any item; items with one label are not pairable
  and drop out. ``1 - D_o / D_e`` from the coincidence matrix.

Per label, two views: **specific agreement** ``o_cc / n_c`` (of the times someone chose c, how
often another rater of the same item also chose c; Fleiss 1971's positive agreement generalised
through the coincidence matrix) says where the team disagrees, and **one-vs-rest** kappa/alpha
(labels recoded as c / not c) corrects it for chance, which matters for rare labels: two raters
who never choose a rare label agree on "not c" without trying.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from storage.errors import InvalidInputError

__all__ = [
    "DEFAULT_LABELERS",
    "DEFAULT_SHARE",
    "Agreement",
    "LabelAgreement",
    "chosen_for_multiple_labeling",
    "cohen_kappa",
    "krippendorff_alpha",
    "measure_agreement",
    "select_for_multiple_labeling",
]

DEFAULT_SHARE = 0.1  # issue 6: a tenth of delivered examples get a second opinion
DEFAULT_LABELERS = 2  # experts per multiply-labeled example

Rating = tuple[Hashable, Hashable, Hashable]  # (item, rater, label)


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement on one label: ``n`` pairable values chose it; None where undefined."""

    label: Hashable
    n: int
    specific_agreement: float | None
    kappa: float | None  # one-vs-rest, only with exactly two raters
    alpha: float | None  # one-vs-rest


@dataclass(frozen=True)
class Agreement:
    """Overall and per-label agreement over the items with two or more labels."""

    items: int
    raters: int
    values: int  # pairable labels (Krippendorff's n)
    observed: float | None  # share of agreeing rater pairs (Krippendorff's A_o)
    kappa: float | None  # Cohen 1960, only with exactly two raters
    alpha: float | None
    per_label: list[LabelAgreement]


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of (rater A's label, rater B's label) pairs; None if chance agreement is 1."""
    if not pairs:
        return None
    labels = sorted({v for pair in pairs for v in pair}, key=repr)
    code = {v: i for i, v in enumerate(labels)}
    a = np.array([code[p[0]] for p in pairs])
    b = np.array([code[p[1]] for p in pairs])
    observed = float(np.mean(a == b))
    chance = float(np.dot(np.bincount(a, minlength=len(labels)),
                          np.bincount(b, minlength=len(labels)))) / len(pairs) ** 2  # fmt: skip
    if chance >= 1.0:
        return None  # both raters always gave the one same label: agreement is not measurable
    return (observed - chance) / (1.0 - chance)


def krippendorff_alpha(ratings: Iterable[Rating]) -> float | None:
    """Nominal Krippendorff's alpha of (item, rater, label) triples; None without variation."""
    units = _units(ratings)
    return _alpha(_coincidences(units, _label_codes(units)))


def measure_agreement(ratings: Iterable[Rating]) -> Agreement:
    """Overall and per-label agreement; a rater's later label for an item replaces the earlier."""
    units = _units(ratings)
    codes = _label_codes(units)
    raters = {r for unit in units.values() for r in unit}
    coincidence = _coincidences(units, codes)
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    two = sorted(raters, key=repr) if len(raters) == 2 else None
    pairs = _pairs(units, two) if two else []
    per_label = []
    for label, c in codes.items():
        binary: dict[Hashable, dict[Hashable, Hashable]] = {
            u: {r: v == label for r, v in unit.items()} for u, unit in units.items()
        }
        per_label.append(LabelAgreement(
            label=label, n=int(round(n_c[c])),
            specific_agreement=float(coincidence[c, c] / n_c[c]) if n_c[c] else None,
            kappa=cohen_kappa([(a == label, b == label) for a, b in pairs]) if two else None,
            alpha=_alpha(_coincidences(binary, {False: 0, True: 1})),
        ))  # fmt: skip
    per_label.sort(key=lambda la: (-la.n, repr(la.label)))
    return Agreement(
        items=sum(len(unit) >= 2 for unit in units.values()),
        raters=len(raters),
        values=int(round(n)),
        observed=float(np.trace(coincidence) / n) if n else None,
        kappa=cohen_kappa(pairs) if two else None,
        alpha=_alpha(coincidence),
        per_label=per_label,
    )


def select_for_multiple_labeling(
    candidates: np.ndarray,
    *,
    share: float = DEFAULT_SHARE,
    rng: np.random.Generator,
    always: np.ndarray | None = None,
) -> np.ndarray:
    """The delivered ``candidates`` that ``DEFAULT_LABELERS`` experts should each label.

    Each is chosen independently with probability ``share`` rather than a fixed count per call:
    batches are small (5), and ``round(0.1 * 5)`` would never choose any. Chosen at random, not by
    uncertainty, so the agreement measured estimates agreement on what the team labels.
    ``always`` (e.g. the audit examples, when the project asks) are chosen whatever the draw.
    Returns the chosen candidates in their given order.
    """
    if not 0.0 <= share <= 1.0:
        raise InvalidInputError(f"share must lie in [0, 1]; got {share}")
    candidates = np.asarray(candidates, dtype=np.int64)
    chosen = rng.random(len(candidates)) < share
    if always is not None:
        chosen |= np.isin(candidates, np.asarray(always, dtype=np.int64))
    return candidates[chosen]


def chosen_for_multiple_labeling(project_id: int, example_id: int, *, share: float) -> bool:
    """Whether ``example_id`` is one of the ``share`` of examples several experts should label.

    A deterministic draw seeded by project and example (a hash, uniform on [0, 1)), so asking
    again (a re-delivery, another process) gives the same answer, and the choice is independent
    of how uncertain the example is, like :func:`select_for_multiple_labeling`'s.
    """
    if not 0.0 <= share <= 1.0:
        raise InvalidInputError(f"share must lie in [0, 1]; got {share}")
    digest = hashlib.blake2b(f"{project_id}:{example_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share


def _units(ratings: Iterable[Rating]) -> dict[Hashable, dict[Hashable, Hashable]]:
    """item -> {rater: label}; later triples for the same (item, rater) win."""
    units: dict[Hashable, dict[Hashable, Hashable]] = {}
    for triple in ratings:
        if len(triple) != 3:
            raise InvalidInputError(f"ratings are (item, rater, label) triples; got {triple!r}")
        item, rater, label = triple
        units.setdefault(item, {})[rater] = label
    return units


def _label_codes(units: dict[Hashable, dict[Hashable, Hashable]]) -> dict[Hashable, int]:
    labels = sorted({v for unit in units.values() for v in unit.values()}, key=repr)
    return {v: i for i, v in enumerate(labels)}


def _coincidences(
    units: dict[Hashable, dict[Hashable, Hashable]], codes: dict[Hashable, int]
) -> np.ndarray:
    """Krippendorff's coincidence matrix: o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)."""
    o = np.zeros((len(codes), len(codes)), dtype=np.float64)
    for unit in units.values():
        m = len(unit)
        if m < 2:
            continue  # a lone label has nobody to agree with
        counts = np.bincount([codes[v] for v in unit.values()], minlength=len(codes))
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    return o


def _alpha(coincidence: np.ndarray) -> float | None:
    """alpha = 1 - (n - 1) * disagreeing pairs / expected disagreeing pairs (nominal metric)."""
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    expected = n * n - float(np.dot(n_c, n_c))
    if n < 2 or expected <= 0:
        return None  # every pairable value is the same label: no variation to agree on
    return float(1.0 - (n - 1) * (n - np.trace(coincidence)) / expected)


def _pairs(
    units: dict[Hashable, dict[Hashable, Hashable]], raters: list[Hashable]
) -> list[tuple[Hashable, Hashable]]:
    """(first rater's label, second rater's label) for the items both labeled."""
    a, b = raters
    return [(unit[a], unit[b]) for unit in units.values() if a in unit and b in unit]
