"""Disagreement threads: opened once in the project channel, settled there with a click.

engine.consensus says which examples the experts disagree on and stores the adjudication;
engine.disputes remembers the thread. A thread opens after the label that created the
disagreement (after the ack) and, for any missed that way (another process, a Slack hiccup),
from the scheduler job ``post_all_disputes``. Every replica's label handler and scheduler may
try at once: each first claims the example (a lease in the database), then checks again.
Each later vote on an example in dispute redraws its thread's root with the votes as they are
(``open_if_disputed``), as an Undo does (``refresh_thread``). A verdict given elsewhere than on
the thread (`labelbot adjudicate`, a reviewer's change that carried the vote) is drawn on it as a
Settle click draws its own: the root settled, the voters' Undo gone, and a reply telling everyone
involved, once across processes (``_draw_verdicts``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import admin
from bot.delivery import CONNECTION_ERRORS
from bot.digests import refused
from bot.services import Services
from bot.slack_errors import error_code, is_auth_error
from bot.slack_text import Mrkdwn, escape_mrkdwn, who
from bot.threads import open_once
from bot.views.disputes import (
    DisputeCard,
    dispute_message,
    not_allowed,
    settled_message,
    settled_reply,
    undisputed_message,
)
from bot.views.messages import info_message
from bot.views.models import LabelChoice, LabelRef
from engine import consensus, discussions, disputes, messaging, projects
from engine.discussions import Thread
from storage.errors import LabelGone, StaleActionError

log = logging.getLogger(__name__)


def _card(
    services: Services, project: str, found: consensus.Disagreement, *, chosen: bool = False
) -> DisputeCard:
    """The thread's card of ``found``; ``chosen``: each vote beside the label it clicked, where
    that counts as another label now (a settled thread's root, whose votes a merge made agree)."""
    return DisputeCard(
        example_id=found.example_id,
        text=found.text,
        project=project,
        votes=[(v.annotator, v.label) for v in found.votes],
        model=found.model,
        involved=found.involved,
        labels=[
            LabelChoice(lb.name, None, lb.id)
            for lb in projects.list_labels(services.ws, project=project, active_only=True)
        ],
        chosen=[v.chosen for v in found.votes] if chosen else (),
    )


def _open(services: Services, *, project: str, channel: str, found: consensus.Disagreement) -> bool:
    """Open the example's thread unless it has one or another thread or process is opening it.

    The claim is on the example, across processes (threads of one process too); a failed post
    releases it with no thread recorded, so the next round opens it."""
    where = open_once(
        services, project=project, example_id=found.example_id, kind=disputes.DISPUTE,
        channel=channel, root=lambda: dispute_message(_card(services, project, found)),
    )  # fmt: skip
    if where is None:
        return False
    link_discussion(services, example_id=found.example_id)
    return True


def link_discussion(services: Services, *, example_id: int) -> None:
    """An example with both a Discuss thread and a disagreement thread gets a word in the
    former pointing to the latter (which has the Settle buttons), once per Discuss thread
    across processes. Each side calls this once its own thread is recorded, so whichever comes
    second links them: a Discuss click whose check came just before the disagreement opened
    left two threads that never mentioned each other. (A Discuss click after the disagreement
    opened points to it rather than open a thread.)"""
    discussed = discussions.discuss_thread(services.ws, example_id=example_id)
    dispute = disputes.dispute_thread(services.ws, example_id=example_id)
    if discussed is None or dispute is None:
        return
    owner = disputes.claim_link(
        services.ws, example_id=example_id, discussed_ts=discussed.thread_ts
    )
    if owner is None:
        return  # linked already, or being linked
    try:
        link = services.client.chat_getPermalink(
            channel=dispute.channel, message_ts=dispute.thread_ts
        )
        note = (
            f"The experts now disagree on this example: <{link['permalink']}|settle it there>. "
            "Replies in either thread are kept with it."
        )
        services.courier.post(
            info_message(note), channel=discussed.channel, thread_ts=discussed.thread_ts
        )
    except SlackApiError as exc:  # the disagreement is posted: this word is a courtesy
        log.warning("disagreement on example %d not linked from its discussion: Slack said %s",
                    example_id, exc.response.get("error"))  # fmt: skip
    # posted or queued, or refused (not tried again); a process killed before this leaves the
    # claim to lapse, and a later call links them
    disputes.link_made(
        services.ws, example_id=example_id, discussed_ts=discussed.thread_ts, owner=owner
    )


def open_if_disputed(services: Services, *, project: str, example_id: int) -> bool:
    """After a vote: open the example's disagreement thread if it now has one; True if opened.
    A thread it has already, unsettled, is redrawn with the votes as they are now: a vote
    given again after an Undo (the thread had lost its Settle buttons), a third expert's.

    A Slack failure is logged, not raised: the label is stored, and the scheduler job opens
    the thread on its next round.
    """
    channel = projects.get_project(services.ws, project).channel_id
    if not channel:
        return False
    found = consensus.disagreements(services.ws, project, example_id=example_id)
    try:
        if not found:  # none, or settled: by a reviewer's change just now, say
            _draw_if_settled(services, project=project, example_id=example_id)
            return False
        if _open(services, project=project, channel=channel, found=found[0]):
            return True
        _redraw(services, project=project, found=found[0])
        return False
    except SlackApiError as exc:
        log.warning(
            "disagreement on example %d: Slack said %s", example_id, exc.response.get("error")
        )
        return False


def post_all_disputes(services: Services, *, seen: dict[Any, object] | None = None) -> int:
    """Open a thread for every unsettled disagreement that has none yet; how many opened.

    With ``seen`` (the scheduler job's memory, kept between rounds), each open thread whose
    votes changed since the last round is redrawn too: a vote or an Undo given outside Slack
    (`labelbot label`, another process whose redraw failed). A vote in Slack redraws its thread
    at once; the round after may redraw it once more, with the same content. A thread whose
    example was settled elsewhere (`labelbot adjudicate`, a reviewer's change from the terminal
    that carried the vote) is drawn settled, its voters' Undo gone, and told so in a reply,
    once across processes (:func:`_draw_verdicts`). ``seen`` keeps only the threads whose
    votes may still change it (open ones, those whose experts agree, those a reviewer's change
    settled): a thread adjudicated and drawn so, and those of examples or projects gone, are
    dropped. A quiet round's queries do not grow with the disagreements the project settled
    (consensus.standings: one read of its annotations; the example and the model's view are
    read only for a thread drawn).

    A refusal is logged with the project, channel, example and error, and the admins told when
    it is theirs to fix (bot.digests.refused). One message refused goes on with the next; a
    channel refused (archived, gone, the bot not in it) or rate limited skips the rest of that
    project this round, and the other projects still get theirs. A refused token or Slack down
    or out of reach stops the round: every call would fail alike.
    """
    opened = 0
    kept: set[Any] = set()  # the keys of ``seen`` still wanted
    for project in projects.list_projects(services.ws):
        channel = project.channel_id
        if not channel:
            continue
        every, _ = consensus.standings(services.ws, project.name)
        open_ones = [e for e, st in every.items() if st.differ and st.adjudicated is None]
        threads = disputes.dispute_threads(services.ws, project=project.name)
        has_thread = {t.example_id for t in threads}
        opened_here = 0
        for example_id in open_ones:
            if example_id in has_thread:
                continue  # opened already (open_once looks again before it opens one)
            try:
                found = _found(services, project=project.name, example_id=example_id)
                if found is None or found.adjudicated is not None:
                    continue  # settled, or agreed, since the read
                opened_here += _open(services, project=project.name, channel=channel,
                                     found=found)  # fmt: skip
            except (SlackApiError, *CONNECTION_ERRORS) as exc:
                if not refused(services.client, services.ws, exc, project=project.name,
                               channel=channel, what="disagreement threads",
                               item=f"example {example_id}"):  # fmt: skip
                    break
        opened += opened_here
        _link_missed(services, project=project.name, open_ones=open_ones)
        if seen is not None:
            if opened_here:
                threads = disputes.dispute_threads(services.ws, project=project.name)
            _follow_votes(services, project=project.name, every=every, threads=threads,
                          seen=seen, kept=kept)  # fmt: skip
    if seen is not None:  # the threads settled for good, of examples and projects gone
        for key in [k for k in seen if k not in kept]:
            del seen[key]
    return opened


def _link_missed(services: Services, *, project: str, open_ones: list[int]) -> None:
    """Link the Discuss threads of the project's unsettled disagreements (``open_ones``) to
    their threads where the link was missed: its claim left to lapse by a process killed before
    posting it (on another host: not taken over at once). :func:`link_discussion` claims each
    again."""
    for example_id in disputes.unlinked(services.ws, project=project, among=open_ones):
        try:
            link_discussion(services, example_id=example_id)
        except CONNECTION_ERRORS as exc:  # its claim lapses: the next round links it
            log.warning("disagreement on example %d not linked from its discussion: %s",
                        example_id, exc)  # fmt: skip
            return


def _follow_votes(
    services: Services,
    *,
    project: str,
    every: dict[int, consensus.Standing],
    threads: list[Thread],
    seen: dict[Any, object],
    kept: set[Any],
) -> int:
    """Redraw the project's unsettled threads whose votes changed since ``seen`` noted them
    (the first sight only notes them), and those settled elsewhere (:func:`_draw_verdicts`):
    a reviewer's change drawn before is drawn again when the votes changed (a later vote
    outvoted it, its thread drawn open, then taken back). How many were redrawn. Slack's
    refusals are logged.

    ``every``: the project's standings (consensus.standings); only the threads drawn are
    described (their example and the model's view read). A thread settled for good (an
    adjudication) whose verdict is drawn (its marker set for good, or settled by a click on
    it) needs nothing: it is not noted in ``seen`` (``kept``: the keys noted this round), and a
    quiet round reads them all in two queries (:func:`_follow_verdicts`), none per thread."""
    redrawn = 0
    settled: list[tuple[Thread, consensus.Standing, bool]] = []
    for thread in threads:
        example_id = thread.example_id
        found = every.get(example_id)
        votes = None if found is None else tuple((v.annotator, v.label) for v in found.votes)
        before = seen.get(example_id, votes)
        verdict = None if found is None else found.adjudicated
        if (
            found is not None
            and verdict is not None
            and _drawn_settled(found, votes_differ=found.differ)
        ):
            # settled: its root says so (a merge since, which made its votes agree, is redrawn
            # by the round's screen_redrawer, with the verdict's name today: refresh_threads)
            if verdict.source == "review":  # a later vote may outvote it: followed
                seen[example_id] = votes
                kept.add(example_id)
            settled.append((thread, found, before != votes))
            continue
        seen[example_id] = votes
        kept.add(example_id)
        if verdict is not None or before == votes:
            continue
        drawn = None if found is None else _found(services, project=project,
                                                  example_id=example_id)  # fmt: skip
        redrawn += _redrawn(services, project=project, found=drawn, example_id=example_id)
    if settled:
        redrawn += _follow_verdicts(services, project=project, settled=settled)
    return redrawn


def _follow_verdicts(
    services: Services, *, project: str, settled: list[tuple[Thread, consensus.Standing, bool]]
) -> int:
    """Of ``settled`` (each thread drawn settled by its verdict, and whether its votes changed
    since the last round), draw those whose verdict, given elsewhere than on the thread, is not
    drawn yet (its marker not set for good), and a reviewer's change drawn before whose votes
    changed (it may have come back). Two queries for them all; the example and the model's
    view read only for those drawn. How many were drawn."""
    verdict_of = {
        thread.example_id: int(found.adjudicated.annotation_id or 0)
        for thread, found, _ in settled
        if found.adjudicated is not None
    }
    elsewhere = disputes.settled_elsewhere(
        services.ws, [(thread, verdict_of[thread.example_id]) for thread, _, _ in settled]
    )
    marked = disputes.verdicts_marked(services.ws, elsewhere)
    verdicts: list[tuple[Thread, consensus.Disagreement]] = []
    back: list[tuple[Thread, consensus.Disagreement]] = []
    for thread, standing, changed in settled:
        annotation_id = verdict_of[thread.example_id]
        if annotation_id not in elsewhere:
            continue  # settled by a click on its thread, which drew it
        came_back = (
            changed
            and standing.adjudicated is not None
            and (standing.adjudicated.source == "review")
        )
        if annotation_id in marked and not came_back:
            continue  # drawn
        found = _found(services, project=project, example_id=thread.example_id)
        if (
            found is None
            or found.adjudicated is None
            or (found.adjudicated.annotation_id != annotation_id)
        ):
            continue  # decided otherwise since the read: the next round looks again
        (verdicts if annotation_id not in marked else back).append((thread, found))
    drawn = 0
    if verdicts:
        drawn += _draw_verdicts(services, project=project, verdicts=verdicts)
    if back:
        drawn += _draw_verdicts(services, project=project, verdicts=back, again=True)
    return drawn


# where a verdict drawn by _draw_verdicts was given, as its reply says (one given by a Settle
# click on the thread is drawn by that click: settle)
_GIVEN = {"adjudication": "from the terminal", "review": "in a mislabel review"}


def _drawn_settled(
    found: consensus.Disagreement | consensus.Standing, *, votes_differ: bool
) -> bool:
    """Whether ``found``'s thread is drawn settled by its verdict: an adjudication, or a
    reviewer's change that carried the vote while the experts' votes differ (one that settled
    a single vote left, an Undo having made them agree, settled no disagreement)."""
    verdict = found.adjudicated
    if verdict is None or verdict.annotation_id is None:
        return False
    return verdict.source == "adjudication" or (verdict.source == "review" and votes_differ)


def _draw_if_settled(services: Services, *, project: str, example_id: int) -> None:
    """After a vote, or an Undo, that left the example no open disagreement: its thread, if it
    has one, drawn settled when a verdict given elsewhere decides it (:func:`_draw_verdicts`).
    A reviewer's change in Slack that carried the vote is drawn so at once, not a round later;
    one drawn before is drawn again, as it may have come back (a later vote outvoted it and
    reopened the thread, and was taken back); for an adjudication this finds it drawn already,
    or nothing to draw."""
    thread = disputes.dispute_thread(services.ws, example_id=example_id)
    if thread is None:
        return
    found = consensus.disagreements(services.ws, project, include_settled=True,
                                    example_id=example_id)  # fmt: skip
    if found and _drawn_settled(found[0], votes_differ=True):
        _draw_verdicts(services, project=project, verdicts=[(thread, found[0])], again=True)


def _draw_verdicts(
    services: Services,
    *,
    project: str,
    verdicts: list[tuple[Thread, consensus.Disagreement]],
    again: bool = False,
) -> int:
    """Draw each thread of ``verdicts`` settled whose verdict was given elsewhere than on it
    (`labelbot adjudicate`, a reviewer's change that carried the vote): its root says "Settled
    as X by …" without Settle buttons, a reply tells everyone involved (:func:`_draw_verdict`),
    and the voters' labeled messages lose their Undo, as a Settle click leaves them
    (:func:`settle`). Once across processes (engine.disputes.claim_verdict): its marker set
    for good, later rounds pass it by (:func:`_follow_verdicts`). ``again``: a reviewer's
    change drawn before is drawn again, without a second reply (it may have come back: its
    marker stays set while a later vote outvotes it), its root only:
    the votes it was given over lost their Undo when it was first drawn, and those given since
    keep theirs (engine.labeling refuses only the Undo of a vote older than the verdict). How
    many were drawn. A refused token is raised (every update would fail alike) and the
    verdict is drawn by a later round; any other refusal (a deleted root, say) is logged."""
    from bot import flow  # it imports this module

    elsewhere = disputes.settled_elsewhere(
        services.ws,
        [(thread, int(found.adjudicated.annotation_id or 0))
         for thread, found in verdicts if found.adjudicated is not None],
    )  # fmt: skip
    drawn = 0
    for thread, found in verdicts:
        assert found.adjudicated is not None and found.adjudicated.annotation_id is not None
        annotation_id = found.adjudicated.annotation_id
        owner = None
        if annotation_id in elsewhere:
            owner = disputes.claim_verdict(services.ws, annotation_id=annotation_id)
        # drawn before (its marker taken for good), a reviewer's change may have come back
        redraw = again and annotation_id in elsewhere and found.adjudicated.source == "review"
        if owner is not None:
            drawn += _draw_verdict(services, project=project, thread=thread, found=found,
                                   owner=owner)  # fmt: skip
            # the voters' Undo is refused for good: their labeled messages lose it. Not when
            # drawn again: those votes lost it then, and a vote given since may be undone (its
            # verdict came before it): a later vote agreeing with it kept its Undo, and each
            # vote on the example redrew every voter's message again
            flow.close_undos(services, example_id=found.example_id, before=annotation_id)
        elif redraw:  # the root only: its reply was posted with the marker's taking
            drawn += _redrawn(services, project=project, found=found,
                              example_id=found.example_id)  # fmt: skip
        # one another process is drawing is looked at again next round: it may die before it
        # is done (its claim lapses, and a later round draws the verdict)
    return drawn


def _draw_verdict(
    services: Services, *, project: str, thread: Thread, found: consensus.Disagreement, owner: str
) -> bool:
    """Draw ``found``'s verdict, claimed by ``owner``, on ``thread``: the root settled, then
    the reply a Settle click posts (saying where it was settled), which notifies everyone
    involved (an edited root notifies nobody). The reply only with the claim, so once, and
    only for a verdict given lately (engine.disputes.reply_due). Whether Slack took the root.
    The claim is set for good once Slack took both (or queued them in the outbox), or refused
    them (logged: a deleted root is not drawn again); a refused token gives it back and is
    raised, as any other failure is; a process killed meanwhile leaves it to lapse, and a
    later round draws the verdict."""
    verdict = found.adjudicated
    assert verdict is not None and verdict.annotation_id is not None
    try:
        _redraw(services, project=project, found=found)
        if disputes.reply_due(given_at=verdict.at):
            reply = settled_reply(
                _card(services, project, found),
                label=verdict.label,
                user=verdict.annotator,
                how=_GIVEN.get(verdict.source, ""),
            )
            services.courier.post(reply, channel=thread.channel, thread_ts=thread.thread_ts)
    except SlackApiError as exc:
        if is_auth_error(exc):
            disputes.verdict_undrawn(services.ws, annotation_id=verdict.annotation_id, owner=owner)
            raise
        log.info("could not draw the verdict on example %d: Slack said %s",
                 found.example_id, error_code(exc))  # fmt: skip
        disputes.verdict_drawn(services.ws, annotation_id=verdict.annotation_id, owner=owner)
        return False
    except Exception:
        disputes.verdict_undrawn(services.ws, annotation_id=verdict.annotation_id, owner=owner)
        raise
    disputes.verdict_drawn(services.ws, annotation_id=verdict.annotation_id, owner=owner)
    return True


def _redrawn(
    services: Services, *, project: str, found: consensus.Disagreement | None, example_id: int
) -> bool:
    """:func:`_redraw`, and whether Slack took it: a refused token is raised (every update
    would fail alike), any other refusal (a deleted root, say) logged."""
    try:
        _redraw(services, project=project, found=found, example_id=example_id)
    except SlackApiError as exc:
        if is_auth_error(exc):
            raise
        log.info("could not redraw the disagreement on example %d: Slack said %s",
                 example_id, error_code(exc))  # fmt: skip
        return False
    return True


def may_settle(
    services: Services, *, user: str, project: str, involved: list[str], team: str | None
) -> bool:
    """Project admins (``team``: the installing workspace, see admin.is_admin), and the experts
    who labeled the example."""
    return user in involved or admin.is_admin(services, user=user, project=project, team=team)


def refresh_thread(services: Services, *, project: str, example_id: int) -> None:
    """Redraw an unsettled disagreement thread's root after a vote was taken back: the votes as
    they are now, or, when the experts agree again, a note without Settle buttons. A Slack
    failure is logged: the next Settle click answers from the votes as they are."""
    if disputes.dispute_thread(services.ws, example_id=example_id) is None:
        return
    found = _found(services, project=project, example_id=example_id)
    try:
        if found is not None and found.adjudicated is not None:
            # settled: its message says so already, unless the Undo took back a vote that had
            # outvoted a reviewer's change (the thread drawn open), which decides again
            _draw_if_settled(services, project=project, example_id=example_id)
            return
        _redraw(services, project=project, found=found, example_id=example_id)
    except SlackApiError as exc:
        log.warning("could not redraw the disagreement on example %d: Slack said %s",
                    example_id, exc.response.get("error"))  # fmt: skip


def refresh_threads(services: Services, *, project: str, after_change: int | None = None) -> int:
    """Redraw every disagreement thread of ``project`` after a taxonomy change. An unsettled
    one: the votes named as they count now, the Settle buttons and menu with today's labels (a
    label added or split since is offered, a retired one not), or a note when the change made
    the experts agree. A settled one keeps its verdict, named as it counts today (a rename, a
    merge: its votes may now agree, it was settled all the same), redrawn only when it shows a
    label the latest change names (a CLI change of another label picked up with it may leave
    the name the verdict was given under, which it was). How many were redrawn. A
    refused token stops it (every update would fail alike); any other refusal (a deleted root,
    say) is logged and the rest are redrawn.

    A thread whose experts agree (its note, which names no label) is redrawn only when the
    change may have made them agree: a merge, split or retire (or its undo) of a label one of
    its votes shows. One the note was drawn on before (by the change that made them agree, an
    Undo, the scheduler's round) is left as it is: a rename cannot change the note.

    The change: the latest one (``after_change`` None: a redraw just after the change it made),
    or every change made after the one with id ``after_change`` (the scheduler's round, which
    may come after several: consensus.taxonomy_changes), so a merge followed by a rename before
    the round is redrawn as a merge."""
    threads = disputes.dispute_threads(services.ws, project=project)
    if not threads:
        return 0
    changes = consensus.taxonomy_changes(services.ws, project, after=after_change)
    regroups, touched = changes.regroups, changes.names
    every, names = consensus.standings(
        services.ws, project, names_of=[t.example_id for t in threads] if regroups else ()
    )
    redrawn = 0
    for thread in threads:
        example_id = thread.example_id
        standing = every.get(example_id)
        found: consensus.Disagreement | None = None
        if standing is not None and standing.adjudicated is not None:
            # the votes differ, or did as clicked (a merge since made them agree: it was settled
            # all the same); a reviewer's change over a single vote left settled nothing
            differ = standing.differ or len({v.chosen for v in standing.votes}) > 1
            if _drawn_settled(standing, votes_differ=differ):
                # showing no label the change touched: its root is left as it was
                if _shown(standing) & touched:
                    redrawn += _redrawn(services, project=project,
                                        found=_found(services, project=project,
                                                     example_id=example_id),
                                        example_id=example_id)  # fmt: skip
                continue
            # drawn as unsettled (as the round and an Undo treat it): its votes, or a note
            if standing.differ:
                described = _found(services, project=project, example_id=example_id)
                found = None if described is None else replace(described, adjudicated=None)
        elif standing is not None:
            found = _found(services, project=project, example_id=example_id)
        if found is None and not (regroups and names.get(example_id, set()) & touched):
            continue  # its experts agree, and did before this change: its note stands
        redrawn += _redrawn(services, project=project, found=found, example_id=example_id)
    return redrawn


def _shown(found: consensus.Disagreement | consensus.Standing) -> set[str]:
    """The label names a settled thread's root shows: each as clicked and as it counts."""
    votes = [*found.votes, *([found.adjudicated] if found.adjudicated else [])]
    return {name for v in votes for name in (v.label, v.chosen) if name is not None}


def _found(services: Services, *, project: str, example_id: int) -> consensus.Disagreement | None:
    """The example's disagreement, settled or not; None when its experts agree and nobody
    settled it (a settled one whose votes a merge made agree is found: it was settled)."""
    found = consensus.disagreements(services.ws, project, include_settled=True,
                                    example_id=example_id)  # fmt: skip
    if found:
        return found[0]
    return consensus.settlements(services.ws, project, example_id=example_id).get(example_id)


def _redraw(
    services: Services,
    *,
    project: str,
    found: consensus.Disagreement | None,
    example_id: int | None = None,
) -> None:
    """Redraw the root of the example's thread (if it has one): ``found``'s votes with Settle
    buttons, or its verdict once settled, or (None: the experts agree again) a note without
    them."""
    example_id = found.example_id if found is not None else example_id
    assert example_id is not None
    thread = disputes.dispute_thread(services.ws, example_id=example_id)
    if thread is None:
        return  # another process is opening it, with the votes as they are
    if found is not None and found.adjudicated is not None:
        verdict = found.adjudicated
        root = settled_message(_card(services, project, found, chosen=True), label=verdict.label,
                               user=verdict.annotator, chosen=verdict.chosen)  # fmt: skip
    elif found is not None:
        root = dispute_message(_card(services, project, found))
    else:
        ref = messaging.example_ref(services.ws, example_id=example_id)
        root = undisputed_message(example_id, ref.text, project)
    services.courier.update(root, channel=thread.channel, ts=thread.thread_ts)


def settle(
    services: Services, *, user: str, example_id: int, label: LabelRef, channel: str, ts: str,
    team: str | None,
) -> str | None:  # fmt: skip
    """Store the final label (once per click) and show it; the refusal to tell, if any.
    ``label``: the label's id (what buttons carry), or its name (messages from before ids).
    Only on the example's own disagreement thread (``channel``, ``ts``): any other message is
    refused, nothing changed."""
    project = messaging.example_ref(services.ws, example_id=example_id).project
    found = _found(services, project=project, example_id=example_id)
    if found is None:
        refresh_thread(services, project=project, example_id=example_id)  # its buttons go
        raise StaleActionError(f"the experts no longer disagree on example {example_id}")
    if not may_settle(services, user=user, project=project, involved=found.involved, team=team):
        return not_allowed(project)
    thread = disputes.dispute_thread(services.ws, example_id=example_id)
    if thread is None or (thread.channel, thread.thread_ts) != (channel, ts):
        # a click made up to name another message (an expert's DM, another example's thread, a
        # card of the channel): settling would draw this example's verdict over it for good
        log.warning("a Settle click of example %d on message %s of %s, not its disagreement "
                    "thread: refused", example_id, ts, channel)  # fmt: skip
        raise StaleActionError(
            f"this message is not the disagreement thread of example {example_id}"
        )
    settled = found.adjudicated
    if settled is not None and settled.source == "adjudication":
        if settled.annotator == user:
            return None  # their own click again (a retry): settled already
        raise StaleActionError(  # mrkdwn (bot.app.handle_error): a mention, names escaped
            Mrkdwn(
                f"this was already settled as *{escape_mrkdwn(settled.label)}* by "
                f"{who(settled.annotator)}"
            )
        )
    try:
        result = consensus.adjudicate(
            services.ws,
            project=project,
            example_id=example_id,
            label=label,  # by id: renamed since, it counts under its new name
            actor=user,
            key=f"slack:{channel}:{ts}:{user}",
        )
    except LabelGone:
        refresh_thread(services, project=project, example_id=example_id)  # today's labels
        raise StaleActionError("that label no longer exists: an undo removed it") from None
    except StaleActionError:
        # a label split or retired since the thread was drawn: the refusal says where it went
        # and what to pick, and the thread now offers those labels
        refresh_thread(services, project=project, example_id=example_id)
        raise
    if not result.created:
        return None  # a retry or a double click
    card = _card(services, project, found)
    services.courier.update(
        settled_message(card, label=result.label, user=user), channel=channel, ts=ts
    )
    services.courier.post(
        settled_reply(card, label=result.label, user=user), channel=channel, thread_ts=ts
    )
    from bot import flow, review_flow  # they import this module

    # the voters' Undo is refused for good now: their labeled messages lose it at once
    flow.close_undos(services, example_id=example_id, before=result.annotation_id)
    # and a review of the example on someone's screen, which the verdict dismissed, says so
    try:
        review_flow.retire_withdrawn(services, project=project)
    except SlackApiError as exc:  # settled and shown: a click on the review still answers
        log.warning("a review withdrawn by the settle of example %d: Slack said %s",
                    example_id, error_code(exc))  # fmt: skip
    return None
