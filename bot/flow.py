"""The labeling conversation, between the listeners and the engine: what a click leads to.

Each function does one step for one expert (deliver the next example, store a label, skip,
undo, discuss, flag) and renders the result with `bot.views`. Listeners ack, parse, call one
of these. Engine errors (LabelbotError) travel up to the app's one error handler.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import disputes, flag_threads, ids, threads, views
from bot.delivery import (
    CONNECTION_ERRORS,
    asked_to_wait,
    rate_limited,
    refusal,
    single_try,
    transient_error,
)
from bot.posting import NotPosted, post_once
from bot.services import Services
from bot.slack_errors import CONTENT_ERRORS, error_code, is_auth_error
from bot.slack_text import Mrkdwn, escape, escape_mrkdwn, names_list, who
from bot.views import home as home_view
from bot.views.models import LabelRef
from bot.views.rhythm import batch_summary
from bot.views.text import Block, context
from bot.workspace_admins import AdminCheckError
from engine import (
    discussions,
    importing,
    jobs,
    labeling,
    messaging,
    planned_posts,
    predicting,
    progress,
    project_settings,
    projects,
    reviews,
    training,
)
from engine.labeling import BatchCount, Task
from storage.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailable,
    InvalidInputError,
    LabelbotError,
    LabeledByOther,
    NotFoundError,
    SkippedBefore,
    StaleActionError,
)
from storage.models import Project

BATCH_SIZE = 5
log = logging.getLogger(__name__)
# A channel mention as Slack sends it in a command's text (manifest.yml: should_escape: true,
# so that a typed #channel or @user arrives as its id): <#C0123|name>, or <#C0123> / <#C0123|>
# without the name.
CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^<>]*)?>")


def click_key(channel: str, message_ts: str, user: str) -> str:
    """Idempotency key of a click: the message it was on and who clicked (retries and double
    clicks share it, so they store nothing more)."""
    return f"slack:{channel}:{message_ts}:{user}"


def clicked_on(key: str) -> tuple[str, str, str] | None:
    """The channel, message ts and user a :func:`click_key` names; None for another key."""
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != "slack" or not all(parts[1:]):
        return None
    return parts[1], parts[2], parts[3]


class WhichProject(InvalidInputError):
    """No project was named and the channel does not say which: the question, and the
    projects to choose from (``names``)."""

    def __init__(self, message: str, *, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


MAX_CHOICES = 20  # projects named in an answer; it says how many more there are


def some_of(commands: Sequence[str]) -> str:
    """Up to MAX_CHOICES of ``commands`` (one per project) as prose, "a, b or c", and then how
    many were left out: "a, …, t, … and 15 more projects"."""
    left = len(commands) - MAX_CHOICES
    if left <= 0:
        return names_list(list(commands), conjunction="or")
    more = f"{left} more project{'s' if left != 1 else ''}"
    return f"{', '.join(commands[:MAX_CHOICES])}, … and {more}"


def _channel_project(known: Sequence[Project], channel: str) -> str | None:
    """The project of ``known`` whose channel is ``channel``, or None. Should several share
    the channel, which one is not guessed: the answer asks, naming them (InvalidInputError)."""
    found = [p.name for p in known if p.channel_id == channel]
    if len(found) > 1:
        choices = some_of([f"`/label {escape(n)}`" for n in found])
        raise WhichProject(  # mrkdwn: a channel link (bot.app.handle_error)
            Mrkdwn(
                f"which project? <#{channel}> is the channel of {len(found)} projects: "
                f"try {choices}"
            ),
            names=found,
        )
    return found[0] if found else None


# Guest accounts (Slack's multi- and single-channel guests) use only the projects their admins
# opened to them (`labelbot project set NAME --guests allow`); nor are other projects named to
# them. users.info says who is one (bot.workspace_admins, its answers kept a few minutes).
GUEST_REFUSAL = (
    "labelbot is not open to guest accounts in this workspace: ask a project admin to open "
    "their project to guests (`labelbot project set NAME --guests allow`). Nothing was done."
)
GUEST_NOT_CHECKED = (
    "Could not check with Slack just now whether your account may use labelbot (guest "
    "accounts use only the projects opened to them), so nothing was done. Please try again "
    "in a moment."
)
GUEST_NOT_ALLOWED = (
    "Could not check whether your account may use labelbot: Slack refused labelbot's question "
    "(`{error}`), and that will not pass by itself, so nothing was done. Ask whoever runs "
    "labelbot to fix the app's token or scopes (users.info needs users:read)."
)


class GuestRefused(LabelbotError):
    """A guest account asked for a project not open to guests (or could not be told from one
    in time): nothing was done."""


def is_guest(services: Services, user: str) -> bool:
    """Whether ``user`` is a guest account, as users.info says (answers kept a few minutes);
    GuestRefused when Slack does not say (labelbot fails closed)."""
    try:
        return services.workspace_admins.member(user).guest
    except AdminCheckError as exc:
        said = GUEST_NOT_ALLOWED.format(error=exc.error) if exc.lasting else GUEST_NOT_CHECKED
        raise GuestRefused(said) from exc


def open_to(services: Services, user: str | None, known: Sequence[Project]) -> list[Project]:
    """The projects of ``known`` that ``user`` may use and see named: all of them for a full
    member of the workspace (or no user said), those open to guests for a guest account.
    users.info is asked only when some project is not open to guests."""
    if user is None or all(project_settings.guests_allowed(p) for p in known):
        return list(known)
    if not is_guest(services, user):
        return list(known)
    return [p for p in known if project_settings.guests_allowed(p)]


def _guest_refusal(known: Sequence[Project]) -> GuestRefused:
    """The refusal of a guest account, naming the projects open to guests (``known``)."""
    if not known:
        return GuestRefused(GUEST_REFUSAL)
    return GuestRefused(
        "that project is not open to guest accounts: ask one of its admins to open it "
        f"(`labelbot project set NAME --guests allow`). Open to guests: {_choices(known)}. "
        "Nothing was done."
    )


def check_open(services: Services, *, user: str, project: str) -> None:
    """Refuse (GuestRefused) a guest account ``project``, unless it is open to guests."""
    known = projects.list_projects(services.ws)
    allowed = open_to(services, user, known)
    if not any(p.name == project for p in allowed) and any(p.name == project for p in known):
        raise _guest_refusal(allowed)


def _named(known: Sequence[Project], word: str) -> str | None:
    """The project of ``known`` that ``word`` names: a mention of its channel, or its name."""
    mention = CHANNEL_MENTION.fullmatch(word)
    if mention:
        return _channel_project(known, mention.group(1))
    return next((p.name for p in known if p.name == word), None)


def project_named(services: Services, word: str, *, user: str | None = None) -> str | None:
    """The project ``word`` names: a mention of its channel (`#channel`), or its name; with
    ``user``, only among those open to them (:func:`open_to`): a guest naming one closed to
    them is refused (GuestRefused), as `/label <project>` refuses them, not read as text."""
    everything = projects.list_projects(services.ws)
    known = open_to(services, user, everything)
    found = _named(known, word)
    if found is None and len(known) < len(everything) and _named(everything, word):
        raise _guest_refusal(known)
    return found


def refuse_unknown_word(services: Services, word: str, *, user: str) -> None:
    """Refuse (InvalidInputError) ``word``, the first of `/label <word> ...` that is no verb,
    when it names no project but is close to a verb or to a project's name (in any case,
    among those open to ``user``): `/label halp`, `/label predit my card`, `/label Bank`.
    Any other word is left to :func:`resolve_project` (no project, a guest's refusal)."""
    everything = projects.list_projects(services.ws)
    if not word or CHANNEL_MENTION.fullmatch(word) or any(p.name == word for p in everything):
        return
    names = {p.name.lower(): p.name for p in open_to(services, user, everything)}
    close = difflib.get_close_matches(word.lower(), [*ids.COMMAND_VERBS, *names], n=3)
    if close:
        tried = names_list([f"`/label {names.get(c, c)}`" for c in close], conjunction="or")
        raise InvalidInputError(
            f"unknown command or project {word!r}: did you mean {tried}? "
            "`/label help` lists the commands"
        )


def resolve_project(
    services: Services,
    name: str | None,
    *,
    channel: str | None = None,
    user: str | None = None,
    lists_only: bool = False,
) -> str:
    """The project named (or whose channel is mentioned), else the channel's project, else the
    only one; or a helpful error.

    With ``user``, a guest account reaches only the projects open to guests, and is named no
    other (GuestRefused, which says so); with ``lists_only`` too (a command only a project's
    admins may use, who check the user anyway), users.info is asked only before an answer
    would name projects."""
    everything = projects.list_projects(services.ws)
    known = everything if lists_only else open_to(services, user, everything)
    guest = len(known) < len(everything)
    mention = CHANNEL_MENTION.fullmatch(name or "")
    if mention:
        found = _channel_project(known, mention.group(1))
        if found is None and guest:
            raise _guest_refusal(known)
        if found is None:
            raise NotFoundError(  # mrkdwn: a channel link (bot.app.handle_error)
                Mrkdwn(
                    f"no project has <#{mention.group(1)}> as its channel: name the project "
                    f"(`/label &lt;project&gt;`), or an admin binds one with "
                    f"`labelbot project set &lt;project&gt; --channel {mention.group(1)}`"
                )
            )
        return found
    if name:
        found = next((p.name for p in known if p.name == name), None)
        if found is not None:
            return found
        if lists_only:  # the error below names every project
            known = open_to(services, user, everything)
            guest = len(known) < len(everything)
        if guest:
            raise _guest_refusal(known)
        return projects.get_project(services.ws, name).name
    if not known:
        raise (
            _guest_refusal(known)
            if everything
            else NotFoundError(
                "there are no projects yet: an admin creates one with `labelbot project create`"
            )
        )
    # The channel's project before the only one: a guest in the channel of a project closed to
    # them is refused there, not answered from the one project open to them.
    found = _channel_project(known, channel) if channel else None
    if found is not None:
        return found
    if guest and channel and any(p.channel_id == channel for p in everything):
        raise _guest_refusal(known)
    if len(known) == 1:
        return known[0].name
    if lists_only:
        known = open_to(services, user, everything)
        if len(known) < len(everything):
            raise _guest_refusal(known)
    raise WhichProject(f"which project? Try {_choices(known)}", names=[p.name for p in known])


def _choices(known: Sequence[Project]) -> str:
    """``/label NAME`` for each project of ``known`` as :func:`some_of` names them (in text
    escaped as a whole: the names as typed)."""
    return some_of([f"`/label {p.name}`" for p in known])


def _card(task: Task) -> views.ExampleCard:
    return views.ExampleCard(
        example_id=task.example_id,
        text=task.text,
        project=task.project,
        labels=[views.LabelChoice(lb.name, lb.description or None, lb.id) for lb in task.labels],
        labeled_today=task.done_today,
        queue_left=task.queue_left,
        suggestion=(
            views.Suggestion(*task.suggestion, runner_up=task.runner_up)
            if task.suggestion
            else None
        ),
        earlier=[views.EarlierLabel(e.label, e.annotators, e.into) for e in task.earlier],
        reason=views.AskReason(task.reason.kind, task.reason.label) if task.reason else None,
    )


# One delivery to an expert at a time (per project): two of their requests landing at once (a
# Skip and `/label`, on two replicas say) both found the example not yet posted and posted it
# twice. The later one waits for the earlier's lease (one chat.postMessage, retries included),
# then decides on what it left; past the wait it goes ahead rather than send nothing. The lease
# outlasts the slowest post: three tries of 10 s, each lost answer followed by a search of the
# conversation (bot.delivery.find_post, up to 3 calls of 5 s), and the backoff between them.
#
# An answer (a label, Skip, a flag, a review's verdict) holds the same lease from its store to
# the next delivery, and a taxonomy change's redraw holds it around each message's re-read and
# update: otherwise an answer stored and drawn between the two lost to the redraw, which drew
# the buttons back. An answer waits for one redraw of one message (one chat.update), or for a
# delivery in flight, as its next delivery did already; the lease it holds is the one that
# delivery takes (re-entrant, below), so an answer followed by a next example costs no more
# writes (one more claim when none follows: a batch's end, a repeated click). Held so, the
# lease covers an answer's chat.update (three tries of 10 s) before that slowest post, about
# 110 s in a Slack brownout: twice that, so that it does not lapse mid-answer and let another
# delivery in. A process killed holding it (its `finally` never ran) costs the expert's next
# requests at most DELIVERY_WAIT_S each until it lapses.
DELIVERY_LEASE = timedelta(seconds=240)
DELIVERY_WAIT_S = 15.0
DELIVERY_POLL_S = 0.05
# The turns this thread holds: the lease is owned per thread (engine.jobs.claim), so a claim
# nested in the same thread (an answer's next delivery) would be granted at once, and its
# release would end the outer one's early; it is held on instead. A turn taken without the
# lease (the wait ran out) counts too: an answer waits once, not again for its next delivery.
_turns = threading.local()


def _turns_held() -> set[str]:
    names: set[str] | None = getattr(_turns, "names", None)
    if names is None:
        names = _turns.names = set()
    return names


@contextmanager
def _one_delivery_at_a_time(services: Services, *, user: str, project: str) -> Iterator[None]:
    name = f"deliver:{user}:{project}"
    held = _turns_held()
    if name in held:
        yield
        return
    deadline = time.monotonic() + DELIVERY_WAIT_S
    while True:
        with jobs.claim(services.ws, name, ttl=DELIVERY_LEASE) as got:
            if got or time.monotonic() >= deadline:
                if not got:
                    log.warning("going on for %s in %s without the lease %s", user, project, name)
                held.add(name)
                try:
                    yield
                finally:
                    held.discard(name)
                return
        time.sleep(DELIVERY_POLL_S)


def expert_turn(services: Services, *, user: str, project: str) -> AbstractContextManager[None]:
    """Hold ``user``'s turn in ``project`` for the block: their deliveries, answers and the
    redraws of their messages take turns (across replicas), each waiting at most
    ``DELIVERY_WAIT_S`` for the one before; re-entrant within a thread."""
    return _one_delivery_at_a_time(services, user=user, project=project)


# A click that starts a batch ("Label 5 now", "5 more") moves an example already waiting in
# the DM down to a new message, where the expert is looking, unless that message is this recent:
# then the click is most likely the second of a double click, which posted the example twice.
REPOST_AFTER_S = 60.0


def send_next(
    services: Services,
    *,
    user: str,
    project: str,
    again: bool = True,
    again_after: float | None = None,
) -> bool:
    """DM ``user`` their next example of ``project``; False when the queue is empty, and a
    NotFoundError saying how examples are imported when the project holds none.

    With ``again=False`` an example already delivered (still waiting in the DM) is not posted
    a second time, unless its message is over ``again_after`` seconds old. Deliveries to one
    expert in one project take turns (across replicas).
    """
    with _one_delivery_at_a_time(services, user=user, project=project):
        return _send_next(
            services, user=user, project=project, again=again, again_after=again_after
        )


def _send_next(
    services: Services, *, user: str, project: str, again: bool, again_after: float | None
) -> bool:
    task = labeling.next_task(services.ws, project=project, annotator=user, reviews=True)
    if task is None:
        if projects.project_contents(services.ws, project).examples == 0:
            raise NotFoundError(Mrkdwn(no_examples(project)))  # not "nothing left": none came
        return False
    if not again and task.delivered and not _older(task.shown_in, again_after):
        return True
    if task.kind == "review":
        from bot import review_flow  # it imports this module

        posted = review_flow.post_review(services, user=user, task=task)
    else:
        message = views.labeling_message(_card(task))
        posted = services.courier.post(message, channel=user, assignment_id=task.assignment_id)
    if posted is not None and task.shown_in is not None and task.shown_in != posted:
        _moved(services, task.shown_in)
    return True


def _moved(services: Services, where: tuple[str, str]) -> None:
    """The earlier message of an example posted again loses its buttons: two live copies
    would answer every click on the second with "you already labeled this example"."""
    note = views.info_message("This example moved to a newer message below.")
    try:
        services.courier.update(note, channel=where[0], ts=where[1])
    except SlackApiError as exc:  # deleted by the expert, say: nothing left to tidy
        log.info("could not retire the earlier copy %s: %s", where, exc.response.get("error"))


def _answered(services: Services, message: Block, *, channel: str, ts: str) -> None:
    """chat.update of the message an expert just answered (labeled, skipped, undone, flagged):
    its buttons go. What was stored stays stored and the loop goes on whatever Slack says here
    (what it could not take now is queued by the courier). A refusal (the expert deleted the
    message: message_not_found) is logged; so is a refused bot token, which refuses the next
    message too, and that failure tells the expert (bot.app.handle_error)."""
    try:
        services.courier.update(message, channel=channel, ts=ts)
    except SlackApiError as exc:
        log.warning("could not update the answered message %s/%s: %s", channel, ts,
                    error_code(exc))  # fmt: skip


SETTLED_NOTE = "A taxonomy change settled this example's label: nothing to do here."


def redraw_on_screen(services: Services, *, project: str, after_change: int | None = None) -> int:
    """Redraw every message of ``project`` still waiting for an answer with today's labels
    (after a taxonomy change: a merged or retired label's button goes, an added one appears):
    labeling messages, reviews on reviewers' screens and unsettled disagreement threads; how
    many were redrawn. https://docs.slack.dev/reference/methods/chat.update

    An example the change settled (an undo made its old label count again) has nothing left
    to ask: its message says so and the expert's next example follows. So does a review the
    change made moot (its label or the suggestion split or retired, or both merged).

    ``after_change``: the disagreement threads' redraw covers every taxonomy change made after
    the one with this id, not only the latest (disputes.refresh_threads)."""
    from bot import review_flow  # it imports this module

    settled = labeling.let_go_of_settled(services.ws, project=project)
    shown = labeling.tasks_on_screen(services.ws, project=project)
    in_review = reviews.reviews_on_screen(services.ws, project=project)
    drawn = [(views.labeling_message(_card(task)), task, c, ts) for task, c, ts in shown]
    drawn += [(review_flow.message(task), task, c, ts) for task, c, ts in in_review]
    for message, task, channel, ts in drawn:
        _redraw_one(services, message, task=task, channel=channel, ts=ts)
    for gone in settled:
        note = views.info_message(SETTLED_NOTE)
        try:
            services.courier.update(note, channel=gone.channel, ts=gone.ts)
        except SlackApiError as exc:  # deleted by the expert, say: the next one still follows
            log.info("could not retire %s: %s", gone, exc.response.get("error"))
        send_next(services, user=gone.annotator, project=project, again=False)
    withdrawn = review_flow.retire_withdrawn(services, project=project)
    threads = disputes.refresh_threads(services, project=project, after_change=after_change)
    return len(drawn) + len(settled) + withdrawn + threads


def _redraw_one(services: Services, message: Block, *, task: Task, channel: str, ts: str) -> None:
    """Redraw one message of the pass, unless it was answered since the pass read the screens
    (a label, Skip, a review's Keep): its buttons were taken away, and redrawn now it would
    offer them again, the example maybe out with another expert by then (each process redraws
    a change: the one it was made in at once, the others at their next round). Read again in
    the expert's turn, which an answer holds from its store to its chat.update: an answer
    waits for this update, then draws over it, rather than landing between the read and it."""
    with expert_turn(services, user=task.annotator, project=task.project):
        if not labeling.still_on_screen(
            services.ws, assignment_id=task.assignment_id, channel=channel, ts=ts
        ):
            return
        try:
            services.courier.update(message, channel=channel, ts=ts)
        except SlackApiError as exc:
            if is_auth_error(exc):
                raise  # every other message would fail alike
            # deleted by the expert, say: its old buttons are still answered with today's
            # labels, and the other messages are redrawn
            log.info("could not redraw %s in %s: %s", task.example_id, channel, error_code(exc))


def _older(shown_in: tuple[str, str] | None, seconds: float | None) -> bool:
    """Whether the message ``shown_in`` (channel, Slack ts) was posted over ``seconds`` ago."""
    if shown_in is None or seconds is None:
        return False
    try:
        return time.time() - float(shown_in[1]) > seconds
    except ValueError:  # not a Slack ts: leave the message where it is
        return False


def start_batch(
    services: Services, *, user: str, project: str, size: int = BATCH_SIZE, click: bool = False
) -> bool:
    """Deliver the first of ``size`` examples; the loop stops after that many answers.

    Typed, `/label 5` posts an example already waiting in the DM again, below. A click ("5
    more", "Label 5 now") does so only when that message is over ``REPOST_AFTER_S`` old: a
    double click posted it twice.
    """
    services.batches.start(user, project, size)
    if click:
        return send_next(
            services, user=user, project=project, again=False, again_after=REPOST_AFTER_S
        )
    return send_next(services, user=user, project=project)


def flag_form(example_id: int, *, channel: str, ts: str) -> Block:
    """The flag modal, remembering which DM to update once it is submitted."""
    view = views.flag_modal(example_id)
    meta = json.loads(view["private_metadata"])
    view["private_metadata"] = json.dumps({**meta, "channel": channel, "ts": ts})
    return view


def flag_form_for(
    services: Services, *, user: str, example_id: int, channel: str, ts: str
) -> Block:
    """:func:`flag_form` for a Flag click by ``user``: only on a message sent to them
    (engine.labeling.check_sent_to), since its submission writes over that message."""
    labeling.check_sent_to(services.ws, example_id=example_id, annotator=user, channel=channel)
    return flag_form(example_id, channel=channel, ts=ts)


def flag_origin(private_metadata: str) -> tuple[str, str] | None:
    meta = json.loads(private_metadata or "{}")
    return (meta["channel"], meta["ts"]) if "channel" in meta and "ts" in meta else None


def full_text(services: Services, *, example_id: int, user: str | None = None) -> Block:
    """The example's whole text in a modal; a guest account's only from a project open to
    guests (:func:`check_open`)."""
    ref = messaging.example_ref(services.ws, example_id=example_id)
    if user is not None:
        check_open(services, user=user, project=ref.project)
    return views.full_text_modal(ref.text, title=f"Example #{example_id}")


def _continue(services: Services, *, user: str, project: str, agreed: bool | None = None) -> None:
    """After an answer (``agreed``: with the model's view, None without one): the next example,
    unless a batch just ended (then its summary) or had ended before it. The latter is the
    relabel of an answer undone after the summary: the summary, still in view above with its
    "5 more" / "Done for now", stays the batch's one (a second one read as a second batch), and
    no example follows that nobody asked for. A batch the queue runs out in ends there too,
    with its summary saying so (README: each batch ends with one)."""
    count = services.batches.consume(user, project, agreed=agreed)
    if count is not None and not count.counted:
        return
    if count is not None and count.remaining <= 0:
        _summarize(services, user=user, project=project, count=count)
        return
    if send_next(services, user=user, project=project, again=False):
        return
    if count is None:
        services.courier.post(views.info_message(queue_empty(project)), channel=user)
        return
    # Dropped, not kept at 0 left as a finished one is: an answer undone now gives no place
    # back, and its relabel goes on as under a plain `/label` (a second summary would read as
    # a second batch).
    services.batches.end(user, project)
    _summarize(services, user=user, project=project, count=count, dry=True)


def _summarize(
    services: Services, *, user: str, project: str, count: BatchCount, dry: bool = False
) -> None:
    summary = batch_summary(project=project, done=count.done, compared=count.compared,
                            agreed=count.agreed, size=BATCH_SIZE, dry=dry)  # fmt: skip
    services.courier.post(summary, channel=user)


def next_or_done(services: Services, *, user: str, project: str) -> None:
    """The expert's next example, or word that the queue is empty."""
    if not send_next(services, user=user, project=project, again=False):
        services.courier.post(views.info_message(queue_empty(project)), channel=user)


def answered(services: Services, *, user: str, project: str, agreed: bool | None) -> None:
    """After an answer given outside this module (a review): count it, send what follows."""
    _continue(services, user=user, project=project, agreed=agreed)


def queue_empty(project: str) -> str:
    return f"Nothing left to label in *{escape_mrkdwn(project)}* right now. Thank you!"


def no_examples(project: str) -> str:
    """A project no examples were imported into: who adds them, and how (App Home says so
    too). `/label`, `/label 5` and "Label 5 now" answer it, not :func:`queue_empty`."""
    return (
        f"no examples to label in *{escape_mrkdwn(project)}* yet: an admin imports them with "
        f"`labelbot import {escape(project)} FILE`, then `/label {escape(project)}` sends you "
        "the first"
    )


def sent_to_dm(project: str) -> str:
    """`/label` typed in a channel: where the example went (nothing else shows there)."""
    return (
        f"Your next example of *{escape_mrkdwn(project)}* is in your direct messages with labelbot "
        "(under Apps in the sidebar)."
    )


def typed_in_own_dm(services: Services, *, user: str, channel: str) -> bool:
    """Whether ``channel``, where ``user`` typed a command, is their DM with labelbot, where the
    example they asked for shows. A DM between two people has a D… id too, and `/label` typed
    there showed nothing at all; labelbot's DM with them is the one conversations.open gives
    (the same every time; im:write). https://docs.slack.dev/reference/methods/conversations.open
    Asked only of a D… channel; when Slack does not answer, the command is answered as from
    elsewhere: saying where the example went is harmless in the DM itself."""
    if not channel.startswith("D"):
        return False
    try:
        opened = services.client.conversations_open(users=user)
    except (SlackApiError, *CONNECTION_ERRORS) as exc:
        log.info("could not tell whether %s is the DM of %s with labelbot: %s", channel, user,
                 transient_error(exc) or error_code(exc))  # fmt: skip
        return False
    return (opened.get("channel") or {}).get("id") == channel


def _labeled_elsewhere(services: Services, *, user: str, channel: str, ts: str) -> None:
    """A second copy of an example the expert labeled from another message: its buttons go
    (the error handler says why). A copy now with another expert is left alone."""
    note = views.info_message(f"<@{user}> labeled this example from another message.")
    _answered(services, note, channel=channel, ts=ts)


def apply_label(
    services: Services, *, user: str, example_id: int, label: LabelRef, channel: str, ts: str
) -> None:
    """Store a click exactly once, show who labeled what, and send the next example."""
    key = click_key(channel, ts, user)
    try:
        ref, repeated = messaging.prepare_label(
            services.ws, example_id=example_id, annotator=user, key=key, channel=channel
        )
    except labeling.NotSentToYou:
        raise  # a click copied or made up by someone else: their message is left as it is
    except StaleActionError:
        if messaging.labeled_by(services.ws, example_id=example_id, annotator=user):
            _labeled_elsewhere(services, user=user, channel=channel, ts=ts)
        else:
            _gone_elsewhere(services, user=user, example_id=example_id, channel=channel, ts=ts)
        raise
    with expert_turn(services, user=user, project=ref.project):
        disputed = _store_label(services, user=user, ref=ref, repeated=repeated, label=label,
                                key=key, channel=channel, ts=ts)  # fmt: skip
    if disputed:
        disputes.open_if_disputed(services, project=ref.project, example_id=example_id)


def _store_label(
    services: Services,
    *,
    user: str,
    ref: messaging.ExampleRef,
    repeated: messaging.StoredLabel | None,
    label: LabelRef,
    key: str,
    channel: str,
    ts: str,
) -> bool:
    """:func:`apply_label` in the expert's turn (:func:`expert_turn`): store the click, draw
    it answered, send the next; whether others hold a label on the example (a dispute, maybe).
    """
    example_id = ref.example_id
    if repeated is not None:
        # a retry, a double click, or a click on a message whose answer never reached Slack
        _answer_again(services, user=user, ref=ref, stored=repeated, clicked=label,
                      channel=channel, ts=ts)  # fmt: skip
        return False
    try:
        result = labeling.submit_label(
            services.ws,
            project=ref.project,
            example_id=example_id,
            label=label,  # its id (a name only from a message sent before ids were)
            annotator=user,
            source="slack",
            key=key,
        )
    except StaleActionError as exc:
        if messaging.labeled_by(services.ws, example_id=example_id, annotator=user):
            # a click on another live copy, at the same time, stored this expert's vote
            _labeled_elsewhere(services, user=user, channel=channel, ts=ts)
        elif messaging.labeled_by_others(services.ws, example_id=example_id, annotator=user):
            # Someone else labeled it first (its hold lapsed and it went on): let go of it so
            # the loop does not offer it again, and keep the expert going; the message says so
            # and the error handler what happened.
            sent = _let_go(services, user=user, project=ref.project, example_id=example_id)
            _gone_elsewhere(services, user=user, example_id=example_id, channel=channel, ts=ts,
                            next_sent=sent)  # fmt: skip
            if isinstance(exc, LabeledByOther):  # the labeler as a mention, not a raw id
                raise StaleActionError(
                    Mrkdwn(
                        f"this example was already labeled *{escape_mrkdwn(exc.label)}* by "
                        f"{who(exc.annotator)}"
                    )  # fmt: skip
                ) from exc
        elif isinstance(exc, SkippedBefore):
            pass  # a Skip of this delivery won the race: its answer stands, and it went on
        else:
            # A label split or retired since the message went out: the same message offers
            # the current labels (nothing was stored, so its key is still free for the pick).
            card = _current_card(services, user=user, project=ref.project, ref=ref)
            services.courier.update(views.labeling_message(card), channel=channel, ts=ts)
        raise
    if not result.created:
        return False  # the same click, racing this one, won
    labeled = views.labeled_message(
        example_id=example_id,
        text=ref.text,
        # the label's name now: renamed, or the merge target a merged label counts as
        label=result.counts_as or result.label,
        user_id=user,
        undo_until=result.undo_until,
    )
    # The answered message first: whatever happens to the next one, this one loses its buttons.
    _answered(services, labeled, channel=channel, ts=ts)
    if result.shown_in is not None and result.shown_in != (channel, ts):
        # labeled from another copy (a re-post): the one it was delivered in loses its buttons
        _labeled_elsewhere(services, user=user, channel=result.shown_in[0], ts=result.shown_in[1])
    guess = result.model_guess
    agreed = None if guess is None else guess == (result.counts_as or result.label)
    _continue(services, user=user, project=ref.project, agreed=agreed)
    return result.others_labeled


def _answer_again(
    services: Services,
    *,
    user: str,
    ref: messaging.ExampleRef,
    stored: messaging.StoredLabel,
    clicked: LabelRef,
    channel: str,
    ts: str,
) -> None:
    """A click on a message this expert answered already (its key stored a label): a retry of
    the click, a double click, or a click on buttons still showing because the answer's
    chat.update never reached Slack (queued, dropped, given up). The message is drawn as
    answered again (one chat.update, its content the same as the first answer's while the
    undo window lasts), the example the expert holds is delivered if it was not (never a new
    one: a batch may have ended on this answer), and a different label clicked now is refused
    in an ephemeral saying which label stands and how to change it.

    A label a taxonomy change retired since (split, merged, retired) is told as what became of
    it, on the message and in the ephemeral ("was split into late, lost: ... the example is
    back in the queue"): "you labeled this example card_arrival already" alone read as if that
    label still counted. That label clicked again is answered so too, unless it counts as
    another (merged, mapped): then the vote stands as it is."""
    label = escape_mrkdwn(stored.label)
    changed = None
    if not stored.retracted:
        changed = labeling.label_changed_since(services.ws, annotation_id=stored.annotation_id)
    if stored.retracted:
        note = f"<@{user}> undid the label *{label}* given on this message."
        _answered(services, views.info_message(note), channel=channel, ts=ts)
    else:
        # an Undo refused for good since (the example settled over the vote) is not offered
        undo = _undo_until(stored) is None or not labeling.undo_refused_for_good(
            services.ws, annotation_id=stored.annotation_id
        )
        answered = _labeled_again(user=user, ref=ref, stored=stored, changed=changed, undo=undo)
        _answered(services, answered, channel=channel, ts=ts)
    if messaging.holds_example(services.ws, project=ref.project, annotator=user):
        send_next(services, user=user, project=ref.project, again=False)
    if stored.retracted:
        raise StaleActionError(Mrkdwn(f"you undid your label *{label}* on this message"))
    if changed is not None and (changed.counts_as is None or not _same_label(clicked, stored)):
        change = ""
        if changed.counts_as is not None:  # the vote stands: Undo takes it back
            change = "; to change it, click Undo on the message (while it is offered)"
        raise StaleActionError(
            Mrkdwn(
                f"you labeled this example *{label}* on this message; since then, "
                f"{_since(changed, user=user)}{change}"
            )
        )
    if not _same_label(clicked, stored):
        raise StaleActionError(
            Mrkdwn(
                f"you labeled this example *{label}* already; to change it, click Undo on the "
                "message (while it is offered)"
            )
        )


def _labeled_again(
    *,
    user: str,
    ref: messaging.ExampleRef,
    stored: messaging.StoredLabel,
    changed: labeling.ChangedLabel | None,
    undo: bool = True,
) -> Block:
    """The message of a label given (not undone) drawn again: Undo only while its window lasts
    (never with ``undo=False``: an undo refused for good), and what became of the label since,
    when a taxonomy change retired it."""
    answered = views.labeled_message(
        example_id=ref.example_id, text=ref.text, label=stored.label, user_id=user,
        undo_until=_undo_until(stored) if undo else None,
    )  # fmt: skip
    if changed is not None:
        answered["blocks"].append(context(f"Since then, {_since(changed, user=user)}"))
    return answered


def _undo_until(stored: messaging.StoredLabel) -> datetime | None:
    """Until when the label ``stored`` may be undone; None once that is past (or unknown)."""
    if stored.labeled_at is None:
        return None
    until = stored.labeled_at + labeling.UNDO_WINDOW
    return until if until > datetime.now(UTC) else None


def _since(changed: labeling.ChangedLabel, *, user: str) -> Mrkdwn:
    """What became of a label since the expert gave it, and of its example (engine.labeling
    reads both): where a split or retire sent it back, or what it counts as now."""
    said = escape_mrkdwn(changed.note)
    if changed.counts_as is not None:
        return Mrkdwn(f"{said}: your label counts as *{escape_mrkdwn(changed.counts_as)}*")
    if not changed.waits:
        agreed = escape_mrkdwn(changed.agreed or "")
        return Mrkdwn(
            f"{said}: your label no longer counts, and the example counts as *{agreed}* now"
        )
    parts = [f"*{escape_mrkdwn(name)}*" for name in changed.into]
    as_what = f"as {names_list(parts, conjunction='or')}" if parts else "with today's labels"
    if changed.holder == user:
        where = f"the example waits in your direct messages to be labeled again {as_what}"
    elif changed.holder is not None:
        where = f"another expert has the example now, to label it again {as_what}"
    else:
        where = f"the example is back in the queue, to be labeled again {as_what}"
    return Mrkdwn(f"{said}: your label no longer counts, and {where}")


def _same_label(clicked: LabelRef, stored: messaging.StoredLabel) -> bool:
    """Whether a button's label (its id; a name on a message sent before ids were) is the one
    stored."""
    if isinstance(clicked, int):
        return clicked == stored.label_id
    return clicked == stored.label


def _let_go(services: Services, *, user: str, project: str, example_id: int) -> bool:
    """Release the example and send the next; False when it was not held (its hold lapsed,
    or it was never theirs: :func:`_gone_elsewhere` goes on, where owed)."""
    try:
        if not labeling.release(
            services.ws, project=project, example_id=example_id, annotator=user
        ):
            return True  # the same click, racing this one, let go of it and sent the next
    except StaleActionError:
        return False
    next_or_done(services, user=user, project=project)
    return True


def _gone_elsewhere(
    services: Services,
    *,
    user: str,
    example_id: int,
    channel: str,
    ts: str,
    next_sent: bool = False,
) -> None:
    """An example delivered to ``user`` whose hold lapsed, and which went to another expert
    (who holds or labeled it): the message loses its buttons, saying so, and the expert's
    next example follows (their batch goes on), so a late click is no dead end. Nothing when
    it was never theirs or nobody else has it (messaging.gone_to)."""
    other = messaging.gone_to(services.ws, example_id=example_id, annotator=user)
    if other is None:
        return
    note = f"This example went to {who(other)} while it waited for you."
    _answered(services, views.info_message(note), channel=channel, ts=ts)
    if next_sent:
        return
    project = messaging.example_ref(services.ws, example_id=example_id).project
    next_or_done(services, user=user, project=project)


def skip(services: Services, *, user: str, example_id: int, channel: str, ts: str) -> None:
    """Pass the example on and send the next. Only on a message sent to ``user``
    (engine.labeling.check_clicked_by_owner): a made-up click naming another expert's message
    would write over it."""
    labeling.check_clicked_by_owner(
        services.ws, example_id=example_id, annotator=user, channel=channel
    )
    ref = messaging.example_ref(services.ws, example_id=example_id)
    with expert_turn(services, user=user, project=ref.project):  # not amid a redraw of it
        try:
            skipped_now = labeling.skip(
                services.ws, project=ref.project, example_id=example_id, annotator=user
            )
        except StaleActionError:
            _gone_elsewhere(services, user=user, example_id=example_id, channel=channel, ts=ts)
            raise
        if not skipped_now:
            return  # skipped already: the same click, delivered twice, is answered once
        # The skipped message first, as for a label: a next example Slack refuses (or any
        # failure on the way to it) must not leave this one's buttons live.
        skipped = views.skipped_message(example_id=example_id, text=ref.text, user_id=user)
        _answered(services, skipped, channel=channel, ts=ts)
        _continue(services, user=user, project=ref.project)


def undo(services: Services, *, user: str, example_id: int, channel: str, ts: str) -> None:
    """Retract the label given on this message and offer the example again, in a new message
    (a new message is a new idempotency key, so the relabel is stored), held for this expert
    meanwhile: back in the pool it could go to someone else, whose label would refuse theirs."""
    stored = messaging.label_for_key(services.ws, key=click_key(channel, ts, user))
    if stored is None or stored.example_id != example_id:
        raise StaleActionError("there is no label of yours on this message to undo")
    try:
        undone = labeling.undo_to_relabel(
            services.ws, annotation_id=stored.annotation_id, annotator=user
        )
    except labeling.UndoClosed:
        # Past its window, or once the example was settled, the button is refused for good,
        # and Slack shows it until the message changes: the message is drawn again with the
        # label and without it.
        ref = messaging.example_ref(services.ws, example_id=example_id)
        changed = labeling.label_changed_since(services.ws, annotation_id=stored.annotation_id)
        kept = _labeled_again(user=user, ref=ref, stored=stored, changed=changed, undo=False)
        _answered(services, kept, channel=channel, ts=ts)
        raise
    if undone is None:
        return  # the same click, racing this one, undid it and offers the example again
    project = messaging.example_ref(services.ws, example_id=example_id).project
    # the relabel counts in a running batch instead (after its summary: nothing, :func:`_continue`)
    services.batches.give_back(user, project, annotation_id=stored.annotation_id)
    disputes.refresh_thread(services, project=project, example_id=example_id)
    label = escape_mrkdwn(stored.label)
    if undone.assignment_id is None:
        # out with another expert for a second opinion: two live copies would race, and the
        # later click be refused; the queue sends it back if it still wants this expert's label
        note = (
            f"<@{user}> undid the label *{label}*. Another expert has this example now: it "
            "comes back to you if it still needs your label."
        )
        _answered(services, views.info_message(note), channel=channel, ts=ts)
        return
    ref = messaging.example_ref(services.ws, example_id=example_id)
    note = f"<@{user}> undid the label *{label}*: the example is below again."
    _answered(services, views.info_message(note), channel=channel, ts=ts)
    # a delivery to this expert at the same time (/label on another replica) finds the example
    # held for them and posts it: then it is below already, and a second copy would race it
    with _one_delivery_at_a_time(services, user=user, project=ref.project):
        if messaging.delivered_in(services.ws, assignment_id=undone.assignment_id) is None:
            # drawn as a fresh delivery would be: the guess, the reason, the earlier labels
            card = _card(labeling.held_task(services.ws, assignment_id=undone.assignment_id))
            services.courier.post(
                views.labeling_message(card), channel=channel, assignment_id=undone.assignment_id
            )


def close_undos(services: Services, *, example_id: int, before: int | None = None) -> int:
    """After the example was settled over the votes (by annotation ``before``): each labeled
    message of a vote given before it still offering Undo (its window open) is drawn again
    without it, as a click on it would leave it (:func:`undo` refuses it for good now). A vote
    given after the verdict keeps its Undo, which engine.labeling allows. How many were
    redrawn; Slack's refusals are logged."""
    ref = None
    redrawn = 0
    for key, stored in messaging.labels_given_in_slack(services.ws, example_id=example_id):
        where = clicked_on(key)
        if where is None or _undo_until(stored) is None:
            continue  # not given on a message, or its Undo is gone already
        if before is not None and stored.annotation_id > before:
            continue  # given after the verdict: its Undo stands
        channel, ts, user = where
        ref = ref or messaging.example_ref(services.ws, example_id=example_id)
        changed = labeling.label_changed_since(services.ws, annotation_id=stored.annotation_id)
        kept = _labeled_again(user=user, ref=ref, stored=stored, changed=changed, undo=False)
        _answered(services, kept, channel=channel, ts=ts)
        redrawn += 1
    return redrawn


def _current_card(
    services: Services, *, user: str, project: str, ref: messaging.ExampleRef
) -> views.ExampleCard:
    """The example with today's labels (after an undo, or a click on a changed label), as a
    fresh delivery draws it (engine.labeling.held_task): the model's guess, why it is asked and
    its earlier labels, blind where the delivery was. Labels alone when it was never ``user``'s
    (no delivery to draw it like)."""
    task = labeling.latest_task(services.ws, example_id=ref.example_id, annotator=user)
    if task is not None:
        return _card(task)
    labels = projects.list_labels(services.ws, project=project, active_only=True)
    return views.ExampleCard(
        example_id=ref.example_id,
        text=ref.text,
        project=project,
        labels=[views.LabelChoice(lb.name, lb.description or None, lb.id) for lb in labels],
        labeled_today=progress.labeled_today(services.ws, annotator=user, project=project),
        queue_left=projects.queue_size(services.ws, project),
    )


def discuss(services: Services, *, user: str, example_id: int, channel: str, ts: str) -> None:
    """Open (or point to) the example's thread in the project channel; link it from the DM,
    whose thread becomes a discussion too, the replies written there so far kept with it.
    Only on a message sent to ``user`` (engine.labeling.check_sent_to): the note goes in its
    thread."""
    labeling.check_sent_to(services.ws, example_id=example_id, annotator=user, channel=channel)
    ref = messaging.example_ref(services.ws, example_id=example_id)
    if not ref.channel:
        raise ConfigurationError(
            Mrkdwn(
                f"project *{escape_mrkdwn(ref.project)}* has no channel for discussions yet: "
                f"ask an admin to set one (`labelbot project set {escape(ref.project)} --channel "
                "C0123`)"
            )
        )
    thread = _team_thread(services, user=user, ref=ref, channel=ref.channel)
    renewed = False
    try:
        link = services.client.chat_getPermalink(
            channel=thread.channel, message_ts=thread.thread_ts
        )
    except SlackApiError as exc:
        if exc.response.get("error") != "message_not_found":
            raise
        # its first message was deleted in the channel (tidied away): a thread no one can
        # open, for good; set it aside and open a new one
        log.info("example %d: its thread %s/%s was deleted in Slack; opening a new one",
                 example_id, thread.channel, thread.thread_ts)  # fmt: skip
        discussions.thread_gone(services.ws, channel=thread.channel, thread_ts=thread.thread_ts)
        thread = _team_thread(services, user=user, ref=ref, channel=ref.channel)
        link = services.client.chat_getPermalink(
            channel=thread.channel, message_ts=thread.thread_ts
        )
        renewed = True
    note = (
        f"Discussion on this example in <#{thread.channel}>: "
        f"<{link['permalink']}|open the thread>. Replies there (and here) are saved with it."
    )
    opened = discussions.open_thread(
        services.ws,
        example_id=example_id,
        channel=channel,
        thread_ts=ts,
        kind=discussions.DM,
        opened_by=user,
    )
    if opened or renewed:  # a second Discuss click finds the note in the thread already
        services.courier.post(views.info_message(note), channel=channel, thread_ts=ts)
    # After the note, so that Slack not answering here (told as any failure) leaves the thread
    # opened and noted, and Discuss clicked again reads it again. A rate limit is no failure:
    # the replies are read once Slack's wait is over (:func:`read_due_replies`).
    _keep_earlier_replies(services, channel=channel, thread_ts=ts)


# Pages of conversations.replies read for the replies written in a DM thread before Discuss.
EARLIER_REPLIES_PAGE = 200
EARLIER_REPLIES_PAGES = 5
# The claim on a DM thread's earlier replies, named after the thread: held while they are read,
# dropped once they are (or once Slack refuses them for good), and left to lapse when Slack asks
# to wait (conversations.replies is allowed one call a minute to an app outside the Slack
# Marketplace, Retry-After up to 60 s): lapsed, it is the scheduler's next round's work, on
# whichever replica (read_due_replies).
EARLIER_REPLIES_CLAIM = "dm-replies:"
EARLIER_REPLIES_READ_TTL = timedelta(minutes=2)  # a reader that dies leaves it due after this
EARLIER_REPLIES_WAIT = timedelta(seconds=60)  # when a 429 names no Retry-After
# A read cut short (a rate limit, a reader that died) goes on where it stopped, not at page 1
# (at one call a minute, a thread two pages long would be read up to page 1 for good): after
# each page with more to come, the claim's owner carries the pages read and the ts of the last
# message read, ``HOLDER|PAGES|TS`` (jobs.pass_claim), in the database, where the next round
# on whichever replica, or the next click, takes it up (jobs.take_claim) and asks for the
# replies after it (``oldest``, exclusive). A ts, not the page's cursor: a bound on the
# messages, it stays good however long the wait, across restarts and versions.
_SO_FAR = "|"


class _Later(Exception):
    """Slack asked to wait before conversations.replies is called again."""


class _Lost(Exception):
    """The read's claim lapsed and was taken meanwhile: the reading is another's now."""


@dataclass
class _Read:
    """A read of a DM thread's earlier replies under its claim ``name``, held by ``owner``
    (``holder``, and how far the read went once it went past a page): ``pages`` read so far,
    and ``oldest``, the ts of the last message read (None: from the first reply)."""

    name: str
    holder: str
    owner: str
    pages: int = 0
    oldest: str | None = None

    @classmethod
    def taken(cls, name: str, *, holder: str, before: str) -> _Read:
        """The read of claim ``name`` just taken by ``holder`` from owner ``before`` ("" when
        it was free): where a read cut short left off, or from the start."""
        _, _, so_far = before.partition(_SO_FAR)
        pages, _, oldest = so_far.partition(_SO_FAR)
        if not pages.isdigit() or not oldest:  # a fresh read's, or no read's
            return cls(name, holder, holder)
        return cls(name, holder, holder, int(pages), oldest)

    def went_on(self, services: Services) -> None:
        """Keep how far the read went with its claim (held ``EARLIER_REPLIES_READ_TTL`` more),
        for whoever takes it up should it be cut short. Raises _Lost."""
        owner = _SO_FAR.join((self.holder, str(self.pages), self.oldest or ""))
        if not jobs.pass_claim(services.ws, self.name, owner=self.owner, to=owner,
                               ttl=EARLIER_REPLIES_READ_TTL):  # fmt: skip
            raise _Lost
        self.owner = owner


def _keep_earlier_replies(services: Services, *, channel: str, thread_ts: str) -> bool | None:
    """Keep the replies written under the labeling message before Discuss made its thread a
    discussion ("Replies … here are saved", the note says): their events came while it was
    none, and were let go. True when read now; False when Slack rate limited the read (the
    thread's claim then lapses when its Retry-After is over, and the scheduler's next round
    reads on from where this read stopped); None when another click or replica reads them, or
    waits to. Slack's other refusals are raised: one for good (the thread gone, a scope
    missing) drops the claim, nobody reads the thread again (a Discuss click tries anew); one
    that may pass leaves it to lapse for a later round.
    https://docs.slack.dev/reference/methods/conversations.replies"""
    name = f"{EARLIER_REPLIES_CLAIM}{channel}:{thread_ts}"
    holder = f"{jobs.thread_owner()}:{secrets.token_hex(4)}"  # never this thread's earlier hold
    before = jobs.take_claim(services.ws, name, ttl=EARLIER_REPLIES_READ_TTL, owner=holder)
    if before is None:
        return None
    read = _Read.taken(name, holder=holder, before=before)
    try:
        if read.pages:
            read.went_on(services)  # kept should this reader die before its next page
        _read_earlier_replies(services, channel=channel, thread_ts=thread_ts, read=read)
    except _Lost:
        return None
    except _Later as later:
        wait = later.args[0]
        jobs.hold_claim(services.ws, name, ttl=wait, owner=read.owner)
        log.info("DM thread %s/%s: Slack rate limited conversations.replies; the replies "
                 "written before Discuss are read in %.0f s", channel, thread_ts,
                 wait.total_seconds())  # fmt: skip
        return False
    except SlackApiError as exc:
        if transient_error(exc) is None:  # for good: never read again, nor warned about
            jobs.drop_claim(services.ws, name, owner=read.owner)
        raise
    jobs.drop_claim(services.ws, name, owner=read.owner)
    return True


def _read_earlier_replies(services: Services, *, channel: str, thread_ts: str, read: _Read) -> None:
    """Read the DM thread's replies with conversations.replies (im:history) from where ``read``
    stopped, each kept as its event would have been (:func:`thread_reply`), once per message:
    read again (another click) or delivered again (an event late or resent), a reply is not
    stored twice. Raises _Later on a rate limit, how far the read went kept with its claim;
    _Lost when its claim was taken meanwhile."""
    # the pages of one read are asked alike, the cursor aside: ``since`` is where it began
    since, cursor = read.oldest, None
    while read.pages < EARLIER_REPLIES_PAGES:
        try:
            answer = services.client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                limit=EARLIER_REPLIES_PAGE,
                cursor=cursor,
                oldest=since,
            )
        except SlackApiError as exc:
            if not rate_limited(exc):
                raise
            raise _Later(asked_to_wait(exc) or EARLIER_REPLIES_WAIT) from exc
        messages = [m for m in answer.get("messages") or [] if isinstance(m, dict)]
        for message in messages:
            text = threads.kept_reply(message)
            if text:
                thread_reply(services, channel=channel, thread_ts=thread_ts,
                             ts=str(message["ts"]), user=str(message.get("user") or ""),
                             text=text)  # fmt: skip
        read.pages += 1
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not answer.get("has_more") or not cursor:
            return
        # the root comes first on every page: the replies after it, oldest first
        replies = [str(m["ts"]) for m in messages if m.get("ts") and m["ts"] != thread_ts]
        read.oldest = replies[-1] if replies else read.oldest
        read.went_on(services)
    log.warning("DM thread %s/%s: only the first %d replies written before Discuss were read",
                channel, thread_ts, EARLIER_REPLIES_PAGE * EARLIER_REPLIES_PAGES)  # fmt: skip


