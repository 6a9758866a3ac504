"""Per-project settings that people change (CLI `labelbot project set`, Slack `/label settings`).

One place validates them, so a schedule or timezone that would silently stop digests, or an audit
share that would starve training, is refused the same way from the terminal and from Slack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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
    "review_share": "share of each expert's deliveries that are mislabel reviews, when one waits "
    "(0 to 1)",
    "multi_label_share": "share of examples labeled blind by several experts, for agreement "
    "(0 to 1)",
    "multi_label_k": "experts who each label one of those examples (integer, 2 to 10)",
    "multi_label_audit": "every audit example is labeled by several experts too (true/false)",
    "rare_boost": "mix likely examples of rare labels into each batch (true/false)",
    "rare_minimum": "labels a class needs to stop counting as too rare to learn (integer ≥ 1)",
    "guests": "whether Slack guest accounts (single- and multi-channel guests) may use the "
    "project: allow or deny",
}
_INTS = ("retrain_every", "batch_size", "multi_label_k", "rare_minimum")
_FLOATS = (
    "retrain_minutes",
    "audit_share",
    "target_accuracy",
    "review_share",
    "multi_label_share",
)
_BOOLS = ("multi_label_audit", "rare_boost")
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")
# `guests`: whether Slack's guest accounts (users.info is_restricted / is_ultra_restricted) may
# use the project; they may not unless its admins say so.
GUESTS_ALLOW, GUESTS_DENY = "allow", "deny"
# Upper bounds: far past any real use, yet small enough that the scheduler's timedelta and the
# query rounds cannot overflow (a year of minutes; a retrain after a million labels).
MAX_RETRAIN_MINUTES = 365 * 24 * 60
MAX_RETRAIN_EVERY = 1_000_000
MAX_BATCH_SIZE = 10_000
# A second opinion waits until k experts gave theirs: more than a team has would leave its
# examples waiting for good, and agreement is measured well from two or three.
MAX_LABELERS = 10
MAX_RARE_MINIMUM = 1_000  # the rare-label help gets a share of each batch until every label has it
# (least, most) of each whole-number setting
_INT_RANGES: dict[str, tuple[int, int]] = {
    "retrain_every": (1, MAX_RETRAIN_EVERY),
    "batch_size": (1, MAX_BATCH_SIZE),
    "multi_label_k": (2, MAX_LABELERS),
    "rare_minimum": (1, MAX_RARE_MINIMUM),
}
# The most of each share. Audits are capped at half: they are drawn at random, not for what the
# model would learn most from. A review is delivered only while one waits, so even a share of 1
# (every delivery a review, while any waits) lets labeling go on between scans.
_SHARE_MOST: dict[str, float] = {"audit_share": 0.5, "review_share": 1.0, "multi_label_share": 1.0}


# Phones ("Smart Punctuation"), word processors and pasted text turn " and ' into curly quotes,
# and - into a dash: read as typed, they make errors that point elsewhere (a cron split at its
# spaces), or a schedule APScheduler half reads, and no setting or time takes them.
_TYPOGRAPHIC = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def straight_punctuation(text: str) -> str:
    """``text`` with typographic quotes and dashes (“ ” „ ‘ ’ – —) as their ASCII forms."""
    return text.translate(_TYPOGRAPHIC)


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
        if key == "channel":  # shown with the settings, but bound where projects are made
            raise InvalidInputError(
                "unknown setting 'channel': a project's channel is set in the terminal, with "
                "`labelbot project set NAME --channel C0123ABCD`"
            )
        if key not in EDITABLE:
            raise InvalidInputError(f"unknown setting {key!r}: use {', '.join(EDITABLE)}")
        try:
            if key in _INTS:
                parsed[key] = int(text)
            elif key in _FLOATS:
                parsed[key] = float(text)
            elif key in _BOOLS:
                parsed[key] = _switch(key, text)
            elif key == "admins":
                parsed[key] = [a for a in text.split(",") if a.strip()]
            elif key == "guests":
                parsed[key] = text.strip().lower()
            else:
                parsed[key] = text
        except ValueError:
            kind = "a whole number" if key in _INTS else "a number"
            raise InvalidInputError(f"setting {key} must be {kind}, not {text!r}") from None
    return parsed


def reset_keys(text: str) -> list[str]:
    """The settings named in ``text`` (comma-separated, as `project set NAME` lists them, or
    as their options are spelled: ``retrain-every``), to put back to their defaults; "all":
    every editable setting. InvalidInputError names an unknown one and the known ones."""
    names = [" ".join(part.split()).replace("-", "_") for part in text.split(",")]
    if "" in names:
        raise InvalidInputError(
            f"an empty setting name in {text!r}: write the names with one comma between each"
        )
    if names == ["all"]:
        return list(EDITABLE)
    if "all" in names:  # "unknown setting 'all' to reset: use …, or all" read as a riddle
        raise InvalidInputError(
            f"'all' resets every setting: give it alone (--reset all), not with others ({text!r})"
        )
    for key in names:
        if key == "channel":
            raise InvalidInputError(
                "the channel is no setting to reset: `--channel none` unbinds the project"
            )
        if key not in EDITABLE:
            raise InvalidInputError(
                f"unknown setting {key!r} to reset: use {', '.join(EDITABLE)}, or all"
            )
    return list(dict.fromkeys(names))


def _switch(key: str, text: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise InvalidInputError(f"setting {key} must be true or false (on/off, yes/no), not {text!r}")


def check_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate typed changes; returns those that are set (None means "leave as is")."""
    from engine.jobs import DIGEST_OFF, next_digest_time
    from engine.strategies import get_strategy
    from storage.models import utcnow

    # as `/label settings` reads them: "0 9 * * mon–fri" typed on a phone is mon-fri, and
    # spaces around a value (`--timezone ' Europe/Berlin'`, a pasted one) are no part of it
    checked = {
        k: straight_punctuation(v).strip() if isinstance(v, str) else v
        for k, v in changes.items()
        if v is not None
    }
    for key in checked:
        if key not in EDITABLE:
            raise InvalidInputError(f"unknown setting {key!r}: use {', '.join(EDITABLE)}")
    if "admins" in checked:  # ids as typed, or as Slack writes a mention in /label settings
        checked["admins"] = [projects.as_user_id(str(a)) for a in checked["admins"]]
    if "guests" in checked:
        checked["guests"] = str(checked["guests"]).strip().lower()
        if checked["guests"] not in (GUESTS_ALLOW, GUESTS_DENY):
            raise InvalidInputError(
                f"setting guests must be {GUESTS_ALLOW} or {GUESTS_DENY}, not {changes['guests']!r}"
            )
    if "timezone" in checked:
        checked["timezone"] = _zone_name(str(checked["timezone"]))
    for key in _FLOATS:  # inf and nan pass every comparison below but break the scheduler
        if key in checked and not math.isfinite(float(checked[key])):
            raise InvalidInputError(f"setting {key} must be a finite number, not {checked[key]}")
    for key, (least, most) in _INT_RANGES.items():
        if key in checked and not least <= int(checked[key]) <= most:
            raise InvalidInputError(f"setting {key} must be between {least} and {most:,}")
    if "retrain_minutes" in checked and not 0 < float(checked["retrain_minutes"]) <= (
        MAX_RETRAIN_MINUTES
    ):
        raise InvalidInputError(
            f"setting retrain_minutes must be more than 0 and at most {MAX_RETRAIN_MINUTES:,} "
            "(a year)"
        )
    for key, highest in _SHARE_MOST.items():
        if key in checked and not 0 <= float(checked[key]) <= highest:
            raise InvalidInputError(f"setting {key} must be between 0 and {highest:g}")
    for key in _BOOLS:  # text here would be stored as is, and "off" is truthy
        if key in checked and not isinstance(checked[key], bool):
            raise InvalidInputError(f"setting {key} must be true or false, not {checked[key]!r}")
    if "target_accuracy" in checked and not 0 < float(checked["target_accuracy"]) <= 1:
        raise InvalidInputError("setting target_accuracy must be between 0 and 1 (e.g. 0.9)")
    if "strategy" in checked:
        get_strategy(str(checked["strategy"]))
    if "digest_cron" in checked:  # a bad schedule would stop digests: refuse it before storing
        # "OFF" was refused as a crontab of one field, and "" stored as shown: a blank setting
        cron = str(checked["digest_cron"]).strip()
        off = cron.lower() in DIGEST_OFF
        checked["digest_cron"] = "off" if off else cron
        probe = Project(name="probe", settings={"digest_cron": checked["digest_cron"]})
        if next_digest_time(probe, after=utcnow()) is None and not off:  # e.g. 30 February
            raise InvalidInputError(
                f"digest schedule {checked['digest_cron']!r} never fires: check the day and "
                "month, or use 'off' for no digests"
            )
    return checked


