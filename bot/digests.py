"""Posting digests to a project's channel: blocks, then the chart through files upload v2."""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.client import HTTPException
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.delivery import DELIVERY_EVENT, delivery_key, find_post, transient_error, with_delivery_key
from bot.proposal_cards import proposal_card
from bot.slack_errors import CHANNEL_ERRORS, CONTENT_ERRORS, error_code, is_auth_error
from bot.slack_text import escape, escape_mrkdwn
from bot.views.digest import digest_message
from bot.views.proposals import plain_reason
from engine import jobs, projects, proposing
from engine.digest import (
    Digest,
    Posting,
    build_digest,
    note_posting,
    render_chart,
    unfinished_posting,
)
from engine.leaderboard import weekly_leaderboard
from engine.workspace import Workspace
from storage.errors import ConfigurationError

log = logging.getLogger(__name__)

# The admins hear of one refusal (project, error, channel, admins) at most this often: the
# proposal and disagreement jobs meet it every poll (15 s). A little under a day, so that a
# daily digest refused at the same time each day is told each day.
TELL_AGAIN_AFTER = timedelta(hours=23)
# A digest post noted and never marked sent is looked for in its channel's history this long
# after: the scheduler's next round comes a minute after a killed one (an hour or two when the
# host itself went). One older is left be: a `labelbot digest --post` run days after one cut
# short means a new digest.
LOOK_FOR_POSTED_WITHIN = timedelta(hours=12)


@dataclass(frozen=True)
class PostedDigest:
    channel: str
    ts: str | None
    file_id: str | None
    notified_admins: list[str]  # not posted: Slack refused it, and these admins were told why
    refused: str | None = None  # Slack's error code when it was not posted
    not_told: str = ""  # and the admins who could not be told: "could not tell U2 (…)"
    # the digest counted labels up to here (engine.digest.mark_sent's counted_until)
    counted_until: datetime | None = None
    # posted by an earlier try cut short before it was marked sent (found in the channel)
    earlier: bool = False


class NobodyTold(ConfigurationError):
    """Slack refused a project's message and no admin could be told (none set, or every DM
    refused); logged as an ERROR already, where it was raised."""


def _plain_proposals(ws: Workspace, digest: Digest) -> tuple[Digest, list[str]]:
    """The digest's strongest open proposals, each as its plain-words reason with its number;
    with the digest less those decided since it was built: left out of the list, they are out
    of its "N open" count too (else a count of 2 over one line, or of 1 over none)."""
    rows = {row.id: row for row in proposing.list_proposals(ws, digest.project)}
    shown = [rows[i] for i in digest.top_proposal_ids if i in rows]
    decided = len(digest.top_proposal_ids) - len(shown)
    if decided:
        pairs = zip(digest.top_proposal_ids, digest.top_proposals, strict=True)
        still = [(i, m) for i, m in pairs if i in rows]
        digest = replace(
            digest,
            open_proposals=max(digest.open_proposals - decided, 0),
            top_proposal_ids=[i for i, _ in still],
            top_proposals=[m for _, m in still],
        )
    return digest, [
        f"`#{row.id}` {plain_reason(proposal_card(digest.project, row))}" for row in shown
    ]


