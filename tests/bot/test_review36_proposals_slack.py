"""review36: what a hard-to-learn label's proposal card says (13e6664), as a strict xfail."""

from __future__ import annotations

import json

import numpy as np

from bot.views.proposals import ProposalCard, proposal_message
from engine import rare as queue_rare
from engine.proposals.rare import MIN_EXAMPLES, _message


def test_a_hard_to_learn_card_does_not_say_the_queue_looks_for_it() -> None:
    """A label of 8 examples (past the minimum of 5) with a poor out-of-fold F1 and no label
    near enough to merge into: the card now says it is learned poorly (13e6664), then "Label
    more of it (the queue already looks for them)". The queue's help for rare labels
    (engine.rare.RareClassBoost, rare_labels: "fewer than minimum examples") does not pick
    its examples, so the card promises what nothing does. At fault: bot/views/proposals.py
    ``plain_reason`` (the advice for a hard-to-learn label: e.g. "label more of it, or
    describe it so experts tell it apart"; say the queue looks only where it does)."""
    counts = np.array([20, 20, 20, 8])
    # the guard: the queue's help leaves the 8-example label out
    assert 3 not in queue_rare.rare_labels(counts, minimum=MIN_EXAMPLES).tolist()
    evidence = {"count": 8, "f1": 0.2, "min_examples": MIN_EXAMPLES, "suggestion": "gather_more",
                "nearest_label": "a", "nearest_label_cosine": 0.41}  # fmt: skip
    message = _message("d", 8, 0.2, "gather more examples of d", min_examples=MIN_EXAMPLES)
    card = ProposalCard(id=1, project="bank", kind="rare", labels=["d"], score=0.8,
                        message=message, evidence=evidence)  # fmt: skip
    shown = json.dumps(proposal_message(card), ensure_ascii=False)
    assert "learned poorly" in shown  # the guard: the hard-to-learn wording is the one shown
    assert "queue already looks" not in shown
