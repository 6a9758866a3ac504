"""Per-project settings that people change (CLI `labelbot project set`, Slack `/label settings`).

One place validates them, so a schedule or timezone that would silently stop digests, or an audit
share that would starve training, is refused the same way from the terminal and from Slack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import projects
from engine.workspace import Workspace
from storage.errors import InvalidInputError
from storage.models import Annotation, LabelEvent, Project

# What each setting means; the keys are what `/label settings` accepts as key=value.
EDITABLE: dict[str, str] = {
    "retrain_every": "retrain after this many new labels (integer ≥ 1)",
    "retrain_minutes": "... or this many minutes after the last model, if any label arrived",
    "digest_cron": "digest schedule as crontab, e.g. '0 9 * * mon-fri'; 'off' for none",
    "timezone": "IANA timezone of the digest schedule, e.g. Europe/Berlin",
    "audit_share": "share of deliveries drawn at random for honest metrics (0 to 0.5)",
    "target_accuracy": "accuracy the forecast aims at (0 to 1)",
    "batch_size": "examples ranked per query round (integer ≥ 1)",
    "strategy": "query strategy name",
    "admins": "comma-separated Slack user ids who administer the project",
}
_INTS = ("retrain_every", "batch_size")
_FLOATS = ("retrain_minutes", "audit_share", "target_accuracy")
# Upper bounds: far past any real use, yet small enough that the scheduler's timedelta and the
# query rounds cannot overflow (a year of minutes; a retrain after a million labels).
MAX_RETRAIN_MINUTES = 365 * 24 * 60
MAX_RETRAIN_EVERY = 1_000_000
MAX_BATCH_SIZE = 10_000


# Options stored in a column of limited width (storage/models.py): checked up front, because
# PostgreSQL refuses a longer value only at INSERT time (SQLite keeps it silently).
MAX_LENGTHS: dict[str, int] = {
    "channel": Project.__table__.c.channel_id.type.length,  # type: ignore[attr-defined]
    "actor": LabelEvent.__table__.c.actor.type.length,  # type: ignore[attr-defined]
    "annotator": Annotation.__table__.c.annotator.type.length,  # type: ignore[attr-defined]
}


def check_lengths(values: Mapping[str, object]) -> None:
    """Refuse a channel id, actor or annotator longer than its column (others are ignored)."""
    for key, most in MAX_LENGTHS.items():
        value = values.get(key)
        if isinstance(value, str) and len(value) > most:
            raise InvalidInputError(
                f"{key} is too long ({len(value)} characters, at most {most}): {value[:20]!r}..."
            )


def parse_settings(pairs: Mapping[str, str]) -> dict[str, Any]:
    """Typed values from text (``{"retrain_every": "30"}`` → ``{"retrain_every": 30}``)."""
    parsed: dict[str, Any] = {}
    for key, text in pairs.items():
        if key not in EDITABLE:
            raise InvalidInputError(f"unknown setting {key!r}: use {', '.join(EDITABLE)}")
        try:
            if key in _INTS:
                parsed[key] = int(text)
            elif key in _FLOATS:
                parsed[key] = float(text)
            elif key == "admins":
                parsed[key] = [a.strip().strip("<@>") for a in text.split(",") if a.strip()]
            else:
                parsed[key] = text
        except ValueError:
            kind = "a whole number" if key in _INTS else "a number"
            raise InvalidInputError(f"setting {key} must be {kind}, not {text!r}") from None
    return parsed


def check_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate typed changes; returns those that are set (None means "leave as is")."""
    from engine.jobs import DIGEST_OFF, next_digest_time
    from engine.strategies import get_strategy
    from storage.models import utcnow

    checked = {k: v for k, v in changes.items() if v is not None}
    for key in checked:
        if key not in EDITABLE:
            raise InvalidInputError(f"unknown setting {key!r}: use {', '.join(EDITABLE)}")
    if "timezone" in checked:
        try:
            ZoneInfo(str(checked["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInputError(
                f"unknown timezone {checked['timezone']!r} (e.g. Europe/Berlin)"
            ) from None
    for key in _FLOATS:  # inf and nan pass every comparison below but break the scheduler
        if key in checked and not math.isfinite(float(checked[key])):
            raise InvalidInputError(f"setting {key} must be a finite number, not {checked[key]}")
    for key, most in (("retrain_every", MAX_RETRAIN_EVERY), ("batch_size", MAX_BATCH_SIZE)):
        if key in checked and not 1 <= int(checked[key]) <= most:
            raise InvalidInputError(f"setting {key} must be between 1 and {most:,}")
    if "retrain_minutes" in checked and not 0 < float(checked["retrain_minutes"]) <= (
        MAX_RETRAIN_MINUTES
    ):
        raise InvalidInputError(
            f"setting retrain_minutes must be more than 0 and at most {MAX_RETRAIN_MINUTES:,} "
            "(a year)"
        )
    if "audit_share" in checked and not 0 <= float(checked["audit_share"]) <= 0.5:
        raise InvalidInputError("setting audit_share must be between 0 and 0.5")
    if "target_accuracy" in checked and not 0 < float(checked["target_accuracy"]) <= 1:
        raise InvalidInputError("setting target_accuracy must be between 0 and 1 (e.g. 0.9)")
    if "strategy" in checked:
        get_strategy(str(checked["strategy"]))
    if "digest_cron" in checked:  # a bad schedule would stop digests: refuse it before storing
        probe = Project(name="probe", settings={"digest_cron": checked["digest_cron"]})
        off = str(checked["digest_cron"]) in DIGEST_OFF
        if next_digest_time(probe, after=utcnow()) is None and not off:  # e.g. 30 February
            raise InvalidInputError(
                f"digest schedule {checked['digest_cron']!r} never fires: check the day and "
                "month, or use 'off' for no digests"
            )
    return checked


def change_settings(ws: Workspace, *, project: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store ``changes``; returns all of the project's settings."""
    checked = check_settings(changes)
    return projects.update_settings(ws, project=project, **checked)