def post_digest(
    client: WebClient, ws: Workspace, name: str, *, look_for_earlier: bool = False
) -> PostedDigest:
    """Post the digest of ``name`` to its channel, with its chart as an uploaded PNG.

    Once the message is posted the digest is sent: the chart is drawn after it, and a chart
    that cannot be drawn or uploaded (a rate limit, Slack's file host down or out of reach) is
    logged and ``file_id`` is None, never raised.

    A channel that refuses it (the bot not in it, archived, unknown: ``CHANNEL_ERRORS``) or a
    message Slack refuses (``CONTENT_ERRORS``, a labelbot bug) is turned into a direct message
    to the project's admins saying how to fix it (never a silent failure; see
    :func:`tell_admins`), and ``notified_admins`` names them. When no admin could be told it
    raises NobodyTold, and when they were told of it lately a ConfigurationError (both say why
    it was not posted). Any other refusal (the token, a rate limit) is raised as it is.

    A post is noted before it is made (engine.digest.note_posting; marking the digest sent
    clears it): a process killed after posting and before the digest was marked sent left it.
    ``look_for_earlier`` (the scheduler's round, which posts the digest that is due, not one
    more): such a post is looked for in the channel first (:func:`_posted_earlier`), and
    returned as posted (``earlier``) when there, instead of posting the digest a second time.
    """
    earlier = _posted_earlier(client, ws, name) if look_for_earlier else None
    if earlier is not None:
        return earlier
    digest, proposals = _plain_proposals(ws, build_digest(ws, name))
    if not digest.channel:
        raise ConfigurationError(
            f"project {name!r} has no channel: `labelbot project set {name} --channel C0123`"
        )
    payload = with_delivery_key(
        digest_message(digest, leaderboard=weekly_leaderboard(ws, name), proposals=proposals)
    )
    key = delivery_key(payload)
    assert key is not None
    first_try = float(payload["metadata"]["event_payload"]["first_try"])
    note_posting(ws, name, Posting(digest.channel, key, first_try, digest.generated_at))
    try:
        # https://docs.slack.dev/reference/methods/chat.postMessage
        posted = client.chat_postMessage(channel=digest.channel, **payload)
    except SlackApiError as exc:
        code = error_code(exc)
        if code is None or code not in CHANNEL_ERRORS | CONTENT_ERRORS:
            raise
        told, not_told = tell_admins(client, ws, project=name, channel=digest.channel,
                                     error=code, what="digest")  # fmt: skip
        if not told:
            cause = refusal_cause(code, project=name, channel=digest.channel)
            if told is None:
                raise ConfigurationError(f"{cause} (the admins were told of it already)") from None
            raise NobodyTold(
                f"{cause}; no admin could be told ({not_told or 'none set'}): {_set_admins(name)}"
            ) from None
        return PostedDigest(
            digest.channel, None, None, told, refused=code, not_told=not_told,
            counted_until=digest.generated_at,
        )  # fmt: skip
    # The digest is sent now: the message stands on its own. Raising for the chart (drawn only
    # now) would leave the digest due, and the next round would post the whole message again.
    # No model yet: the chart would be two empty boxes saying so, uploaded with every digest
    # (the message says "no model yet" already)
    charted = digest.charted
    file_id = _send_chart(client, digest, channel=digest.channel, name=name) if charted else None
    return PostedDigest(
        digest.channel, posted.get("ts"), file_id, [], counted_until=digest.generated_at
    )


def _posted_earlier(client: WebClient, ws: Workspace, name: str) -> PostedDigest | None:
    """The digest of ``name`` an earlier try posted and never marked sent (it was killed in
    between), found in its channel's history by the delivery key it carries; None when no try
    was left unfinished, or the history does not show its message (not posted, or the search
    failed: logged, and the digest is posted again -- two digests beat none)."""
    posting = unfinished_posting(ws, name)
    if posting is None:
        return None
    tried = datetime.fromtimestamp(posting.first_try).astimezone().isoformat(timespec="seconds")
    if time.time() - posting.first_try > LOOK_FOR_POSTED_WITHIN.total_seconds():
        log.info("digest for %s: a try at %s was never marked sent; too old to look for, "
                 "posting a new one", name, tried)  # fmt: skip
        return None
    # shaped as the post was: find_post reads the channel's history from its first try on
    event = {"delivery_key": posting.key, "first_try": posting.first_try}
    sent = {"channel": posting.channel,
            "metadata": {"event_type": DELIVERY_EVENT, "event_payload": event}}  # fmt: skip
    found = find_post(client, sent)
    if found is None:
        log.warning("digest for %s: a try at %s was cut short before it was marked sent, and "
                    "%s's history does not show it: posting it", name, tried,
                    posting.channel)  # fmt: skip
        return None
    log.warning("digest for %s was posted to %s (message %s) by a try at %s cut short before "
                "it was marked sent: not posted again (its chart may be missing)", name,
                posting.channel, found["ts"], tried)  # fmt: skip
    return PostedDigest(
        str(found["channel"]),
        str(found["ts"]),
        None,
        [],
        counted_until=posting.counted_until,
        earlier=True,
    )