def read_due_replies(services: Services) -> int:
    """The scheduler's round: read the replies written before Discuss in the DM threads whose
    read Slack rate limited (or whose reader died), now that the wait is over, each from where
    its last read stopped; how many threads were read through. The round stops at a rate limit
    (the method's limit is the app's: every other thread would be refused too); a thread Slack
    refuses for good (gone, a scope missing) is given up with a warning (its claim dropped:
    no later round reads it), one Slack did not answer is tried again next round."""
    read = 0
    for name in jobs.lapsed_claims(services.ws, EARLIER_REPLIES_CLAIM):
        channel, _, thread_ts = name.removeprefix(EARLIER_REPLIES_CLAIM).partition(":")
        try:
            done = _keep_earlier_replies(services, channel=channel, thread_ts=thread_ts)
        except SlackApiError as exc:
            if transient_error(exc) is not None:
                continue  # its claim lapses: the next round tries again
            log.warning("DM thread %s/%s: the replies written before Discuss could not be "
                        "read: Slack said %s; given up", channel, thread_ts,
                        error_code(exc))  # fmt: skip
            continue
        except CONNECTION_ERRORS:
            continue
        if done is False:
            break
        read += int(bool(done))
    return read


# A Discuss click that finds another click opening the example's thread waits this long for
# it (one chat.postMessage, usually well under a second) before asking to click again.
THREAD_WAIT_S = 10.0
THREAD_POLL_S = 0.1


