"""The engine's scheduler with Slack attached: digests posted by the bot, and what the team is
told after each retrain.

`labelbot serve` starts it with the web server (see :func:`attach_scheduler`) unless
``--no-scheduler``; `labelbot worker` runs the same jobs on their own. The jobs themselves live in
engine/jobs.py and know nothing of Slack: they call the two functions built here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from slack_sdk.errors import SlackApiError

from bot import disputes, flag_threads, flow, review_flow, rhythm_flow, taxonomy_flow
from bot.delivery import CONNECTION_ERRORS, transient_error
from bot.digests import NobodyTold, post_digest
from bot.services import Services
from bot.slack_errors import error_code, is_auth_error, scope_advice
from bot.views import admin as admin_views
from engine import consensus, labeling, projects, taxonomy, training
from engine.jobs import StillDue
from engine.scheduler import DatabaseWatch, build_scheduler
from storage.errors import ConfigurationError, DatabaseUnavailable, NotFoundError
from storage.models import ModelRun

log = logging.getLogger(__name__)


def digest_sender(services: Services) -> Callable[[str], datetime | None]:
    """``send`` for engine.jobs.digest_cycle: post the project's digest to its channel; up to
    when it counted labels (the next digest counts from there).

    digest_cycle marks the digest sent once this returns. A project that cannot get one (no
    channel; its channel refused and the admins told, or none could be: post_digest) is logged
    and counted as sent too: the job runs every minute with nobody to answer, so retrying would
    only repeat the warning. What a later round may get through is raised, and the digest stays
    due: a transient failure (rate limit, Slack down), and the bot token refused (logged once an
    hour by the client's bot.delivery.TokenWatch: the digest goes out once the token is fixed).
    Once the message is posted the digest is sent: post_digest logs a chart it could not draw or
    upload, never raises for it.
    """

    def send(name: str) -> datetime | None:
        try:
            # a digest a killed round posted and never marked sent is looked for, not posted
            # again (post_digest)
            return post_digest(
                services.client, services.ws, name, look_for_earlier=True
            ).counted_until
        except NobodyTold:
            return None  # logged as an ERROR with its cause where it was raised
        except ConfigurationError as exc:
            log.warning("digest for %s not posted: %s", name, exc)
            return None
        except SlackApiError as exc:
            if is_auth_error(exc):  # logged once an hour by the client's TokenWatch
                raise StillDue(
                    f"Slack refuses the bot token ({error_code(exc)})", stop_round=True
                ) from exc
            reason = transient_error(exc)
            if reason is not None:
                raise StillDue(f"Slack answered {reason}") from exc
            advice = scope_advice(exc)  # the app's setup: what to add, not just the code
            log.warning("digest for %s not posted: Slack said %s%s", name, error_code(exc),
                        f": {advice}" if advice is not None else "")  # fmt: skip
            return None
        except CONNECTION_ERRORS as exc:
            raise StillDue(f"Slack unreachable ({type(exc).__name__})") from exc
        # refused and the admins told: logged once, by digests.tell_admins

    return send


def training_notifier(
    services: Services, *, home: HomeRefresh | None = None
) -> Callable[[str, ModelRun], None]:
    """``on_trained`` for engine.jobs.retrain_cycle.

    A model held back by the promotion gate is announced in the project channel with the reason
    and a Promote button (admins only); a promoted one has the App Home of recent viewers
    refreshed, off the retrain job (``home``: a new :class:`HomeRefresh` if None).
    """
    home = home or HomeRefresh(services)

    def on_trained(name: str, run: ModelRun) -> None:
        try:
            _tell(services, name, run, home)
        except SlackApiError as exc:
            # The model is stored either way; one project's channel must not stop the retrain
            # round for the others (the courier has already queued what a retry could fix).
            log.warning("after training %s v%s: Slack said %s", name, run.version,
                        exc.response.get("error"))  # fmt: skip

    return on_trained


def _tell(services: Services, name: str, run: ModelRun, home: HomeRefresh) -> None:
    """Held back: the channel hears why, with a Promote button. Promoted: Home refreshes."""
    promotion = run.metrics.get("promotion") or {}
    if promotion.get("promoted", run.is_active):
        queued = home.request()
        log.info("%s v%s promoted; App Home refresh %s", name, run.version,
                 "queued" if queued else "already queued")  # fmt: skip
        return
    project = projects.get_project(services.ws, name)
    if not project.channel_id:
        log.info("%s v%s held back (%s); no channel to tell", name, run.version, promotion)
        return
    audit = (run.metrics.get("audit") or {}).get("accuracy")
    versions = training.list_versions(services.ws, name)
    active = next((r.version for r in versions if r.is_active), None)
    notice = admin_views.held_back_notice(
        project=name,
        version=run.version,
        reason=str(promotion.get("reason", "")),
        audit=None if audit is None else float(audit),
        active=active,
        run_id=run.id,
    )
    services.courier.post(notice, channel=project.channel_id)


class HomeRefresh:
    """The App Home refresh after promoted models (flow.refresh_homes), run on a listener thread
    rather than in the retrain job: drawing Home for up to 200 viewers takes a while, and the
    retrain round (one at a time) would wait for it before training the next project.

    One refresh at a time, and at most one more waiting: models promoted before the waiting one
    starts are all drawn by it, so a round that promotes many projects refreshes Home once or
    twice, not once per project.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._waiting = False

    def request(self) -> bool:
        """Queue a refresh; False when one is waiting to start already (it will draw this)."""
        with self._lock:
            if self._waiting:
                return False
            self._waiting = True
        try:
            self._services.listener_executor.submit(self._run)
        except RuntimeError:  # the pool is shut down: the process is stopping
            with self._lock:
                self._waiting = False
            log.info("App Home not refreshed: shutting down")
            return False
        return True

    def _run(self) -> None:
        with self._one_at_a_time:
            with self._lock:
                self._waiting = False  # models promoted from now on need another refresh
            self._refresh()

    def _refresh(self) -> None:
        try:
            refreshed = flow.refresh_homes(self._services)
        except SlackApiError as exc:  # the token refused (logged by the client's TokenWatch)
            log.warning("App Home not refreshed: Slack said %s", error_code(exc))
            return
        except DatabaseUnavailable as exc:
            log.warning("App Home not refreshed: %s", exc)
            return
        except Exception:  # nobody waits on this thread's result: the log is the only trace
            log.exception("App Home refresh failed")
            return
        log.info("refreshed %d App Home views after a new model", refreshed)


def proposal_poster(services: Services) -> Callable[[], int]:
    """A job posting new taxonomy proposals to project channels with Approve / Reject.

    It polls rather than hooking the proposal job: proposals refreshed anywhere (the scheduler
    in another process, `labelbot proposals --refresh`) reach the channel the same way, and
    ``unposted`` is one small query per project. A Slack failure leaves them unposted (the
    next round tries again) and never stops the other jobs; one project's never stops the other
    projects' (taxonomy_flow.post_all_proposals).
    """

    def post() -> int:
        try:
            return taxonomy_flow.post_all_proposals(services)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            _round_stopped(exc, "proposals not posted")
            return 0

    return post


def _round_stopped(exc: Exception, what: str) -> None:
    """A job's round stopped by a failure every call would meet: the token, or Slack itself
    (each project's own refusals are dealt with where they happen: bot.digests.refused)."""
    if is_auth_error(exc):
        return  # every job meets it: the client's TokenWatch logs it, once an hour (bot.delivery)
    log.warning("%s: Slack said %s", what, transient_error(exc) or error_code(exc) or exc)


def _thread_poster(
    services: Services, post_all: Callable[..., int], what: str
) -> Callable[[], int]:
    """A job running ``post_all(services, seen=...)`` each round, with its memory of what each
    thread shows kept between rounds; a round Slack stops is logged (:func:`_round_stopped`)."""
    seen: dict[int, object] = {}

    def post() -> int:
        try:
            return post_all(services, seen=seen)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            _round_stopped(exc, f"{what} not opened")
            return 0

    return post


def dispute_poster(services: Services) -> Callable[[], int]:
    """A job opening a thread for each disagreement none was opened for (after a label normally
    does it; this catches those another process or a Slack failure missed), and redrawing a
    thread whose votes changed outside Slack (it remembers each thread's votes in memory), or
    whose example was adjudicated there (`labelbot adjudicate`: drawn settled, the voters' Undo
    gone, once across processes)."""
    return _thread_poster(services, disputes.post_all_disputes, "disagreement threads")


def flag_poster(services: Services) -> Callable[[], int]:
    """A job opening a thread in the project channel for each recent flag none was opened for
    (a flag in Slack normally does it; this catches flags from `labelbot label` and those a
    Slack failure missed), and redrawing a thread whose flags changed outside it (resolved
    with `labelbot flags resolve`; it remembers each thread's flags in memory)."""
    return _thread_poster(services, flag_threads.post_all_flags, "flag threads")


def screen_redrawer(services: Services) -> Callable[[], int]:
    """A job redrawing the examples on experts' screens after a taxonomy change made outside
    Slack (the CLI, another process); changes made in Slack redraw them at once. And, every
    round, saying so on each review on screen that was withdrawn meanwhile.

    It remembers each project's last change time in memory: each change is redrawn once per
    process (several replicas redraw the same content). The first round
    redraws only a project with a labeling message on screen posted before its last change: a
    change made while no process ran (the bot stopped, `labelbot labels merge`, the bot
    started) is redrawn too, not noted as if drawn. A Slack failure is retried on the next round.

    A round may come after several changes (two from the CLI between rounds, or made while the
    bot was down): it remembers too the latest change each project's redraw covered, and the
    disagreement threads are redrawn for every change since (a merge then a rename: a thread
    whose experts the merge made agree says so), not only the latest
    (disputes.refresh_threads). A first round, which does not know what was drawn before,
    redraws them for every change the project had.

    A review is withdrawn by more than a taxonomy change: the mislabel scan (another process's,
    `labelbot review --scan`) dismisses one whose label was taken back or outvoted since. So each
    round looks for those of each project (review_flow.retire_withdrawn: the project's row and
    one query when there are none), and each is drawn once across processes.
    """
    seen: dict[str, object] = {}
    covered: dict[str, int] = {}  # the id of the latest change each project's redraw covered

    def redraw() -> int:
        redrawn = 0
        for project in projects.list_projects(services.ws):
            changed = project.settings.get(taxonomy.TAXONOMY_CHANGED_AT)
            first = project.name not in seen
            if not first:
                due = seen[project.name] != changed
            else:
                due = _shown_before(
                    services, project=project.name, changed=taxonomy.changed_at(project)
                )
            try:
                if due:  # the withdrawn reviews too
                    latest = consensus.last_change(services.ws, project.name)
                    redrawn += flow.redraw_on_screen(
                        services, project=project.name,
                        after_change=covered.get(project.name, 0),  # 0: every change
                    )  # fmt: skip
                    covered[project.name] = latest  # those after it: redrawn again next time
                else:
                    if first:  # nothing to redraw: the next change is the first to cover
                        now = _covered_now(services, project=project.name, changed=changed)
                        if now is not None:
                            covered[project.name] = now
                    redrawn += review_flow.retire_withdrawn(services, project=project.name)
            except SlackApiError as exc:
                log.warning("%s not redrawn: Slack said %s",
                            "examples" if due else "withdrawn reviews",
                            exc.response.get("error"))  # fmt: skip
                continue
            except NotFoundError:  # deleted since the round listed it
                continue
            seen[project.name] = changed
        return redrawn

    return redraw


def _covered_now(services: Services, *, project: str, changed: object) -> int | None:
    """The id of ``project``'s latest taxonomy change, when it is the change stamped
    ``changed`` (the round's read of the project) or one that does not stamp it (a label's
    description); None when a change came since that read (unknown then whether it is
    covered: the next redraw takes every change)."""
    latest = consensus.last_change(services.ws, project)
    again = projects.get_project(services.ws, project).settings.get(taxonomy.TAXONOMY_CHANGED_AT)
    return latest if again == changed else None


def _shown_before(services: Services, *, project: str, changed: datetime | None) -> bool:
    """Whether a labeling message of ``project`` still on screen was posted before ``changed``
    (its Slack ts is the time of the post; a chat.update keeps it)."""
    if changed is None:
        return False
    for _, _, ts in labeling.tasks_on_screen(services.ws, project=project):
        try:
            if float(ts) < changed.timestamp():
                return True
        except ValueError:  # not a Slack ts: nothing to compare
            continue
    return False


def nudger(services: Services) -> Callable[[], int]:
    """A job sending the opt-in daily nudges that are due (engine.rhythm decides)."""

    def nudge() -> int:
        return rhythm_flow.send_nudges(services)

    return nudge


def replies_reader(services: Services) -> Callable[[], int]:
    """A job reading the replies written before Discuss in DM threads whose read Slack rate
    limited, once its wait is over (flow.read_due_replies)."""

    def read() -> int:
        return flow.read_due_replies(services)

    return read


def bot_scheduler(
    services: Services, *, poll_seconds: float | None = None, blocking: bool = False
) -> Any:
    """A scheduler (not started) that retrains, notifies, posts digests, taxonomy proposals and
    disagreement threads, sends daily nudges, and redraws examples on screen after a taxonomy
    change, through Slack; and, from build_scheduler, refreshes proposals and scans for likely
    mislabels after each new model (the reviews reach experts as they ask for work)."""
    seconds = services.settings.scheduler_poll_seconds if poll_seconds is None else poll_seconds
    # one watch for every job: a database outage is a WARNING per job a minute, not tracebacks
    watch = DatabaseWatch()
    scheduler = build_scheduler(
        services.ws,
        send_digest=digest_sender(services),
        on_trained=training_notifier(services),
        poll_seconds=seconds,
        blocking=blocking,
        watch=watch,
    )
    for job, make in (
        ("post_proposals", proposal_poster),
        ("post_disputes", dispute_poster),
        ("post_flags", flag_poster),
        ("send_nudges", nudger),
        ("redraw_screens", screen_redrawer),
        ("read_earlier_replies", replies_reader),
    ):
        scheduler.add_job(watch.guard(job, make(services)), "interval", seconds=seconds, id=job)
    return scheduler


def attach_scheduler(
    api: FastAPI, scheduler: Any, *, doing: str = "retraining and digests"
) -> FastAPI:
    """Run ``scheduler`` for as long as ``api`` serves: started on start-up, shut down (waiting
    for a training round in progress, which a crash could interrupt safely anyway) on exit."""
    inner = api.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        scheduler.start()
        log.info("scheduler started: %s run in this process", doing)
        try:
            async with inner(app) as state:
                yield state
        finally:
            await asyncio.to_thread(scheduler.shutdown, wait=True)
            log.info("scheduler stopped")

    api.router.lifespan_context = lifespan
    return api
