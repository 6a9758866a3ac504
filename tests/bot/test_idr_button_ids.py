"""A signed click whose button carries an id past what the database's id columns hold: every
id column is an INTEGER on PostgreSQL, where such an id made the query fail ("integer out of
range") and the clicker was told "The database refused a value"; on SQLite the same click was
"No example with id N". On both it is now the answer to any button labelbot cannot read: out
of date, nothing changed."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from bot import ids
from bot.listeners.shape import read
from storage.errors import StaleActionError
from storage.models import ID_MAX
from tests.bot.conftest import Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, example_id

EXPERT = "U0EXPERT"
PAST = ID_MAX + 1  # 2**31: the first id PostgreSQL's INTEGER refuses


def _click(bot: Bot, action_id: str, value: str) -> tuple[int, str]:
    bot.slack.command(EXPERT, "")
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    choice = choices(message)[0]
    action_id = choice.action_id if action_id == "label" else action_id
    value = value.format(eid=example_id(message))
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    payload = bot.slack.action_payload(
        EXPERT, message, action_id, value, block_id=choice.block_id,
        selected_option=option if action_id == ids.SNOOZE else None,
    )  # fmt: skip
    response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    return response.status_code, bot.slack.ephemerals(EXPERT)[-1]


def _stored(bot: Bot) -> dict[str, int]:
    with bot.ws.db.connect() as connection:
        return {
            table: int(connection.execute(sa.text(f"select count(*) from {table}")).scalar_one())
            for table in ("annotations", "flags", "comments")
        }


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("label", f"{PAST}/1"),  # the example's id
        ("label", f"{{eid}}/{PAST}"),  # the label's id
        (ids.SKIP, str(PAST)),
        (ids.FLAG, str(PAST)),
        (ids.REVIEW_KEEP, f"{PAST}/{{eid}}/1"),  # the review's id
        (ids.SNOOZE, f"{2**40}|1h"),
        (f"{ids.SETTLE}:0", f"{PAST}/1"),
    ],
)
def test_an_id_past_the_databases_integers_is_out_of_date(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, action_id: str, value: str
) -> None:
    before = _stored(bot)
    status, answer = _click(bot, action_id, value)
    assert status == 200
    assert "out of date" in answer and "Nothing was changed" in answer, answer
    assert "database" not in answer
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert _stored(bot) == before


def test_the_largest_id_a_row_can_have_is_looked_up(bot: Bot, bank: dict[str, str]) -> None:
    """The limit is the database's, not lower: an id at it names no example, and says so."""
    status, answer = _click(bot, ids.SKIP, str(ID_MAX))
    assert status == 200
    assert f"No example with id {ID_MAX}" in answer


def test_read_takes_ids_up_to_postgresqls_integer() -> None:
    assert ID_MAX == 2**31 - 1
    assert read(int, str(ID_MAX)) == ID_MAX
    for value in (str(ID_MAX + 1), str(2**63 - 1), "0"):
        with pytest.raises(StaleActionError):
            read(int, value)
