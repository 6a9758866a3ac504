"""Flag threads: a flagged example surfaces in its project channel, where it is discussed and
resolved with a click.

A flag takes an example out of everyone's queue (engine.flags). Its thread opens after the flag
is stored (after the ack), and, for those missed that way (a flag from `labelbot label`, another
process, a Slack hiccup), from the scheduler job :func:`post_all_flags`, which also redraws a
thread whose flags changed elsewhere (resolved with `labelbot flags resolve`, flagged again).
Every replica may try at once: each first claims the example (a lease), then checks again.
Replies in the thread are kept as comments, as in any discussion thread.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot import admin
from bot.delivery import CONNECTION_ERRORS
from bot.digests import refused
from bot.services import Services
from bot.slack_errors import error_code, is_auth_error
from bot.threads import open_once
from bot.views.flags import flag_message, flagged_too, not_allowed, resolved_reply
from engine import discussions, flags, jobs, messaging, projects
from engine.flags import FlaggedExample
from storage.errors import LabelbotError, NotFoundError, StaleActionError
from storage.models import utcnow

log = logging.getLogger(__name__)
# How long a claim to resolve an example's flags lasts: a double click's second waits it out.
RESOLVING_LEASE = timedelta(minutes=5)


def _found(services: Services, *, project: str, example_id: int) -> FlaggedExample | None:
    found = flags.flagged_examples(services.ws, project, example_ids={example_id})
    return found[0] if found else None


def _open(services: Services, *, channel: str, found: FlaggedExample) -> bool:
    """Open the example's flag thread unless it has one or another thread or process is
    opening it; True if opened (bot.threads.open_once)."""
    opened = open_once(
        services, project=found.project, example_id=found.example_id, kind=discussions.FLAGGED,
        channel=channel, root=lambda: flag_message(found),
    )  # fmt: skip
    return opened is not None


def surface(services: Services, *, project: str, example_id: int) -> bool:
    """After a flag: open the example's thread in the project channel, or (it has one) redraw
    its root with the flags as they are and say in the thread who flagged it again; True if a
    thread was opened. A Slack failure is logged, not raised: the flag is stored, and the
    scheduler's round opens the thread."""
    try:
        channel = projects.get_project(services.ws, project).channel_id
        found = _found(services, project=project, example_id=example_id)
    except LabelbotError as exc:  # the flag is stored: the round surfaces it, if still there
        log.warning("flag on example %d not surfaced now: %s", example_id, exc)
        return False
    if not channel or found is None or not found.open:
        return False
    try:
        if _open(services, channel=channel, found=found):
            return True
        thread = flags.flag_thread(services.ws, example_id=example_id)
        if thread is None:
            return False  # another process is opening it, with the flags as they are
        services.courier.update(flag_message(found), channel=thread.channel, ts=thread.thread_ts)
        services.courier.post(
            flagged_too(found.open[-1]), channel=thread.channel, thread_ts=thread.thread_ts
        )
    except (SlackApiError, *CONNECTION_ERRORS, LabelbotError) as exc:
        reason = error_code(exc) if isinstance(exc, SlackApiError) else exc
        log.warning("flag on example %d not posted to %s: %s; the next round tries again",
                    example_id, channel, reason)  # fmt: skip
    return False


def post_all_flags(services: Services, *, seen: dict[int, object] | None = None) -> int:
    """Open a thread for every recent open flag that has none (engine.flags.to_surface); how
    many opened. With ``seen`` (the scheduler job's memory, kept between rounds), each flag
    thread whose flags changed since the last round is redrawn too (resolved with the CLI,
    flagged again from the terminal); the first round only notes them.

    Slack's refusals are dealt with as the disagreement threads' are (bot.digests.refused): a
    channel refused or a rate limit skips the rest of the project this round; a refused token
    or Slack down stops the round.
    """
    opened = 0
    for project in projects.list_projects(services.ws):
        channel = project.channel_id
        if not channel:
            continue
        for found in flags.to_surface(services.ws, project.name):
            try:
                if _open(services, channel=channel, found=found):
                    opened += 1
                    if seen is not None:
                        seen[found.example_id] = found.state  # drawn as it is
            except (SlackApiError, *CONNECTION_ERRORS) as exc:
                if not refused(services.client, services.ws, exc, project=project.name,
                               channel=channel, what="flag threads",
                               item=f"example {found.example_id}"):  # fmt: skip
                    break
        if seen is not None:
            _follow(services, project=project.name, seen=seen)
    return opened


