"""Posting digests to a project's channel: blocks, then the chart through files upload v2."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.proposal_cards import proposal_card
from bot.slack_text import escape
from bot.views.digest import digest_message
from bot.views.proposals import plain_reason
from engine import projects, proposing, rhythm
from engine.digest import TOP_PROPOSALS, Digest, build_digest, render_chart
from engine.leaderboard import weekly_leaderboard
from engine.workspace import Workspace
from storage.errors import ConfigurationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostedDigest:
    channel: str
    ts: str | None
    file_id: str | None
    notified_admins: list[str]


def _plain_proposals(ws: Workspace, name: str) -> list[str]:
    """The digest's strongest open proposals, each as its plain-words reason with its number."""
    rows = proposing.list_proposals(ws, name)[:TOP_PROPOSALS]
    return [f"`#{row.id}` {plain_reason(proposal_card(name, row))}" for row in rows]


def _off_the_leaderboard(ws: Workspace, digest: Digest) -> set[str]:
    """The digest's labelers who ran `/label leaderboard off`: counted, never named."""
    return {u for u, _ in digest.by_annotator} & rhythm.leaderboard_opt_outs(ws)


def post_digest(client: WebClient, ws: Workspace, name: str) -> PostedDigest:
    """Post the digest of ``name`` to its channel, with its chart as an uploaded PNG.

    Once the message is posted the digest is sent: the chart is drawn after it, and a chart
    that cannot be drawn or uploaded (a rate limit, Slack's file host down or out of reach) is
    logged and ``file_id`` is None, never raised.

    The bot must be a member of the channel: a ``not_in_channel`` answer is turned into a direct
    message to the project's admins saying how to fix it (never a silent failure); with no
    admins set it is raised as a ConfigurationError.
    """
    digest = build_digest(ws, name)
    if not digest.channel:
        raise ConfigurationError(
            f"project {name!r} has no channel: `labelbot project set {name} --channel C0123`"
        )
    payload = digest_message(digest, leaderboard=weekly_leaderboard(ws, name),
                             proposals=_plain_proposals(ws, name),
                             unnamed=_off_the_leaderboard(ws, digest))  # fmt: skip
    try:
        # https://docs.slack.dev/reference/methods/chat.postMessage
        posted = client.chat_postMessage(channel=digest.channel, **payload)
    except SlackApiError as exc:
        if exc.response.get("error") != "not_in_channel":
            raise
        admins = _tell_admins(client, ws, name, digest.channel)
        return PostedDigest(digest.channel, None, None, admins)
    # The digest is sent now: the message stands on its own. Raising for the chart (drawn only
    # now) would leave the digest due, and the next round would post the whole message again.
    file_id = _send_chart(client, digest, channel=digest.channel, name=name)
    return PostedDigest(digest.channel, posted.get("ts"), file_id, [])


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


def _tell_admins(client: WebClient, ws: Workspace, name: str, channel: str) -> list[str]:
    admins = [str(a) for a in projects.get_project(ws, name).settings.get("admins") or []]
    text = (
        f"I could not post the *{escape(name)}* digest: I am not a member of <#{channel}>. "
        "Invite me there with `/invite @labelbot`, then the next digest will go out."
    )
    if not admins:
        raise ConfigurationError(
            f"the bot is not in channel {channel} (project {name!r}): invite it with "
            f"/invite @labelbot; set admins to be told: labelbot project set {name} --admins U123"
        )
    for admin in admins:
        client.chat_postMessage(channel=admin, text=text)
    log.warning("digest for %s not posted: bot not in %s; told %s", name, channel, admins)
    return admins