def _send_chart(client: WebClient, digest: Digest, *, channel: str, name: str) -> str | None:
    """Draw the digest's chart and upload it; its file id, or None when either failed (logged:
    the digest, posted already, goes without its chart)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            chart = render_chart(digest, Path(tmp) / f"{name}-digest.png")
        except Exception:  # matplotlib may raise anything; the message is out already
            # logged with its traceback: a chart that cannot be drawn is a bug to fix, and the
            # digest must not wait for it (a "$" in a label name once stopped every digest)
            log.exception("digest for %s posted without its chart: drawing it failed", name)
            return None
        return _upload_chart(client, chart, channel=channel, name=name)


def _upload_chart(client: WebClient, chart: Path, *, channel: str, name: str) -> str | None:
    """Upload the digest's chart to ``channel``; its file id, or None when the upload failed
    (logged: the digest goes without its chart, the next one has its own)."""
    try:
        # files upload v2: files.getUploadURLExternal, a POST to the URL it gives (Slack's file
        # host), then files.completeUploadExternal
        # (https://docs.slack.dev/messaging/working-with-files#upload)
        upload = client.files_upload_v2(
            channel=channel,
            file=str(chart),
            filename=chart.name,
            title=f"{name}: learning curve and per-class F1",
        )
    except (SlackClientError, OSError, HTTPException) as exc:
        # SlackClientError: an API error (after the client's retries) or the file host's
        # refusal; OSError and HTTPException: the connection (URLError, a timeout, a reset)
        log.warning("digest for %s posted without its chart: the upload failed: %s", name, exc)
        return None
    files = upload.get("files") or [{}]
    file_id = files[0].get("id")
    return None if file_id is None else str(file_id)


# --- what the admins are told when Slack refuses a project's message ----------------------------


def refusal_cause(error: str, *, project: str, channel: str) -> str:
    """Slack's refusal of a message of ``project`` to ``channel``, what it means and what fixes
    it, in plain text (the log, a ConfigurationError); for CHANNEL_ERRORS and CONTENT_ERRORS."""
    fix = f"set another with labelbot project set {project} --channel C0123"
    if error == "not_in_channel":
        return f"Slack said {error} (the bot is not in {channel}): invite it with /invite @labelbot"
    if error in ("is_archived", "channel_is_archived"):
        return f"Slack said {error} ({channel} is archived): unarchive it or {fix}"
    if error == "channel_not_found":
        return f"Slack said {error} ({channel} deleted, mistyped or private): {fix}"
    return f"Slack said {error} (refused the message to {channel}): a labelbot bug, report it"


def _set_admins(project: str) -> str:
    return f"set admins to be told with labelbot project set {project} --admins U123"


def _advice(error: str, *, project: str, channel: str) -> str:
    """What the admins' DM says after "I could not post …:", as mrkdwn."""
    fix = f"set another channel with `labelbot project set {escape(project)} --channel C0123`"
    if error == "not_in_channel":
        return (
            f"I am not a member of <#{channel}>. Invite me there with `/invite @labelbot`, "
            "then I will post there again."
        )
    if error in ("is_archived", "channel_is_archived"):
        return f"<#{channel}> is archived. Unarchive it, or {fix} (and `/invite @labelbot` there)."
    if error == "channel_not_found":
        return (
            f"Slack does not know the channel `{escape(channel)}`: it was deleted, its id is "
            f"mistyped, or it is private and I am not in it. Invite me with `/invite @labelbot` "
            f"if it is private; else {fix}."
        )
    return (
        f"Slack refused my message as `{escape(error)}`. That is a bug in labelbot, not "
        "something you set: please report it (labelbot's log names the project and the error)."
    )


# Set on the WARNING or ERROR :func:`tell_admins` logs: a command that says the refusal in a
# line of its own (`labelbot digest --post`) leaves the record out (:func:`admins_told_record`),
# so the refusal is not said twice; serve's and worker's log keep it.
_ADMINS_TOLD = "labelbot_admins_told"


def admins_told_record(record: logging.LogRecord) -> bool:
    """Whether ``record`` is :func:`tell_admins`' line that a message was not posted and whom
    it told (bot.cli.logs.muted's ``only``)."""
    return hasattr(record, _ADMINS_TOLD)


