"""An audit slot with no unlabeled example left to draw: the queue's next example comes instead.
Before, the claim returned nothing, no assignment was made, so the delivery count that made it an
audit slot never moved: every expert was told "nothing left to label" for good while second
opinions still waited (found by an audit) -- on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import labeling, projects
from tests.helpers import label_next, load_slice


def test_second_opinions_left_at_the_end_are_all_delivered(
    ws: Any, banking_slice: Any, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice[:18], tmp_path)
    projects.update_settings(ws, project="bank", multi_label_share=1.0, multi_label_k=2,
                             audit_share=0.1)  # fmt: skip
    label_next(ws, truth, 18, annotators=("U1",))  # every example, each wanting a second opinion
    assert labeling.next_task(ws, project="bank", annotator="U1") is None

    given = 0
    while (task := labeling.next_task(ws, project="bank", annotator="U2")) is not None:
        labeling.submit_label(ws, project="bank", example_id=task.example_id,
                              label=truth[task.text], annotator="U2", source="cli",
                              key=f"U2:{task.example_id}")  # fmt: skip
        given += 1
        assert given <= 18, "an example was asked twice"

    assert given == 18  # every second opinion, past the audit slots among them
    assert labeling.next_task(ws, project="bank", annotator="U3") is None  # and none is left