def _team_thread(
    services: Services, *, user: str, ref: messaging.ExampleRef, channel: str
) -> discussions.Thread:
    """The example's thread in the project channel, posted now if it has none. Double clicks,
    two experts, or several replicas may ask at once: one claims the example (a lease in the
    database, as bot.disputes does), checks again and posts; the others wait for its thread."""
    example_id = ref.example_id
    thread = discussions.team_thread(services.ws, example_id=example_id)
    if thread is not None:
        return thread
    name = f"discuss:{example_id}"
    with jobs.claim(services.ws, name, ttl=threads.OPENING_LEASE) as got:
        thread = discussions.team_thread(services.ws, example_id=example_id)
        if got and thread is None:
            posted = _post_root(services, user=user, ref=ref, channel=channel)
            if isinstance(posted, discussions.Thread):
                return posted
            if posted is not NotPosted.LAPSED:
                # nobody is posting it: an earlier click's post, cut short, could not be looked
                # for just now (bot.posting.post_once); waiting would find nothing
                raise ConflictError(
                    f"a discussion thread on example {example_id} may have been opened by an "
                    "earlier click that was cut short, and Slack cannot be asked just now: "
                    "click Discuss again in a minute"
                )
    deadline = time.monotonic() + THREAD_WAIT_S
    while thread is None and time.monotonic() < deadline:
        time.sleep(THREAD_POLL_S)
        thread = discussions.team_thread(services.ws, example_id=example_id)
    # the other click's post is slow, or failed (its claim is released), or could not tell
    # whether an earlier click's post landed (bot.posting.post_once)
    if thread is None:
        raise ConflictError(
            f"a discussion thread on example {example_id} is being opened: "
            "click Discuss again in a moment"
        )
    return thread