def _zone_name(name: str) -> str:
    """``name`` as the zone database spells it: "europe/berlin" and "utc" were refused as
    unknown timezones. InvalidInputError for a name no zone has, in any case."""
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a directory
        pass
    alike = [zone for zone in available_timezones() if zone.casefold() == name.casefold()]
    if len(alike) == 1:
        return alike[0]
    raise InvalidInputError(f"unknown timezone {name!r} (e.g. Europe/Berlin)")


def change_settings(ws: Workspace, *, project: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store ``changes``; returns all of the project's settings."""
    checked = check_settings(changes)
    return projects.update_settings(ws, project=project, **checked)


def defaults() -> dict[str, Any]:
    """What the engine uses for each editable setting a project has not set."""
    from engine.agreement import DEFAULT_LABELERS, DEFAULT_SHARE
    from engine.audit import DEFAULT_AUDIT_SHARE
    from engine.digest import DEFAULT_TARGET
    from engine.jobs import DEFAULT_DIGEST_CRON, DEFAULT_RETRAIN_EVERY, DEFAULT_RETRAIN_MINUTES
    from engine.labeling import DEFAULT_REVIEW_SHARE
    from engine.rare import MIN_EXAMPLES
    from engine.strategies import DEFAULT_STRATEGY
    from engine.training import DEFAULT_BATCH

    return {
        "retrain_every": DEFAULT_RETRAIN_EVERY,
        "retrain_minutes": DEFAULT_RETRAIN_MINUTES,
        "digest_cron": DEFAULT_DIGEST_CRON,
        "timezone": "UTC",
        "audit_share": DEFAULT_AUDIT_SHARE,
        "target_accuracy": DEFAULT_TARGET,
        "batch_size": DEFAULT_BATCH,
        "strategy": DEFAULT_STRATEGY,
        "admins": [],  # none: the Slack workspace's admins and owners administer it
        "review_share": DEFAULT_REVIEW_SHARE,
        "multi_label_share": DEFAULT_SHARE,
        "multi_label_k": DEFAULT_LABELERS,
        "multi_label_audit": False,
        "rare_boost": True,
        "rare_minimum": MIN_EXAMPLES,
        "guests": GUESTS_DENY,  # guest accounts are refused
    }


def guests_allowed(project: Project) -> bool:
    """Whether the project's admins opened it to Slack guest accounts (``guests``: allow)."""
    return project.settings.get("guests") == GUESTS_ALLOW


def shown_settings(project: Project) -> dict[str, str]:
    """The project's channel and every editable setting in effect, as text: a default is marked
    "(default)". Bookkeeping the bot stores beside them (last digest, pinned version, ...) is
    left out: it is not set by hand."""
    shown = {"channel": project.channel_id or "none"}
    fallback = defaults()
    for key in EDITABLE:
        value = project.settings.get(key)
        unset = value is None
        shown[key] = _as_text(fallback[key] if unset else value) + (" (default)" if unset else "")
    return shown


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)
