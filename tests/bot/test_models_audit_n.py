"""`/label models` says how many audit labels each version's audit accuracy rests on, as
`labelbot models` does ("audit 100.0% (n=3)"), over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

from engine import labeling, projects, training
from tests.bot.conftest import PROJECT, Bot

ADMIN = "U0ADMIN"


def test_models_line_gives_the_audit_n(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.5, admins=[ADMIN])
    for _ in range(20):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator="U1")
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=bank[task.text],
            annotator="U1", source="slack", key=f"U1:{task.example_id}",
        )  # fmt: skip
    run = training.train_project(bot.ws, PROJECT)
    audit = run.metrics["audit"]
    assert audit["n"] > 0

    bot.slack.command(ADMIN, f"models {PROJECT}")
    bot.settle()
    answer = json.dumps(bot.api.calls("response_url")[-1].params["blocks"], ensure_ascii=False)
    assert re.search(rf"audit {audit['accuracy']:.1%} \(n={audit['n']}\) · CV", answer), answer