def _post_root(
    services: Services, *, user: str, ref: messaging.ExampleRef, channel: str
) -> discussions.Thread | NotPosted:
    """Post the example's Discuss root to ``channel`` and record it as its team thread (the
    caller holds the claim on the example); NotPosted.LAPSED when another click took the claim
    over and noted its post meanwhile, UNSURE (RATE_LIMITED) when whether an earlier click's
    post landed is not known yet (the search for it failed: bot.posting.post_once). The post
    is noted before it is made: a process killed after Slack stored the root and before it was
    recorded leaves the note, and the next click records that root, found in the channel,
    instead of posting a second one."""

    def root() -> Block:
        return views.discussion_root(
            example_id=ref.example_id, text=ref.text, project=ref.project, opener=user
        )

    def record(posted_to: str, ts: str, earlier: bool) -> None:
        discussions.open_thread(services.ws, example_id=ref.example_id, channel=posted_to,
                                thread_ts=ts, kind=discussions.TEAM, opened_by=user)  # fmt: skip

    note = planned_posts.note_name(f"{discussions.TEAM}:{ref.example_id}", project=ref.project)
    try:
        # Not queued: without the root's ts there is no thread to link to.
        where = post_once(services, note=note, channel=channel, message=root, record=record)
    except SlackApiError as exc:
        if exc.response.get("error") == "not_in_channel":
            raise ConfigurationError(  # mrkdwn: a channel link
                Mrkdwn(f"labelbot cannot post in <#{channel}>: invite it with `/invite @labelbot`")
            ) from exc
        if exc.response.get("error") == "channel_not_found":  # inviting mends only the second
            raise ConfigurationError(
                Mrkdwn(
                    f"Slack does not know <#{channel}>, the channel of "
                    f"*{escape_mrkdwn(ref.project)}* (deleted, or private without labelbot in "
                    "it): invite labelbot there with `/invite @labelbot`, or a project admin "
                    f"sets another with `labelbot project set {escape(ref.project)} --channel "
                    "C0123`"
                )
            ) from exc
        raise
    if isinstance(where, NotPosted):
        return where
    # a disagreement opened since this click looked for threads: the two are linked
    disputes.link_discussion(services, example_id=ref.example_id)
    return discussions.Thread(ref.example_id, *where)


