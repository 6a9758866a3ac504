"""The taxonomy in Slack: proposals posted to the channel and decided there, and the admins'
`/label taxonomy` modal. Listeners check who is an admin (bot/admin.py), then call one step.

Changes are applied with ``rescore=False`` and the queue re-scored after the ack (re-scoring
loads the pool and the model: too slow for Slack's 3 seconds).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from functools import partial
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import flow, ids, views
from bot.delivery import CONNECTION_ERRORS
from bot.digests import refused
from bot.posting import NotPosted, post_once
from bot.proposal_cards import proposal_card
from bot.services import Services
from bot.slack_errors import CHANNEL_ERRORS, CONTENT_ERRORS, MESSAGE_GONE, error_code
from bot.slack_text import Mrkdwn, escape_mrkdwn, who
from bot.views import proposals as proposal_views
from bot.views import taxonomy as taxonomy_views
from bot.views.text import Block
from engine import jobs, planned_posts, projects, proposing, taxonomy
from storage.errors import ConflictError, InvalidInputError, NotFoundError, StaleActionError
from storage.models import Label, TaxonomyProposal, utcnow

log = logging.getLogger(__name__)

Values = dict[str, dict[str, dict[str, Any]]]  # a view's state.values
# How long a claim to post a project's proposals lasts unless renewed (each post renews it):
# far longer than one chat.postMessage with the client's retries; lapses if its process dies.
POSTING_LEASE = timedelta(minutes=5)


# --- proposals -----------------------------------------------------------------------------------


def post_proposals(services: Services, *, project: str) -> int:
    """Post the project's open proposals not posted yet to its channel; how many were posted.
    Then redraw the cards already posted (:func:`sync_messages`), with or without a channel.

    Posted directly (not through the outbox): the message's ts is what the proposal records,
    so Approve / Reject can update it. Every scheduler runs this, so a process first claims the
    project's proposals (a lease) and reads what is unposted only then: one message per
    proposal however many processes poll. A failed post releases the claim with the proposal
    still unposted, and the next round retries it. Each post is noted before it is made
    (bot.posting.post_once): a process killed after Slack stored the card and before its ts
    was recorded leaves the note, and the next round finds that card in the channel and records
    it rather than post a second one. A message Slack refuses as such (a labelbot bug: too
    long, invalid blocks) is logged, the admins told, and the next proposal posted.
    https://docs.slack.dev/reference/methods/chat.postMessage
    """
    channel = projects.get_project(services.ws, project).channel_id
    if not channel and not proposing.posted_to_sync(services.ws, project):
        return 0  # nothing to post nor to redraw: no claim taken (one write a project a round)
    claim = f"post-proposals:{project}"
    posted = 0
    with jobs.claim(services.ws, claim, ttl=POSTING_LEASE) as got:
        if not got:
            return 0  # another process (or thread) is posting them
        # no channel (unset since): nothing new is posted, the cards already posted still follow
        to_post = proposing.unposted(services.ws, project) if channel else []
        for row in to_post:
            assert channel  # (only with one is there anything to post)
            if posted and not jobs.renew_claim(services.ws, claim, ttl=POSTING_LEASE):
                break  # the claim lapsed and someone else took over: the rest is theirs
            payload = proposal_views.proposal_message(proposal_card(project, row))
            try:
                sent = post_once(
                    services, note=planned_posts.note_name(f"proposal:{row.id}", project=project),
                    channel=channel, message=partial(dict, payload),
                    record=partial(_record, services, int(row.id or 0), payload),
                )  # fmt: skip
            except SlackApiError as exc:
                if error_code(exc) not in CONTENT_ERRORS:
                    raise  # the channel, the token, Slack itself: the caller's to deal with
                refused(services.client, services.ws, exc, project=project, channel=channel,
                        what="taxonomy proposals", item=f"proposal #{row.id}")  # fmt: skip
                continue  # this message is wrong (a bug), not the channel: the next may go
            if sent is NotPosted.UNSURE:
                continue  # an earlier try of this card may have landed: the next may go
            if isinstance(sent, NotPosted):
                # the claim lapsed and someone else took over: the rest is theirs; or Slack
                # rate limits conversations.history (the whole app's): the next round looks
                break
            posted += 1
        sync_messages(services, project=project)
    return posted


def _record(
    services: Services, proposal_id: int, payload: Block, channel: str, ts: str, earlier: bool
) -> None:
    """Record proposal ``proposal_id``'s card, posted as ``payload``; one an earlier try posted
    (bot.posting.post_once) may show older evidence: recorded with no digest of what it shows,
    :func:`sync_messages` redraws it."""
    proposing.record_message(
        services.ws, proposal_id, channel=channel, message_ts=ts,
        message_hash=None if earlier else _digest(payload),
    )  # fmt: skip


def sync_messages(services: Services, *, project: str) -> int:
    """Update the posted proposal messages that no longer show what is stored: an open one
    whose evidence a refresh changed, a superseded one (its buttons give way to a note), one
    decided in the CLI or another process (the verdict), one whose change was undone since.
    https://docs.slack.dev/reference/methods/chat.update"""
    updated = 0
    history: dict[int, taxonomy.HistoryEntry] | None = None
    active: list[Label] | None = None
    channel = projects.get_project(services.ws, project).channel_id
    for row in proposing.posted_to_sync(services.ws, project):
        card = proposal_card(project, row)
        final = proposing.final_marker(row)
        if final is None:  # open
            payload = proposal_views.proposal_message(card)
            marker = _digest(payload)
            if marker == row.message_hash:
                continue
        else:
            marker = final
            if row.status == "superseded":
                if active is None:
                    active = projects.list_labels(services.ws, project=project, active_only=True)
                payload = proposal_views.superseded_message(card, moot=_moot(row, active))
            else:
                if history is None:
                    entries = taxonomy.label_history(services.ws, project=project)
                    history = {e.id: e for e in entries}
                payload = _verdict(card, row, history)
        assert row.channel is not None and row.message_ts is not None
        try:
            services.courier.update(payload, channel=row.channel, ts=row.message_ts)
        except SlackApiError as exc:
            code = error_code(exc)
            # a card in a channel the project left (unset or changed since, then archived, say)
            # is as gone as a deleted one: its refusal is not the project channel's
            left = code in CHANNEL_ERRORS and row.channel != channel
            if code not in MESSAGE_GONE and not left:
                raise  # the channel, the token, Slack itself: every message would fail alike
            # deleted in the channel, say: the others are still redrawn, this one not again
            log.info("proposal #%s's message %s/%s is gone (%s): not redrawn", row.id,
                     row.channel, row.message_ts, error_code(exc))  # fmt: skip
        else:
            updated += 1
        proposing.record_message_hash(services.ws, int(row.id or 0), marker)
    return updated


