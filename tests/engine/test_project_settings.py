"""Settings people change (`labelbot project set`, `/label settings`): one validation for both."""

from __future__ import annotations

import pytest

from engine.project_settings import (
    MAX_RETRAIN_MINUTES,
    check_lengths,
    check_settings,
    parse_settings,
)
from storage.errors import InvalidInputError


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "Infinity"])
@pytest.mark.parametrize("key", ["retrain_minutes", "audit_share", "target_accuracy"])
def test_non_finite_numbers_are_refused(key: str, text: str) -> None:
    # Slack's `/label settings retrain_minutes=inf` parses, then checks: both steps together
    with pytest.raises(InvalidInputError, match=f"{key} must be"):
        check_settings(parse_settings({key: text}))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retrain_minutes", MAX_RETRAIN_MINUTES + 1),
        ("retrain_minutes", 2e12),  # stored on PostgreSQL, then overflowed the scheduler
        ("retrain_every", 10**12),
        ("batch_size", 10**9),
    ],
)
def test_absurdly_large_values_are_refused(key: str, value: float) -> None:
    with pytest.raises(InvalidInputError, match=f"setting {key} must be"):
        check_settings({key: value})


def test_sensible_values_pass() -> None:
    checked = check_settings(
        {"retrain_minutes": MAX_RETRAIN_MINUTES, "retrain_every": 50, "batch_size": 100}
    )
    assert checked == {
        "retrain_minutes": MAX_RETRAIN_MINUTES,
        "retrain_every": 50,
        "batch_size": 100,
    }


def test_a_digest_schedule_that_never_fires_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="never fires"):
        check_settings({"digest_cron": "0 0 30 2 *"})  # 30 February
    assert check_settings({"digest_cron": "off"}) == {"digest_cron": "off"}
    assert check_settings({"digest_cron": "0 9 29 2 *"})  # 29 February: fires in leap years


def test_stored_values_longer_than_their_column_are_refused() -> None:
    with pytest.raises(
        InvalidInputError, match=r"channel is too long \(80 characters, at most 64\)"
    ):
        check_lengths({"channel": "C" * 80})
    with pytest.raises(InvalidInputError, match="actor is too long"):
        check_lengths({"actor": "u" * 201, "name": "x" * 500})
    check_lengths({"channel": "C" * 64, "annotator": "u" * 200, "actor": None, "name": "x" * 500})