def flag(
    services: Services,
    *,
    user: str,
    example_id: int,
    reason: str,
    origin: tuple[str, str] | None,
) -> None:
    """Store the flag (the example leaves the queue), mark the DM, send the next example, and
    surface the flag in the project channel (bot.flag_threads).

    Not once the flagger has labeled it (from the message the form came from, while the form
    was open, say): their label stays, with its Undo, and they are told to undo it first.
    Nor from a form whose message (``origin``) was not sent to ``user``: a submission made up
    by someone else (engine.labeling.check_sent_to)."""
    ref = messaging.example_ref(services.ws, example_id=example_id)
    labeling.check_sent_to(services.ws, example_id=example_id, annotator=user,
                           channel=origin[0] if origin is not None else None)  # fmt: skip
    if messaging.labeled_by(services.ws, example_id=example_id, annotator=user):
        raise StaleActionError(
            f"you labeled example {example_id} already: Undo your label first to flag it"
        )
    with expert_turn(services, user=user, project=ref.project):  # not amid a redraw of it
        flagged = labeling.flag(
            services.ws, project=ref.project, example_id=example_id, annotator=user, reason=reason
        )
        if not flagged.created:
            return  # the same form submitted again: the first submission is answered
        if origin is not None:
            # on one line, as the flag thread shows it: Slack's _italics_ end at a line break
            said = escape_mrkdwn(" ".join(reason.split()))
            note = f"Flagged by <@{user}>: _{said}_. It left the queue until someone reviews it."
            _answered(services, views.info_message(note), channel=origin[0], ts=origin[1])
        _continue(services, user=user, project=ref.project)
    for holder in flagged.taken_from:
        _flagged_away(services, holder, project=ref.project, flagger=user)
    flag_threads.surface(services, project=ref.project, example_id=example_id)


