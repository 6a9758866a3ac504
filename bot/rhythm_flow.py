"""The busy expert's rhythm in Slack: snooze, quiet hours, the daily nudge, leaderboard opt-out.

The rules are engine.rhythm's; here the time zone comes from users.info, the commands are
parsed, and the nudge job sends what the rules allow.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import flow
from bot.services import Services
from bot.slack_text import escape
from bot.views.rhythm import nudge_message, snoozed_message
from engine import labeling, messaging, progress, projects, rhythm
from engine.project_settings import straight_punctuation
from storage.errors import InvalidInputError, StaleActionError

log = logging.getLogger(__name__)


def _slack_zone(found: dict[str, Any]) -> str | None:
    """The zone to store from a users.info user: its IANA name when this machine's tz database
    knows it, else its current offset (``tz_offset``, seconds east of UTC) as a fixed zone,
    rather than UTC; None when Slack gives neither."""
    tz, offset = found.get("tz"), found.get("tz_offset")
    if tz and rhythm.zone_named(str(tz)) is not None:
        return str(tz)
    if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) < 86_400:
        if tz:
            log.warning(
                "time zone %r of %s is unknown here: using UTC offset %s",
                tz,
                found.get("id"),
                offset,
            )
        return rhythm.offset_name(offset)
    return None


def remember_tz(services: Services, *, user: str) -> rhythm.Rhythm:
    """The person's rhythm with their time zone from users.info
    (https://docs.slack.dev/reference/methods/users.info), stored for the scheduler.

    A users.info that fails (rate limited, a user it will not show) or gives no usable zone
    keeps the zone stored before: the command or snooze still goes through."""
    try:
        found = services.client.users_info(user=user)["user"]
    except SlackApiError as exc:
        log.warning("time zone of %s not refreshed: Slack said %s", user, exc.response.get("error"))
        return rhythm.rhythm_of(services.ws, user=user)
    tz = _slack_zone(found)
    if tz is None:
        return rhythm.rhythm_of(services.ws, user=user)
    return rhythm.update_rhythm(services.ws, user=user, tz=tz)


def snooze(
    services: Services,
    *,
    user: str,
    example_id: int,
    length: str,
    channel: str,
    ts: str,
) -> datetime:
    """Let go of the example on this message and stay quiet until the snooze ends. Only on a
    message sent to ``user`` (engine.labeling.check_sent_to): the snooze note is written over
    it, and a click made up by someone else names another expert's DM, or a channel message."""
    labeling.check_sent_to(services.ws, example_id=example_id, annotator=user, channel=channel)
    remember_tz(services, user=user)
    until = rhythm.snooze(services.ws, user=user, length=length)
    ref = messaging.example_ref(services.ws, example_id=example_id)
    # already answered or expired: nothing held, the snooze still stands
    with contextlib.suppress(StaleActionError):
        labeling.release(services.ws, project=ref.project, example_id=example_id, annotator=user)
    services.courier.update(snoozed_message(user=user, until=until), channel=channel, ts=ts)
    return until


def command(services: Services, *, user: str, verb: str, args: str) -> str:
    """`/label nudge HH:MM|off`, `/label quiet HH:MM-HH:MM|off`, `/label leaderboard on|off`:
    what to answer (ephemeral)."""
    current = remember_tz(services, user=user)
    where = f"your time ({escape(current.tz or 'UTC')})"
    arg = straight_punctuation(args).strip().lower()  # 22:00–07:30, typed with a dash
    if verb == "nudge":
        if arg == "off":
            rhythm.update_rhythm(services.ws, user=user, nudge_at=None)
            return "Daily nudge off."
        if not arg:
            now = f"at {rhythm.clock(current.nudge_at)}" if current.nudge_at is not None else "off"
            return f"Your daily nudge is {now}. `/label nudge 09:30` or `/label nudge off`."
        at = rhythm.parse_clock(arg)
        rhythm.update_rhythm(services.ws, user=user, nudge_at=at)
        comes = rhythm.nudge_time(rhythm.rhythm_of(services.ws, user=user))
        if comes is not None and comes != at:
            start, end = current.quiet
            return (
                f"{rhythm.clock(at)} is in your quiet hours ({rhythm.clock(start)}–"
                f"{rhythm.clock(end)} {where}), so I'll nudge you when they end, at "
                f"{rhythm.clock(comes)}, on days there is work for you (`/label quiet` changes "
                "them)."
            )
        return (
            f"I'll nudge you at {rhythm.clock(at)} {where} on days there is work for you "
            "(never in your quiet hours, never more than one message a day)."
        )
    if verb == "quiet":
        if not arg:
            start, end = current.quiet
            return f"Your quiet hours: {rhythm.clock(start)}–{rhythm.clock(end)} {where}."
        start, end = rhythm.parse_quiet(arg)
        rhythm.update_rhythm(services.ws, user=user, quiet_start=start, quiet_end=end)
        if start == end:
            return "No quiet hours: nudges may come at any time (still at most one a day)."
        return f"Quiet hours set: {rhythm.clock(start)}–{rhythm.clock(end)} {where}."
    if arg not in ("on", "off"):
        raise InvalidInputError("`/label leaderboard on` or `/label leaderboard off`")
    rhythm.update_rhythm(services.ws, user=user, leaderboard=arg == "on")
    return (
        "You are on the weekly leaderboard."
        if arg == "on"
        else "You are off the weekly leaderboard (your labels still count)."
    )


def _work_for(services: Services, user: str) -> tuple[str, int] | None:
    """The project with the most examples waiting for ``user``, among those they label (else
    all): what the queue would hand them (engine.labeling.waiting_for: unlabeled examples and
    second opinions or relabels wanted of them, less those they skipped, flagged ones and those
    out with other experts). Only those
    open to them: a guest account's nudge names no project closed to guests (flow.open_to;
    GuestRefused when Slack does not say who is one)."""
    known = [p.name for p in flow.open_to(services, user, projects.list_projects(services.ws))]
    mine = [n for n in progress.projects_labeled_by(services.ws, annotator=user) if n in known]
    names = mine or known
    waiting = [(n, _waiting_for(services, n, user)) for n in names]
    waiting = [(n, q) for n, q in waiting if q > 0]
    return max(waiting, key=lambda nq: nq[1]) if waiting else None


def _waiting_for(services: Services, project: str, user: str) -> int:
    return labeling.waiting_for(services.ws, project=project, annotator=user)


def send_nudges(services: Services, *, now: datetime | None = None) -> int:
    """The scheduler job: nudge those whose time has come and who have work; how many."""
    sent = 0
    for user in rhythm.due_nudges(services.ws, now=now):
        try:
            work = _work_for(services, user)
        except flow.GuestRefused as exc:  # users.info unanswered: the next users' would be too
            log.warning("nudges stopped after %d sent: %s", sent, exc)
            break
        if work is None:
            continue  # sent only when there is work
        if not rhythm.claim_unsolicited(services.ws, user=user, now=now):
            continue  # another process took today's message, or a rule says no
        try:
            services.courier.post(nudge_message(project=work[0], waiting=work[1]), channel=user)
        except SlackApiError as exc:
            log.warning("nudge to %s not sent: Slack said %s", user, exc.response.get("error"))
            continue
        sent += 1
    return sent
