"""Per-project settings that people change (CLI `labelbot project set`, Slack `/label settings`).

One place validates them, so a schedule or timezone that would silently stop digests, or an audit
share that would starve training, is refused the same way from the terminal and from Slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import projects
from engine.workspace import Workspace
from storage.errors import InvalidInputError

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
    from engine.jobs import next_digest_time
    from engine.strategies import get_strategy
    from storage.models import Project, utcnow

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
    for key in _INTS:
        if key in checked and int(checked[key]) < 1:
            raise InvalidInputError(f"setting {key} must be at least 1")
    if "retrain_minutes" in checked and float(checked["retrain_minutes"]) <= 0:
        raise InvalidInputError("setting retrain_minutes must be more than 0")
    if "audit_share" in checked and not 0 <= float(checked["audit_share"]) <= 0.5:
        raise InvalidInputError("setting audit_share must be between 0 and 0.5")
    if "target_accuracy" in checked and not 0 < float(checked["target_accuracy"]) <= 1:
        raise InvalidInputError("setting target_accuracy must be between 0 and 1 (e.g. 0.9)")
    if "strategy" in checked:
        get_strategy(str(checked["strategy"]))
    if "digest_cron" in checked:  # a bad schedule would stop digests: refuse it before storing
        probe = Project(name="probe", settings={"digest_cron": checked["digest_cron"]})
        next_digest_time(probe, after=utcnow())
    return checked


def change_settings(ws: Workspace, *, project: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store ``changes``; returns all of the project's settings."""
    checked = check_settings(changes)
    return projects.update_settings(ws, project=project, **checked)