def _follow(services: Services, *, project: str, seen: dict[int, object]) -> int:
    """Redraw the project's flag threads whose flags changed since ``seen`` noted them; how
    many were redrawn. A refused token is raised; any other refusal (a deleted root) logged."""
    threads = {t.example_id: t for t in flags.flag_threads(services.ws, project=project)}
    if not threads:
        return 0
    states = flags.flag_states(services.ws, project)
    recent = utcnow() - flags.SURFACE_WITHIN
    changed = set()
    for example_id in threads:
        current = states.get(example_id)
        state = None if current is None else current.state
        if example_id not in seen:
            # first sight in this process: what the thread shows is not known (resolved with
            # the CLI while no bot ran, a flag racing its opening): redraw the recent ones once
            seen[example_id] = state
            if current is not None and current.changed_at >= recent:
                changed.add(example_id)
            continue
        if seen[example_id] != state:
            changed.add(example_id)
        seen[example_id] = state
    redrawn = 0
    for found in (
        flags.flagged_examples(services.ws, project, example_ids=changed) if changed else []
    ):
        thread = threads[found.example_id]
        try:
            services.courier.update(
                flag_message(found), channel=thread.channel, ts=thread.thread_ts
            )
        except SlackApiError as exc:
            if is_auth_error(exc):
                raise
            log.info("could not redraw the flag thread of example %d: Slack said %s",
                     found.example_id, error_code(exc))  # fmt: skip
            continue
        redrawn += 1
    return redrawn


def may_resolve(
    services: Services, *, user: str, project: str, found: FlaggedExample, team: str | None
) -> bool:
    """Project admins (``team``: the installing workspace, see admin.is_admin), and the experts
    who flagged the example."""
    flaggers = {f.annotator for f in found.flags}
    return user in flaggers or admin.is_admin(services, user=user, project=project, team=team)


def resolve(
    services: Services, *, user: str, example_id: int, channel: str, ts: str, team: str | None
) -> str | None:
    """Resolve the example's open flags from its thread (it goes back to the queue unless it
    has a label) and show it there; the refusal to tell the clicker, if any."""
    project = messaging.example_ref(services.ws, example_id=example_id).project
    found = _found(services, project=project, example_id=example_id)
    if found is None:
        raise StaleActionError(f"example {example_id} has no flags")
    if not may_resolve(services, user=user, project=project, found=found, team=team):
        return not_allowed(project)
    thread = flags.flag_thread(services.ws, example_id=example_id)
    if thread is not None and (thread.channel, thread.thread_ts) != (channel, ts):
        # a click made up to name another message (another example's flag thread, a card of
        # the channel): resolving would draw this example's flags over it for good
        log.warning("a Resolve click of example %d on message %s of %s, not its flag thread: "
                    "refused", example_id, ts, channel)  # fmt: skip
        raise StaleActionError(f"this message is not the flag thread of example {example_id}")
    with jobs.claim(services.ws, f"flag-resolve:{example_id}", ttl=RESOLVING_LEASE) as got:
        if not got:
            return None  # a click racing this one (a double click) is resolving them
        try:
            flags.resolve_flags(services.ws, project=project, example_id=example_id, actor=user)
        except NotFoundError:
            # resolved meanwhile (another click, the CLI): the message says by whom
            now = _found(services, project=project, example_id=example_id) or found
            services.courier.update(flag_message(now), channel=channel, ts=ts)
            if now.flags[-1].resolved_by == user:
                return None  # their own click again (a retry)
            raise StaleActionError("these flags were resolved already") from None
    done = _found(services, project=project, example_id=example_id)
    assert done is not None
    services.courier.update(flag_message(done), channel=channel, ts=ts)
    services.courier.post(resolved_reply(done, user=user), channel=channel, thread_ts=ts)
    return None
