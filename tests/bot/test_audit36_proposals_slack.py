"""Audit 36: what a taxonomy proposal's Slack card says, against the detector's evidence.

A label the rare-label check proposes for a poor out-of-fold F1 although it has enough examples
to count as learnable (``engine.proposals.rare``: "a different complaint", as `labelbot status`
does not call it rare) was told on its card as having "only N examples, too few for the model to
learn". It now says the label is learned poorly, with its F1.
"""

from __future__ import annotations

import json

import numpy as np

from bot.views.proposals import ProposalCard, proposal_message
from engine.proposals import LabeledData
from engine.proposals.rare import MIN_EXAMPLES, rare_labels

D = 16


def _around(axis: int, n: int, rng: np.random.Generator) -> np.ndarray:
    X = np.zeros((n, D))
    X[:, axis] = 1.0
    return X + rng.normal(scale=0.3, size=(n, D))


def test_a_label_hard_to_learn_is_not_called_too_few_on_its_card() -> None:
    """Labels a, b, c of 20 examples each, and d of 8 examples lying where a lies: the check
    proposes d for its out-of-fold F1 (8 examples, past the project's minimum of 5), and its
    message says so ("d is hard to learn from 8 examples (out-of-fold F1 0.10)"). The card
    posted to the channel tells the same reason, not that 8 examples are too few."""
    rng = np.random.default_rng(0)
    X = np.vstack([_around(0, 20, rng), _around(1, 20, rng), _around(2, 20, rng),
                   _around(0, 8, rng)])  # fmt: skip
    y = np.repeat([0, 1, 2, 3], [20, 20, 20, 8])
    data = LabeledData(embeddings=X, labels=y, label_names=["a", "b", "c", "d"],
                       texts=[f"text {i}" for i in range(len(y))])  # fmt: skip
    (rare,) = rare_labels(data)
    assert rare.labels == ("d",) and rare.evidence["count"] == 8 > MIN_EXAMPLES
    assert rare.message.startswith("d is hard to learn from 8 examples")
    card = ProposalCard(id=1, project="bank", kind=rare.kind, labels=list(rare.labels),
                        score=rare.score, message=rare.message, evidence=rare.evidence)  # fmt: skip
    shown = json.dumps(proposal_message(card), ensure_ascii=False)
    assert "too few" not in shown