def _moot(row: TaxonomyProposal, active: list[Label]) -> str:
    """Why a superseded proposal went, when a taxonomy change made it moot (""; the model no
    longer finds it): proposing.superseded_why, which the CLI's listing shares."""
    return proposing.superseded_why(row, [lb.name for lb in active])  # escaped by the view


def _verdict(
    card: proposal_views.ProposalCard,
    row: TaxonomyProposal,
    history: dict[int, taxonomy.HistoryEntry],
) -> Block:
    """A decided proposal's message as the decision on it shows it: who decided, the change it
    made (its Undo button while nobody undid it), or who undid it."""
    applied = history.get(row.label_event_id) if row.label_event_id is not None else None
    if row.status == "rejected" and applied is None:
        return proposal_views.decided_message(card, user=row.decided_by or "", approved=False,
                                              summary="")  # fmt: skip
    undo = history.get(applied.undone_by) if applied and applied.undone_by else None
    return proposal_views.decided_message(
        card, user=row.decided_by or "", approved=True,
        summary=applied.summary if applied is not None else row.reason or "",
        undoable=applied is not None and undo is None,
        undone=(undo.actor, undo.summary) if undo is not None else None,
    )  # fmt: skip


def _digest(payload: Block) -> str:
    """What a message shows, as 64 hex characters."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def post_all_proposals(services: Services) -> int:
    """For the scheduler: post every project's new proposals (however they were refreshed:
    the proposal job, `labelbot proposals --refresh`, another worker).

    One project's refusal (its channel archived or gone, the bot not in it, a rate limit) is
    logged with the project, channel and error, its admins told when it is theirs to fix
    (bot.digests.refused), and the other projects still get theirs. A refused token or Slack
    down or out of reach stops the round: every call would fail alike.
    """
    posted = 0
    for project in projects.list_projects(services.ws):
        # a project without a channel posts nothing, but its cards posted before still follow
        try:
            posted += post_proposals(services, project=project.name)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            refused(services.client, services.ws, exc, project=project.name,
                    channel=project.channel_id or "", what="taxonomy proposals")  # fmt: skip
    return posted


def proposals_list(services: Services, *, project: str) -> Block:
    """`/label proposals`: the open proposals the channel gets (the digest's, posted or about
    to be), and how many more a first look found (`labelbot proposals` lists those too)."""
    rows = proposing.list_proposals(services.ws, project)
    now = utcnow()
    shown = [r for r in rows if proposing.confirmed(r, now)]
    return proposal_views.proposals_list(
        project,
        [proposal_card(project, r) for r in shown],
        unconfirmed=len(rows) - len(shown),
        channel=projects.get_project(services.ws, project).channel_id,
    )


def decide(
    services: Services,
    *,
    approve: bool,
    project: str,
    proposal_id: int,
    user: str,
) -> None:
    """An admin's Approve / Reject: apply or record it, then show the verdict on the message.

    A second click (or Slack's retry) finds the proposal decided: the engine raises
    StaleActionError, and the error handler tells the clicker who decided it.
    """
    ws = services.ws
    decide_fn = proposing.approve if approve else proposing.reject
    extra: dict[str, Any] = {"rescore": False} if approve else {}
    try:
        decision = decide_fn(ws, project, proposal_id, actor=user, actor_is_admin=True, **extra)
    except StaleActionError:
        _refuse_stale(services, project=project, proposal_id=proposal_id)
        raise
    except taxonomy.NameTakenError as exc:
        # the suggested name was taken since the card was drawn: the card has the way out
        raise ConflictError(
            f"{exc.reason.rstrip('.')}. Choose other names with Edit names & approve"
        ) from None
    _show_decision(services, project, decision, approved=approve, user=user)


def _refuse_stale(services: Services, *, project: str, proposal_id: int) -> None:
    """A click on a card whose proposal was decided (or superseded) elsewhere, before the
    scheduler's sync redrew it: the card is redrawn now, as the sync does, and the clicker told
    who decided it (StaleActionError, a mention). Returns while the proposal is open: the
    refusal was about something else, and the caller raises it."""
    row = proposing.get_proposal(services.ws, proposal_id, project=project)
    if row.status == "open":
        return
    try:
        sync_messages(services, project=project)
    except (SlackApiError, *CONNECTION_ERRORS) as exc:
        # the answer to the click matters more: the scheduler's next sync redraws it
        log.warning("proposal #%s's card not redrawn after a stale click: %s", proposal_id, exc)
    note = proposing.decided_note(services.ws, row, name=who, label=escape_mrkdwn)
    raise StaleActionError(Mrkdwn(note))


def _show_decision(
    services: Services,
    project: str,
    decision: proposing.Decision,
    *,
    approved: bool,
    user: str,
) -> None:
    """The verdict on the proposal's own channel message (the one it records: a click made up
    by hand may name another, which the verdict would overwrite for good), then what the
    change leaves to do."""
    row = decision.proposal
    card = proposal_card(project, row)
    done = proposal_views.decided_message(
        card, user=user, approved=approved, summary=decision.summary,
        undoable=decision.change is not None,
    )  # fmt: skip
    if row.channel and row.message_ts:
        services.courier.update(done, channel=row.channel, ts=row.message_ts)
        marker = proposing.final_marker(decision.proposal)
        if marker is not None:  # the sync leaves it be
            proposing.record_message_hash(services.ws, int(decision.proposal.id or 0), marker)
    if decision.change is not None:
        after_change(services, project=project, change=decision.change)


def undo_proposal(services: Services, *, project: str, proposal_id: int, user: str) -> None:
    """An admin's Undo on an applied proposal's message: undo its change while it is the
    latest (else the error handler says which change to undo first), then show who undid it
    on the proposal's own message (as :func:`decide` does).
    A change undone elsewhere (the CLI, the form) before the sync redrew the card: the card is
    redrawn now and the clicker told who approved and who undid it, as Approve is."""
    row = proposing.get_proposal(services.ws, proposal_id, project=project)
    if row.label_event_id is None:
        raise StaleActionError(f"proposal {proposal_id} changed no label: nothing to undo")
    try:
        change = taxonomy.undo_last(
            services.ws, project=project, actor=user, rescore=False,
            event_id=row.label_event_id, reason=f"Undo on proposal {proposal_id}'s message",
        )  # fmt: skip
    except StaleActionError:
        _refuse_stale(services, project=project, proposal_id=proposal_id)
        raise
    card = proposal_card(project, row)
    done = proposal_views.decided_message(
        card, user=row.decided_by or user, approved=True, summary=row.reason or "",
        undone=(user, change.summary),
    )  # fmt: skip
    if row.channel and row.message_ts:
        services.courier.update(done, channel=row.channel, ts=row.message_ts)
        proposing.record_message_hash(services.ws, proposal_id, proposing.UNDONE_MARKER)
    after_change(services, project=project, change=change)


def edit_form(services: Services, *, project: str, proposal_id: int) -> Block:
    """The "Edit names & approve" modal of an open proposal (StaleActionError once decided)."""
    try:
        row = proposing.open_proposal(services.ws, project, proposal_id)
    except StaleActionError:
        _refuse_stale(services, project=project, proposal_id=proposal_id)
        raise
    return proposal_views.proposal_modal(proposal_card(project, row))


def approve_edited(
    services: Services, *, user: str, project: str, proposal_id: int, values: Values
) -> proposing.Decision | dict[str, str]:
    """Approve with the admin's names from the modal (without re-scoring), or the errors to
    show in the form: a wrong number of names, a name taken, a label renamed since the form
    opened, the proposal decided meanwhile."""
    try:
        names = _names(values, ids.PROPOSAL_NAMES_BLOCK)
    except InvalidInputError as exc:  # "a,,b": a name left out, not one to drop
        return {ids.PROPOSAL_NAMES_BLOCK: _refused(exc)}
    reason = _text(values, ids.PROPOSAL_REASON_BLOCK)
    try:
        return proposing.approve(
            services.ws, project, proposal_id, actor=user, actor_is_admin=True,
            names=names, reason=reason, rescore=False,
        )  # fmt: skip
    except proposing.RenamedSinceError as exc:
        # the form was opened before the rename: it names the label as it was called then
        return {ids.PROPOSAL_NAMES_BLOCK: f"{exc.old} is now called {exc.new}: close this form "
                "and reopen the proposal to approve it under today's names. Nothing was "
                "changed."}  # fmt: skip
    except (InvalidInputError, NotFoundError, ConflictError, StaleActionError) as exc:
        text = str(exc)
        if isinstance(exc, StaleActionError):
            text += ": nothing was changed"
        return {ids.PROPOSAL_NAMES_BLOCK: text[:1].upper() + text[1:]}


def show_approved(
    services: Services, *, user: str, project: str, decision: proposing.Decision
) -> None:
    """After the modal closed: the verdict on the channel message where the proposal was
    posted, and the queue re-scored."""
    _show_decision(services, project, decision, approved=True, user=user)


def after_change(services: Services, *, project: str, change: taxonomy.TaxonomyChange) -> None:
    """What a change from Slack leaves to do after the ack: re-score the queue (after a change
    of guidelines only when the label is searched for by them, and not after undoing one), then
    redraw the examples waiting on experts' screens with today's labels."""
    if "describe" not in (change.kind, change.details.get("kind")) or change.details.get(
        "searched"
    ):
        taxonomy.refresh_queue(services.ws, project)
    flow.redraw_on_screen(services, project=project)


# --- the /label taxonomy modal ----------------------------------------------------------------


def _choices(services: Services, project: str) -> list[views.LabelChoice]:
    labels = projects.list_labels(services.ws, project=project, active_only=True)
    return [views.LabelChoice(lb.name, lb.description or None, lb.id) for lb in labels]


def editor(services: Services, *, project: str) -> Block:
    """The modal for `/label taxonomy` (views.open it with the command's trigger_id)."""
    last = taxonomy.last_undoable(services.ws, project=project)
    if last is None:
        return taxonomy_views.taxonomy_modal(project, _choices(services, project))
    shown = f"#{last.id} {last.summary} (by {last.actor})"
    return taxonomy_views.taxonomy_modal(project, _choices(services, project), shown, undo=last.id)


def _field(values: Values, block: str) -> dict[str, Any]:
    """One input's state, {} when the form does not hold it as Slack shapes it (a form of an
    older labelbot, an edited payload): the field then reads as left empty."""
    found = _mapping(_mapping(values).get(block)).get(ids.TAXONOMY_INPUT)
    return _mapping(found)


def _mapping(found: object) -> dict[str, Any]:
    return found if isinstance(found, dict) else {}


def _text(values: Values, block: str) -> str:
    value = _field(values, block).get("value")
    return value.strip() if isinstance(value, str) else ""


def _names(values: Values, block: str) -> list[str]:
    """The comma-separated names typed in ``block`` (none when it was left empty); an empty
    name between commas is refused (InvalidInputError), as in the CLI."""
    typed = _text(values, block)
    return taxonomy.label_names(typed) if typed else []


def _refused(exc: Exception) -> str:
    """An engine refusal as a form's error: a sentence."""
    text = str(exc)
    return text[:1].upper() + text[1:]


# A split's new names must be free: how the form moves examples into a label that exists
SPLIT_INTO_EXISTING = (
    "; a split creates new labels (to move examples into an existing one, merge, or retire "
    "naming it under New name(s))"
)


def apply_edit(
    services: Services, *, user: str, project: str, values: Values, private_metadata: str
) -> taxonomy.TaxonomyChange | dict[str, str]:
    """Apply the submitted change (without re-scoring), or the errors to show, by block id.
    ``private_metadata``: the form's, which names the change its "Undo" would revert."""
    op = str(_mapping(_field(values, ids.TAXONOMY_OPERATION_BLOCK).get("selected_option"))
             .get("value") or "")  # fmt: skip
    by_id = {lb.key: lb.name for lb in _choices(services, project)}
    options = _field(values, ids.TAXONOMY_LABELS_BLOCK).get("selected_options")
    picked = [str(_mapping(o).get("value")) for o in options] if isinstance(
        options, list) else []  # fmt: skip
    labels_block, names_block = ids.TAXONOMY_LABELS_BLOCK, ids.TAXONOMY_NAMES_BLOCK
    if any(key not in by_id for key in picked):
        return {labels_block: "A label you chose changed meanwhile: close and reopen the form."}
    labels = [by_id[key] for key in picked]
    typed = _text(values, names_block)
    # Add, split and retire take a comma-separated list (an empty name in it refused, as in the
    # CLI); rename and merge one new name, passed as typed so that a comma in it meets the
    # engine's rule (taxonomy.new_label_name) and its message. Describe and undo name none.
    names = [typed] if typed and op in ("rename", "merge") else []
    if op in ("add", "split", "retire"):
        try:
            names = _names(values, names_block)
        except InvalidInputError as exc:
            return {names_block: _refused(exc)}
    description = _text(values, ids.TAXONOMY_DESCRIPTION_BLOCK)
    common: dict[str, Any] = {
        "project": project,
        "actor": user,
        "reason": _text(values, ids.TAXONOMY_REASON_BLOCK),
    }
    one = len(labels) == 1
    need = {
        "add": (None, "Name the label(s) to add.") if not names
        # one field, one label's guidelines (the CLI takes a --description per label): copied
        # onto every label added, the second one got the first one's
        else (ids.TAXONOMY_DESCRIPTION_BLOCK, "A description is one label's guidelines: add "
              "that label alone with it, or leave Description empty and describe each label "
              "after.") if description and len(names) > 1
        else None,
        "rename": (labels_block, "Choose the one label to rename.") if not one
        else (names_block, "Give the new name.") if not names else None,
        "describe": (labels_block, "Choose the one label to describe.") if not one
        else (ids.TAXONOMY_DESCRIPTION_BLOCK, "Write the description.") if not description
        else None,
        "merge": (labels_block, "Choose two or more labels to merge.") if len(labels) < 2
        else None,
        "split": (labels_block, "Choose the one label to split.") if not one
        else (names_block, "Give two or more new names, comma-separated.") if len(names) < 2
        else None,
        "retire": (labels_block, "Choose the one label to retire.") if not one
        else (names_block, "Name at most one label to map its examples to.") if len(names) > 1
        else None,
        "undo": None,  # the latest change not undone yet: nothing to choose
    }  # fmt: skip
    if op not in need:
        return {ids.TAXONOMY_OPERATION_BLOCK: "Choose a change."}
    if op == "undo":
        try:
            named = taxonomy_views.taxonomy_undo(private_metadata)
        except (ValueError, TypeError, AttributeError):  # a form labelbot cannot read
            return {ids.TAXONOMY_OPERATION_BLOCK: "This form is out of date: close it and open "
                    "`/label taxonomy` again."}  # fmt: skip
        return _undo(services, named=named, common=common)
    missing = need[op]
    if missing is not None:
        return {missing[0] or names_block: missing[1]}
    try:
        return _apply(services, op, labels, names, description, common)
    except (InvalidInputError, NotFoundError, ConflictError) as exc:  # e.g. a name taken
        at_fault = (
            names_block
            if names
            else ids.TAXONOMY_DESCRIPTION_BLOCK
            if op == "describe"
            else labels_block
        )
        text = str(exc)
        if isinstance(exc, taxonomy.NameTakenError):  # the CLI's advice names its flags
            text = exc.reason + (SPLIT_INTO_EXISTING if op == "split" else "")
        return {at_fault: text[:1].upper() + text[1:]}


def _apply(
    services: Services,
    op: str,
    labels: list[str],
    names: list[str],
    description: str,
    common: dict[str, Any],
) -> taxonomy.TaxonomyChange:
    ws = services.ws
    if op == "add":
        described = [description] if description else None  # one label (see apply_edit)
        return taxonomy.add_labels(ws, names=names, descriptions=described, rescore=False, **common)
    if op == "rename":
        return taxonomy.rename_label(
            ws, label=labels[0], new_name=names[0], rescore=False, **common
        )
    if op == "describe":
        return taxonomy.describe_label(
            ws, label=labels[0], description=description, rescore=False, **common
        )
    if op == "merge":
        into = names[0] if names else None
        return taxonomy.merge_labels(ws, labels=labels, into=into, rescore=False, **common)
    if op == "split":
        return taxonomy.split_label(ws, label=labels[0], into=names, rescore=False, **common)
    map_to = names[0] if names else None
    return taxonomy.retire_label(ws, label=labels[0], map_to=map_to, rescore=False, **common)


def _undo(
    services: Services, *, named: int | None, common: dict[str, Any]
) -> taxonomy.TaxonomyChange | dict[str, str]:
    """Undo the change the form named when it opened, and only while it is the latest, as the
    proposal message's Undo does (undo_proposal): a change made since (another admin's form, a
    proposal approved, the CLI) is not what the admin chose to revert, and an undo cannot be
    undone. Else the errors to show in the form."""
    block, project = ids.TAXONOMY_OPERATION_BLOCK, str(common["project"])
    reopen = (
        " Nothing was changed: close this form and run `/label taxonomy` again to see the "
        "latest change."
    )
    if named is None:  # nothing to undo when the form opened (or a form from before ids)
        latest = taxonomy.last_undoable(services.ws, project=project)
        if latest is None:
            return {block: f"Project {project!r} has no taxonomy change left to undo."}
        made = f"change #{latest.id} ({latest.summary}) was made since it opened"
        return {block: f"This form named no change to undo: {made}.{reopen}"}
    try:
        return taxonomy.undo_last(services.ws, rescore=False, event_id=named, **common)
    except (InvalidInputError, NotFoundError, ConflictError, StaleActionError) as exc:
        text = str(exc)
        latest = taxonomy.last_undoable(services.ws, project=project)
        if latest is None or latest.id != named:  # not the change the form named any more
            text = f"{text.rstrip('.')}.{reopen}"
        return {block: text[:1].upper() + text[1:]}


def confirm_edit(
    services: Services, *, user: str, project: str, change: taxonomy.TaxonomyChange
) -> None:
    """After the modal closed: re-score, and tell the admin (DM) and the channel what changed."""
    after_change(services, project=project, change=change)
    text = (
        f"<@{user}> changed the labels of *{escape_mrkdwn(project)}*: "
        f"{escape_mrkdwn(change.summary)}."
    )
    if change.requeued:  # the change's line counted them ("; 3 examples back in the queue")
        they = "It waits" if change.requeued == 1 else "They wait"
        text += f" {they} at the front of the queue, to be labeled again."
    if change.kind == "add":
        text += " The queue looks for their first examples by name and guidelines."
    services.courier.post(views.info_message(text), channel=user)
    channel = projects.get_project(services.ws, project).channel_id
    if channel:
        services.courier.post(views.info_message(text), channel=channel)
