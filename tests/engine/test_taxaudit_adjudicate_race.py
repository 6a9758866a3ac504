"""An adjudication made while a taxonomy change is being applied (an admin's Settle click in a
disagreement thread, `labelbot adjudicate` in another terminal) waits for the change and is
answered by the new taxonomy, as a label click is: settling on a label being split is refused
with where it went, and nothing is stored under a label that no longer counts. SQLite and
PostgreSQL, two connections (two processes)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from engine import consensus, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.repositories import feedback


def test_an_adjudication_during_a_split_waits_and_is_refused(  # type: ignore[no-untyped-def]
    ws, db_url_and_schema, encoder, tmp_path: Path
) -> None:
    projects.create_project(ws, name="p", labels=["fx", "card", "atm"])
    path = tmp_path / "p.csv"
    path.write_text("text,label\nwhat rate do you use,card\nmy card is late,card\n", "utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    example_id = 1
    _, schema = db_url_and_schema
    inside = threading.Event()
    outcome: list[Any] = []

    def admin_settles() -> None:
        other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        try:
            assert inside.wait(30)
            try:
                settled = consensus.adjudicate(
                    other, project="p", example_id=example_id, label="fx", actor="U0ADMIN"
                )
                outcome.append(settled)
            except StaleActionError as exc:
                outcome.append(exc)
        finally:
            other.close()

    def slowly(session: Any, details: dict[str, Any], event_id: int) -> None:
        inside.set()  # the split is applied, not committed: the adjudication comes now
        time.sleep(1.5)

    settler = threading.Thread(target=admin_settles)
    settler.start()
    with taxonomy.committing_with(slowly):
        taxonomy.split_label(ws, project="p", label="fx", into=["fx_buy", "fx_sell"],
                             actor="ana", rescore=False)  # fmt: skip
    settler.join(timeout=60)

    (answer,) = outcome
    assert isinstance(answer, StaleActionError), answer
    assert "split into fx_buy, fx_sell" in str(answer)
    with session_scope(ws.db, read_only=True) as session:
        rows = feedback.example_annotations(session=session, example_id=example_id)
    assert [r.source for r in rows] == ["import"], rows  # no adjudication under a split label
    assert feedback.agreed_label(rows) == "card"
