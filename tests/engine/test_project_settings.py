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


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("review_share", "0.25", 0.25),
        ("review_share", "1", 1.0),  # a review whenever one waits: labeling goes on between
        ("multi_label_share", "0", 0.0),
        ("multi_label_k", "3", 3),
        ("multi_label_audit", "on", True),
        ("multi_label_audit", "No", False),
        ("rare_boost", "0", False),
        ("rare_boost", "TRUE", True),
        ("rare_minimum", "8", 8),
    ],
)
def test_documented_knobs_are_settable(key: str, text: str, value: object) -> None:
    # each setting the README and the engine name, as Slack's `/label settings` passes it
    assert check_settings(parse_settings({key: text})) == {key: value}


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("review_share", "1.5", "setting review_share must be between 0 and 1"),
        ("review_share", "-0.1", "setting review_share must be between 0 and 1"),
        ("review_share", "nan", "setting review_share must be a finite number"),
        ("multi_label_share", "inf", "setting multi_label_share must be a finite number"),
        ("multi_label_share", "2", "setting multi_label_share must be between 0 and 1"),
        ("multi_label_k", "1", "setting multi_label_k must be between 2 and 10"),
        ("multi_label_k", "50", "setting multi_label_k must be between 2 and 10"),
        ("multi_label_k", "2.5", "setting multi_label_k must be a whole number"),
        ("multi_label_audit", "maybe", "setting multi_label_audit must be true or false"),
        ("rare_boost", "2", "setting rare_boost must be true or false"),
        ("rare_minimum", "0", "setting rare_minimum must be between 1 and 1,000"),
        ("rare_minimum", "5000", "setting rare_minimum must be between 1 and 1,000"),
    ],
)
def test_documented_knobs_refuse_bad_values(key: str, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_settings(parse_settings({key: text}))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_switch_must_be_a_boolean_when_typed() -> None:
    with pytest.raises(InvalidInputError, match="rare_boost must be true or false"):
        check_settings({"rare_boost": "off"})  # a typed caller passes True/False, not text
    assert check_settings({"rare_boost": False}) == {"rare_boost": False}


def test_shown_settings_fill_in_defaults_and_hide_bookkeeping() -> None:
    from engine.project_settings import EDITABLE, shown_settings
    from storage.models import Project

    project = Project(
        name="p",
        channel_id="C9",
        settings={
            "retrain_every": 30,
            "rare_boost": False,
            "admins": ["U1", "U2"],
            "taxonomy_changed_at": "2026-12-01T15:06:48",
            "proposals_refreshed_at": "2026-12-01T15:04:02",
            "pinned_version": None,
        },
    )
    shown = shown_settings(project)
    assert list(shown) == ["channel", *EDITABLE]
    assert shown["channel"] == "C9"
    assert shown["retrain_every"] == "30" and shown["rare_boost"] == "false"
    assert shown["admins"] == "U1, U2"
    assert shown["retrain_minutes"] == "10.0 (default)"
    assert shown["audit_share"] == "0.1 (default)"
    assert shown["review_share"] == "0.1 (default)"
    assert shown["multi_label_k"] == "2 (default)"
    assert shown["multi_label_audit"] == "false (default)"
    assert shown["rare_minimum"] == "5 (default)"
    assert shown["timezone"] == "UTC (default)"
    bare = shown_settings(Project(name="q", settings={}))
    assert bare["channel"] == "none" and bare["admins"].startswith("none")


@pytest.mark.parametrize("name", ["America", "Europe/", "x" * 300, "Mars/Olympus"])
def test_a_timezone_that_names_no_zone_is_refused_plainly(name: str) -> None:
    """A folder of the tz database ("America") escaped as IsADirectoryError, an over-long
    name as OSError: a traceback from `labelbot project set`, where a clear error belongs."""
    with pytest.raises(InvalidInputError, match="unknown timezone"):
        check_settings({"timezone": name})


@pytest.mark.parametrize("text", ["off", "OFF", " Off ", "", "  ", "none", "None"])
def test_digests_are_switched_off_by_any_way_of_writing_off(text: str) -> None:
    """'OFF' was refused ("Wrong number of fields; got 1, expected 5"), and an empty value was
    stored as it was: digests off, but the settings showed a blank `digest_cron = `."""
    assert check_settings(parse_settings({"digest_cron": text})) == {"digest_cron": "off"}


def test_a_schedule_is_stored_without_the_spaces_around_it() -> None:
    assert check_settings({"digest_cron": " 0 9 * * 1-5 "}) == {"digest_cron": "0 9 * * 1-5"}


def test_spaces_around_a_text_setting_are_no_part_of_it() -> None:
    """`labelbot project set p --timezone ' Europe/Berlin'` was refused as an unknown timezone,
    while `/label settings` read the same value (its words split at spaces)."""
    assert check_settings({"timezone": " Europe/Berlin ", "strategy": " margin\t"}) == {
        "timezone": "Europe/Berlin",
        "strategy": "margin",
    }