def _flagged_away(
    services: Services, holder: labeling.Settled, *, project: str, flagger: str
) -> None:
    """Another expert's message of an example just flagged (the flagger's own hold lapsed and
    it went on to them): it left everyone's queue, so the message loses its buttons, saying so,
    and their next example follows, in their turn (a click of theirs waits, then is answered as
    on a released delivery)."""
    note = f"Flagged by <@{flagger}>: it left the queue until someone reviews it."
    with expert_turn(services, user=holder.annotator, project=project):
        try:
            services.courier.update(views.info_message(note), channel=holder.channel,
                                    ts=holder.ts)  # fmt: skip
        except SlackApiError as exc:  # deleted by the expert, say: the next one still follows
            log.info("could not retire %s: %s", holder, error_code(exc))
        send_next(services, user=holder.annotator, project=project, again=False)


def reply_key(channel: str, ts: str) -> str:
    """The comment key of a Slack message (a channel and a ts name one message)."""
    return f"slack:{channel}:{ts}"


def thread_reply(
    services: Services, *, channel: str, thread_ts: str, ts: str, user: str, text: str
) -> bool:
    """Keep a reply in a discussion thread as a comment on its example (once per message),
    dated when it was written (its ts): Slack may deliver a thread's replies out of order.
    Not a guest account's in a thread of a project closed to guests (:func:`_closed_to`)."""
    if _closed_to(services, user=user, channel=channel, thread_ts=thread_ts):
        return False
    try:
        written = slack_time(ts)
    except ValueError:  # not a Slack ts: dated on arrival
        written = None
    stored = discussions.add_reply(
        services.ws,
        channel=channel,
        thread_ts=thread_ts,
        author=user,
        text=text,
        key=reply_key(channel, ts),
        written_at=written,
    )
    return stored is not None