def tell_admins(
    client: WebClient,
    ws: Workspace,
    *,
    project: str,
    channel: str,
    error: str,
    what: str,
    item: str = "",
) -> tuple[list[str] | None, str]:
    """DM the project's admins that Slack refused its ``what`` ("digest", "taxonomy
    proposals") in ``channel`` with ``error``, and how to fix it; the admins told, [] when none
    could be (logged as an ERROR with the cause), or None when they were told of it within
    TELL_AGAIN_AFTER (nothing sent, logged at DEBUG only: the log said it when they were
    told). ``item`` ("proposal #3") is for the log.
    Returned with them: why an admin was not told ("could not tell U1 (user_not_found)",
    "none set", or "" when every one was).

    Once per TELL_AGAIN_AFTER across processes: a lease named for the refusal is taken and left
    to lapse (its name ends with the project's, so deleting the project deletes it). A new
    channel or new admins are a new refusal, told at once. Each DM is tried on its own: one
    admin Slack refuses (deactivated, say) does not keep the others from hearing of it.
    """
    cause = refusal_cause(error, project=project, channel=channel)
    of = f"{what} for {project}" + (f" ({item})" if item else "")
    admins = [str(a) for a in projects.get_project(ws, project).settings.get("admins") or []]
    mark = hashlib.sha256(" ".join([channel, *sorted(admins)]).encode()).hexdigest()[:8]
    # A fresh owner: the lease is free again only once it lapses, whoever asks.
    owner = f"{jobs.default_owner()}:{secrets.token_hex(4)}"
    if not jobs.renew_claim(
        ws, f"told-admins:{error}:{mark}:{project}", ttl=TELL_AGAIN_AFTER, owner=owner
    ):
        # said when the admins were told (WARNING, or ERROR); a round every 15 s would say it
        # again all day long for as long as the channel refuses
        log.debug("%s not posted: %s (reported already)", of, cause)
        return None, ""
    text = f"I could not post the {what} of *{escape_mrkdwn(project)}*: " + _advice(
        error, project=project, channel=channel
    )
    told: list[str] = []
    failed: list[str] = []
    for admin in admins:
        try:
            client.chat_postMessage(channel=admin, text=text)
        except (SlackClientError, OSError, HTTPException) as exc:
            failed.append(f"{admin} ({error_code(exc) or type(exc).__name__})")
        else:
            told.append(admin)
    not_told = f"could not tell {', '.join(failed)}" if failed else ""
    said = {_ADMINS_TOLD: True}
    if told:
        log.warning("%s not posted: %s; told %s%s", of, cause, ", ".join(told),
                    f"; {not_told}" if not_told else "", extra=said)  # fmt: skip
    else:
        log.error("%s not posted: %s; no admin could be told (%s)", of, cause,
                  not_told or f"none set: {_set_admins(project)}", extra=said)  # fmt: skip
    return told, not_told or ("none set" if not admins else "")


def refused(
    client: WebClient,
    ws: Workspace,
    exc: Exception,
    *,
    project: str,
    channel: str,
    what: str,
    item: str = "",
) -> bool:
    """Deal with Slack's refusal ``exc`` of one of ``project``'s messages (``item``, e.g.
    "proposal #3") to ``channel``, for a scheduler job posting many: True when the next message
    of the project may go on, False when the rest of the project must wait for the next round.

    - The token refused (every call fails alike), Slack down or out of reach: ``exc`` is raised
      again, and the caller's round stops.
    - The channel refused (CHANNEL_ERRORS): the admins are told (:func:`tell_admins`); False.
    - A rate limit or another transient error: logged; False (the next round tries again).
    - This message refused (CONTENT_ERRORS: the admins are told; or any other error): True.
    """
    if not isinstance(exc, SlackApiError) or is_auth_error(exc) or exc.response.status_code >= 500:
        raise exc  # a connection error, the token, Slack itself failing: the round is over
    code = error_code(exc)
    if code in CHANNEL_ERRORS | CONTENT_ERRORS:
        assert code is not None
        tell_admins(client, ws, project=project, channel=channel, error=code, what=what, item=item)
        return code in CONTENT_ERRORS
    of = f" ({item})" if item else ""
    transient = transient_error(exc)
    if transient is not None:
        log.warning("%s for %s%s not posted to %s: Slack said %s; the next round tries again",
                    what, project, of, channel, transient)  # fmt: skip
        return False
    log.warning("%s for %s%s not posted to %s: Slack said %s", what, project, of, channel, code)
    return True
