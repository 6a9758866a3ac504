"""Two preference changes for a new user at once both land (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from storage.db import make_engine, session_scope
from storage.repositories import people


def test_concurrent_first_changes_for_one_user_both_stick(db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    errors: list[BaseException] = []
    for round_ in range(5):
        user = f"U{round_}"
        barrier = threading.Barrier(2)

        def change(fields: dict[str, object], user: str = user, barrier=barrier) -> None:  # type: ignore[no-untyped-def]
            engine = make_engine(url, schema=schema)
            try:
                barrier.wait()
                with session_scope(engine) as s:
                    people.save_person(session=s, user_id=user, **fields)
            except BaseException as exc:  # collected and checked in the main thread
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [
            threading.Thread(target=change, args=({"nudge_at": 570},)),
            threading.Thread(target=change, args=({"quiet_start": 540, "quiet_end": 660},)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        engine = make_engine(url, schema=schema)
        with session_scope(engine) as s:
            person = people.get_person(session=s, user_id=user)
            assert person is not None
            assert (person.nudge_at, person.quiet_start, person.quiet_end) == (570, 540, 660)
        engine.dispose()
    assert errors == []