def _closed_to(services: Services, *, user: str, channel: str, thread_ts: str) -> bool:
    """Whether ``user`` is a guest account replying in a thread of a project closed to guests:
    their reply is not kept, so it is no comment, no discussion in the exports. Nothing tells
    them (a note per reply would follow every message they write in the thread); they see the
    thread's root in the channel anyway, and labelbot's answers elsewhere name no such project.
    users.info is asked only of a reply in such a project's thread (its answers kept a few
    minutes)."""
    if not user:
        return False
    project = discussions.thread_project(services.ws, channel=channel, thread_ts=thread_ts)
    if project is None or project_settings.guests_allowed(
        projects.get_project(services.ws, project)
    ):
        return False
    try:
        if not is_guest(services, user):
            return False
    except GuestRefused:
        # Kept: a reply is written, not read, so keeping a guest's shows them nothing, while
        # dropping a member's during a Slack hiccup would lose their words for good.
        log.warning("users.info did not answer: the reply of %s in %s/%s is kept", user,
                    channel, thread_ts)  # fmt: skip
        return False
    log.info("a reply of guest account %s in thread %s/%s of %s (closed to guests) not kept",
             user, channel, thread_ts, project)  # fmt: skip
    return True


def reply_edited(
    services: Services, *, channel: str, ts: str, thread_ts: str, text: str, edited_ts: str
) -> bool:
    """A message edited in Slack (at ``edited_ts``), in thread ``thread_ts`` (its own ts when
    in none): a kept reply's comment reads as the reply does now, or will once the reply
    arrives, should the edit come first. False when no stored comment changed (most edits)."""
    return discussions.edit_reply(
        services.ws,
        key=reply_key(channel, ts),
        channel=channel,
        thread_ts=thread_ts,
        text=text,
        edited_at=slack_time(edited_ts),
    )


