"""The mislabel review DM says "Imported as *X*" for a label that came with an imported file,
as the labeling DM and `labelbot review` do: "import" is no person who labeled anything."""

from __future__ import annotations

from bot.views.models import LabelChoice
from bot.views.review import ReviewCard, review_message
from engine.evaluation import IMPORTED


def _question(given_by: str) -> str:
    card = ReviewCard(
        review_id=1, example_id=2, text="t", project="p", given="billing", given_by=given_by,
        suggested="refunds", confidence=0.8,
        labels=[LabelChoice("billing", None, 1), LabelChoice("refunds", None, 2)],
    )  # fmt: skip
    message = review_message(card)
    return str(message["blocks"][0]["text"]["text"])


def test_an_imported_label_reads_as_imported() -> None:
    question = _question(IMPORTED)
    assert question == "Imported as *billing*; the model thinks *refunds* (80%). Which is right?"


def test_a_persons_label_names_them() -> None:
    assert _question("U0ALICE") == (
        "<@U0ALICE> labeled this *billing*; the model thinks *refunds* (80%). Which is right?"
    )
    assert _question("Walter").startswith("Walter labeled this *billing*")
