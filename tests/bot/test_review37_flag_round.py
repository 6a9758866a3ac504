"""review37: flag threads the lighter flag round of fix37 (bot.flag_threads._follow) no
longer redraws. Harness of tests/bot/test_fix37_flag_round.py (another process: its own
``seen``; the terminal: engine calls)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from bot import flag_threads
from engine import flags, labeling
from storage.models import DiscussionThread, Example
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_audit37_long_life import ADMIN
from tests.bot.test_fix37_flag_round import _resolved_flags


def _root(bot: Bot, example_id: int) -> str:
    thread = flags.flag_thread(bot.ws, example_id=example_id)
    assert thread is not None
    return str(next(m for m in bot.api.messages(CHANNEL) if m["ts"] == thread.thread_ts))


def test_flagged_and_resolved_again_between_rounds_is_redrawn(bot: Bot, bank: Any) -> None:
    seen: dict[Any, object] = {}
    (example_id,) = _resolved_flags(bot, 1)
    flag_threads.post_all_flags(bot.services, seen=seen)  # drawn resolved
    flag_threads.post_all_flags(bot.services, seen=seen)  # quiet
    # from the terminal (or another replica), between two rounds of this process
    labeling.flag(bot.ws, project=PROJECT, example_id=example_id, annotator=ADMIN,
                  reason="wrong language entirely")  # fmt: skip
    flags.resolve_flags(bot.ws, project=PROJECT, example_id=example_id, actor="U0OPS")
    updates = len(bot.api.calls("chat.update"))
    flag_threads.post_all_flags(bot.services, seen=seen)
    assert len(bot.api.calls("chat.update")) == updates + 1
    assert "wrong language entirely" in _root(bot, example_id)


def test_a_thread_committed_out_of_id_order_is_still_drawn(bot: Bot, bank: Any) -> None:
    seen: dict[Any, object] = {}
    with Session(bot.ws.db) as session:
        some = session.exec(select(Example.id).order_by(col(Example.id))).first()
        assert some is not None
        gap = DiscussionThread(example_id=int(some), channel="C0GAP", thread_ts="1.1",
                               opened_by="U0X")  # fmt: skip
        session.add(gap)
        session.commit()
        gap_id = int(gap.id or 0)
        session.delete(gap)  # an id handed out, its row not committed yet
        session.commit()
    _resolved_flags(bot, 1)  # a higher id, committed first
    flag_threads.post_all_flags(bot.services, seen=seen)
    flag_threads.post_all_flags(bot.services, seen=seen)  # quiet: read past gap_id
    (late,) = _resolved_flags(bot, 1)  # another process: opened, then resolved
    with Session(bot.ws.db) as session:  # ... under the lower id it had been handed
        row = session.exec(select(DiscussionThread).where(
            DiscussionThread.example_id == late, DiscussionThread.kind == flags.FLAGGED
        )).one()  # fmt: skip
        assert int(row.id or 0) > gap_id
        session.execute(
            DiscussionThread.__table__.update()  # type: ignore[attr-defined]
            .where(DiscussionThread.__table__.c.id == row.id)  # type: ignore[attr-defined]
            .values(id=gap_id)
        )
        session.commit()
    updates = len(bot.api.calls("chat.update"))
    flag_threads.post_all_flags(bot.services, seen=seen)
    flag_threads.post_all_flags(bot.services, seen=seen)
    assert len(bot.api.calls("chat.update")) == updates + 1  # drawn resolved once