def reply_deleted(services: Services, *, channel: str, ts: str, thread_ts: str | None) -> bool:
    """A message deleted in Slack, in thread ``thread_ts`` (its own ts when in none, None when
    the event does not say): a kept reply's comment is deleted too (gone from the database and
    the exports, not hidden), and a reply whose deletion came first is not stored when it
    arrives. False when no comment was deleted."""
    return discussions.delete_reply(
        services.ws, key=reply_key(channel, ts), channel=channel, thread_ts=thread_ts
    )


def slack_time(ts: str) -> datetime:
    """A Slack timestamp ("1700000009.000100": seconds and microseconds) as a UTC datetime,
    exactly (a float would round the microseconds)."""
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6])
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def predictable(text: str, *, what: str | None = None) -> str:
    """``text`` when the model may be asked about it: the import rules, as the predict API
    (engine.importing.text_problem); else an InvalidInputError saying why (about ``what``,
    e.g. "this message", when given)."""
    if not text.strip():
        raise InvalidInputError(
            f"{what} has no text to classify" if what else "there is no text to classify"
        )
    problem = importing.text_problem(text)
    if problem is not None:
        raise InvalidInputError(f"cannot classify {what or 'it'}: {problem}")
    return text


def predict(services: Services, *, text: str, project: str, what: str | None = None) -> Block:
    """The model's top labels for ``text`` (an empty answer before the first model); a text
    the import rules refuse (empty, blank, too long) is an InvalidInputError about ``what``."""
    predictable(text, what=what)
    suggestions: list[views.Suggestion] = []
    notes: list[str] = []
    if training.active_model(services.ws, project) is not None:
        said = predicting.answer(services.ws, project, [text])
        (prediction,) = said.predictions
        suggestions = [views.Suggestion(label, p) for label, p in prediction.top]
        notes = said.notes
    return views.prediction_answer(text=text, predictions=suggestions, project=project, notes=notes)


def publish_home(
    services: Services,
    *,
    user: str,
    summaries: dict[str, progress.ProjectSummary | None] | None = None,
    client: WebClient | None = None,
) -> None:
    """views.publish the App Home tab (https://docs.slack.dev/reference/methods/views.publish).
    A guest account's shows only the projects open to guests (GuestRefused, nothing published,
    when Slack does not say whether the user is one).

    The model figures are the digest's (engine.digest.home_digest, worked out as build_digest
    does): the audit estimate with its interval, the forecast, rare classes — so Home and the
    channel never tell different stories. ``summaries``: the projects' figures kept across the
    viewers of one refresh (each project is summed up once); ``client``: the one to publish
    with (the services' own by default).
    """
    everything = projects.list_projects(services.ws)
    allowed = open_to(services, user, everything)  # a guest account: those open to guests
    mine = progress.user_progress(services.ws, annotator=user, summaries=summaries)
    shown, more = mine.projects, mine.more_projects
    if len(allowed) < len(everything):
        names = {p.name for p in allowed}
        shown = [p for p in shown if p.name in names]
        more = max(0, len(names) - len(shown))
    stats = views.HomeStats(
        user_id=user,
        labeled_today=mine.labeled_today,
        labeled_total=mine.labeled_total,
        projects=[_project_progress(p) for p in shown],
        more_projects=more,
        closed_projects=len(everything) - len(allowed),
    )
    view = views.home_tab(stats)
    as_of = min((p.as_of for p in shown if p.as_of is not None), default=None)
    if as_of is not None:  # the figures are kept up to a minute (progress.home_summary)
        view = home_view.dated(view, as_of)
    (client or services.client).views_publish(user_id=user, view=view)


def _project_progress(summary: progress.ProjectSummary) -> views.ProjectProgress:
    figures = summary.figures
    estimate = figures.accuracy
    return views.ProjectProgress(
        name=summary.name,
        labeled=summary.labeled,
        total=summary.total,
        class_counts=[views.ClassCount(label, count) for label, count in summary.class_counts],
        accuracy=estimate.accuracy if estimate else None,
        accuracy_low=estimate.low if estimate else None,
        accuracy_high=estimate.high if estimate else None,
        accuracy_source=estimate.source if estimate else None,
        accuracy_measured_on=estimate.measured_on if estimate else None,
        queue_chosen=figures.queue_chosen,
        model_version=figures.model_version,
        # only a forecast there is: "Too few points to forecast yet (1 model at 1 label count;
        # need 4 …)" is a data scientist's note, not an expert's (the digest and status keep it)
        forecast=figures.forecast_line() if figures.curve and figures.forecast.ok else None,
        rare_classes=summary.too_rare,  # `labelbot status`'s, under the project's rare_minimum
        rare_minimum=summary.rare_minimum,
        agreement=(
            figures.agreement.describe()
            if figures.agreement is not None and figures.agreement.examples
            else None
        ),
        open_reviews=figures.open_reviews,
        # as the digest's accuracy line: audit labels left out (their label split), then whose
        model_notes=(f"; {figures.audit_waiting}" if figures.audit_waiting else "")
        + figures.model_notes(),
    )


# views.publish refuses a view as built (a Block Kit limit: labelbot's bug) with invalid_arguments
# and its reasons in response_metadata.messages; each viewer's tab is built alike
VIEW_REFUSED = CONTENT_ERRORS | {"invalid_arguments"}


def refresh_homes(services: Services) -> int:
    """Re-publish App Home for those who opened it lately (after a new model); how many were
    refreshed, newest viewers first. Each project's figures are worked out once for all of them.

    A viewer Slack refuses (a deactivated user: user_not_found, say), or one whose tab cannot be
    drawn (a labelbot error), is logged and skipped. A rate limit, a server error or Slack out
    of reach ends the round: each call is made once (no Retry-After sleep: views.publish is
    limited for the whole workspace, Tier 4, and the next viewer would only wait it out again);
    a tab is drawn anew whenever its user opens it. The process stopping ends it as well
    (Services.stopping: a graceful stop waits for the listener threads), the tabs left drawn
    when their users open them. A view Slack refuses as built ends it too,
    with one ERROR saying why (the next viewer's is built alike). A refused bot token, or the
    database out of reach, fails every viewer alike: it goes up to the caller.
    """
    users = services.home_viewers.recent()
    client = single_try(services.client)
    summaries: dict[str, progress.ProjectSummary | None] = {}
    refreshed = 0
    for user in users:
        if services.stopping.is_set():  # the process stops: the rest see theirs when they open it
            log.info("App Home refresh stopped after %d of %d viewers: shutting down",
                     refreshed, len(users))  # fmt: skip
            break
        try:
            publish_home(services, user=user, summaries=summaries, client=client)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            why = transient_error(exc)
            if why is not None:
                log.warning("App Home refresh stopped after %d of %d viewers: %s",
                            refreshed, len(users), why)  # fmt: skip
                break
            if is_auth_error(exc):
                raise
            if error_code(exc) in VIEW_REFUSED:
                log.error("App Home refresh stopped after %d of %d viewers: Slack refused the "
                          "view labelbot built for %s: %s", refreshed, len(users), user,
                          refusal(exc))  # fmt: skip
                break
            log.warning("could not refresh the App Home of %s: %s", user, error_code(exc))
            continue
        except DatabaseUnavailable:
            raise  # every next viewer would meet it too: the caller logs it once
        except GuestRefused as exc:  # users.info unanswered: the next viewers' would be too
            log.warning("App Home refresh stopped after %d of %d viewers: %s",
                        refreshed, len(users), exc)  # fmt: skip
            break
        except LabelbotError as exc:
            log.warning("could not refresh the App Home of %s: %s", user, exc)
            continue
        refreshed += 1
    return refreshed
