"""`labelbot models` (versions, pin, rollback) and `labelbot worker` (the background trainer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from bot.cli.common import LogFormat, LogFormatOption, app, handle_errors, out, workspace
from engine.config import MAX_POLL_SECONDS, MIN_POLL_SECONDS
from storage.errors import InvalidInputError

if TYPE_CHECKING:
    from storage.models import ModelRun

ACTIONS = ("pin", "unpin", "rollback", "promote")


@app.command(
    "models",
    help=(
        "Model versions of a project, and which one answers.\n\n"
        # \b: click keeps the next paragraph's lines as they are instead of reflowing them
        "\b\n"
        "  labelbot models NAME                  list versions with their metrics\n"
        "  labelbot models pin NAME VERSION      activate VERSION and keep it\n"
        "                                        (retrains are stored, not promoted)\n"
        "  labelbot models unpin NAME            stop keeping it: retrains that are\n"
        "                                        not worse replace it again\n"
        "  labelbot models rollback NAME VERSION go back to an earlier version now\n"
        "  labelbot models promote NAME VERSION  activate a version that was held back"
    ),
)
@handle_errors
def models_cmd(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME | ACTION NAME [VERSION]",
            help="A project, or an action and its arguments (see above)",
            show_default=False,
        ),
    ],
) -> None:
    from engine import training

    ws = workspace()
    if words[0] not in ACTIONS:
        if len(words) == 2 and training.looks_like_version(words[1]):  # `models NAME 7`
            raise InvalidInputError(
                f"`models NAME` takes no version; did you mean `labelbot models pin "
                f"{words[0]} {words[1]}`?"
            )
        if len(words) != 1:
            raise InvalidInputError(f"unknown action {words[0]!r}: use {', '.join(ACTIONS)}")
        _list(ws, words[0])
        return
    action, *rest = words
    if action == "unpin":
        if len(rest) != 1:
            raise InvalidInputError("usage: labelbot models unpin NAME")
        pinned = training.unpin(ws, rest[0])
        if pinned is None:
            out.print(f"{rest[0]}: no version is pinned; nothing changed", highlight=False)
            return
        out.print(
            f"{rest[0]}: v{pinned} unpinned; retrains that are not worse will be promoted",
            highlight=False,
        )
        return
    if len(rest) != 2:
        raise InvalidInputError(f"usage: labelbot models {action} NAME VERSION")
    name, version = rest[0], training.parse_version(rest[1])
    if action == "pin":
        training.pin_version(ws, name, version)
        out.print(f"{name}: v{version} is active and pinned")
    else:
        pinned = training.activate_version(ws, name, version).pin_moved_from
        moved = f". The pin moved from v{pinned} to it." if pinned is not None else ""
        out.print(f"{name}: v{version} is active{moved}")


def _list(ws, name: str) -> None:  # type: ignore[no-untyped-def]
    from bot.cli.data import BEFORE_CHANGE
    from engine import jobs, projects, taxonomy, training
    from engine.evaluation import accuracy_figure

    project = projects.get_project(ws, name)
    pinned = project.settings.get("pinned_version")
    changed = taxonomy.changed_at(project)  # the latest taxonomy change (None: never)
    versions = training.list_versions(ws, name)
    if not versions:  # the next step, which is not training while there is nothing to learn
        counts = projects.project_status(ws, name)
        step = (
            f"import examples first (`labelbot import {name} FILE`), then label a few per class"
            if not counts["examples"]
            else f"label a few examples per class (`labelbot label {name}`), then train"
            if not counts["labeled"]
            else f"`labelbot train {name}`"
        )
        out.print(f"no models yet: {step}", highlight=False, markup=False)
        return
    # a run left "training" by a killed process reads "stopped"; the active model's file looked at
    states = jobs.training_states(ws, name)
    problem = training.active_model_problem(ws, name)
    failure = training.last_failure(ws, name)
    table = Table("version", "trained (UTC)", "labels", "kind", "CV acc", "audit acc", "status", "")
    table.columns[1].no_wrap = True
    sizes = set()  # audit set sizes the versions were scored on
    before = False  # a version's figures measured the labels as they were before the change
    for run in versions:
        audit = run.metrics.get("audit") or {}
        if audit.get("accuracy") is not None:
            sizes.add(audit.get("n"))
        marks = []
        if run.is_active:
            marks.append("active" if problem is None else f"active, but {problem.short}")
        if run.version == pinned:
            marks.append("pinned")
        promotion = run.metrics.get("promotion") or {}
        # held back when trained, and not made active by hand since (as /label models says it)
        if run.status == "ready" and not run.is_active and not promotion.get("promoted", True):
            marks.append(f"held back: {promotion.get('reason', '')}")
        if run.status == "ready" and taxonomy.trained_before(run, changed):  # every one, not
            marks.append(BEFORE_CHANGE)  # just the active: each measured the labels as they were
            before = True
        if run.status == "failed" and (failure is None or run.version != failure["version"]):
            marks.append(str(training.run_failure(run)["error"]))  # the last is said in full below
        table.add_row(
            f"v{run.version}",
            run.created_at.strftime("%Y-%m-%d %H:%M"),
            f"{run.n_labels:,}",
            training.kind_shown(run),
            (
                accuracy_figure(run.metrics["accuracy"], source="cv")
                if run.metrics.get("accuracy") is not None
                else "-"
            ),
            _audit_cell(audit),
            _status_cell(run, states.get(run.version)),
            ", ".join(marks),
        )
    _fit(table)
    out.print(table)
    out.print(
        "labels: the labels a version trained on; CV acc: cross-validated on them (reads low "
        "when the queue chose them); audit acc: on the n audit labels (drawn at random, never "
        "trained on)",
        highlight=False,
    )
    if before:
        out.print(
            f"{BEFORE_CHANGE}: trained before the latest taxonomy change, so its accuracy "
            "measured the labels as they were then (the next training measures today's)",
            highlight=False,
        )
    for run in versions:
        if states.get(run.version) == "stopped":
            out.print(f"v{run.version} {jobs.STOPPED}", highlight=False)
    if problem is not None:
        out.print(problem.message, highlight=False, markup=False)
    if failure is not None:  # the newest training failed: when and why, in full
        from bot.cli.data import failure_line

        out.print(failure_line(failure), highlight=False, markup=False)
    if len(sizes) > 1:  # each version was scored on the audit labels there were when it trained
        out.print(
            "audit acc: measured when each version was trained, on the n audit labels there "
            "were then; versions with different n were scored on different sets (a small n "
            "reads 100.0% easily)",
            highlight=False,
        )


def _fit(table: Table) -> None:
    """Without its borders when the boxed table is wider than the terminal: in 80 columns the
    box left the eight columns too little room, and rich cut "2026-12-04" to "2026-12-…" and
    "(n=125)" to "(n=1…". Narrower still, a word too long for its column is folded onto the
    next line, not cut: "(n=1…" read as one audit label."""
    from rich.measure import Measurement

    if Measurement.get(out, out.options.update_width(10_000), table).maximum > out.width:
        table.box = box.SIMPLE_HEAD
        table.pad_edge = False
        table.collapse_padding = True
        for column in table.columns:
            column.overflow = "fold"


def _status_cell(run: ModelRun, state: str | None) -> str:
    """A run's status as the table shows it: "stopped" for one whose training process ended
    without finishing (``state``, from ``jobs.training_states``), "(file pruned)" after a
    finished one whose file was deleted."""
    if run.status == "training" and state == "stopped":
        return "stopped"
    return run.status + ("" if run.artifact_path or run.status != "ready" else " (file pruned)")


def _audit_cell(audit: dict[str, Any]) -> str:
    """Audit accuracy with the number of audit labels behind it, as `status` and `project list`
    write it: 100.0% on 3 labels is no better than 88.0% on 25."""
    from engine.evaluation import accuracy_figure

    if audit.get("accuracy") is None:
        return "-"
    n = audit.get("n")
    return accuracy_figure(audit["accuracy"], source="audit", n=None if n is None else int(n))


@app.command(short_help="Retrain and post digests, apart from `serve`.")
@handle_errors
def worker(
    ctx: typer.Context,
    poll_seconds: Annotated[
        float | None,
        typer.Option(
            help=f"Seconds between checks, at least {MIN_POLL_SECONDS:g} and at most "
            f"{MAX_POLL_SECONDS:,} (a day) (default: LABELBOT_SCHEDULER_POLL_SECONDS, 15)",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Debug logging, with every scheduler job run (quiet by default)"
        ),
    ] = False,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Run the scheduler on its own (for teams that train apart from the web servers, with
    `labelbot serve --no-scheduler`).

    Retrains each project when enough new labels arrived (or time passed), one process per
    project at a time; any number of workers may run against the same PostgreSQL database.
    With SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET set it also posts digests and tells the
    channel about held-back models; with neither set it only retrains (Slack settings that
    `labelbot serve` refuses are refused here too). Ctrl-C or SIGTERM stops it once a job under
    way has finished. It logs what it does (a retrain, a digest); --verbose adds debug output
    and every scheduler job run.
    """
    import logging
    import math
    import signal

    # before anything starts: a negative interval made the scheduler spin (100% CPU, its memory
    # growing), and 0 is refused as LABELBOT_SCHEDULER_POLL_SECONDS=0 is, not read as "unset";
    # 1e14 overflowed APScheduler's interval (a traceback)
    if poll_seconds is not None and not (
        math.isfinite(poll_seconds) and MIN_POLL_SECONDS <= poll_seconds <= MAX_POLL_SECONDS
    ):
        raise InvalidInputError(
            f"--poll-seconds must be at least {MIN_POLL_SECONDS:g} and at most "
            f"{MAX_POLL_SECONDS:,} (a day) (got {poll_seconds:g}); leave it out for "
            "LABELBOT_SCHEDULER_POLL_SECONDS (default 15)"
        )

    from bot.cli.logs import configure_logging
    from bot.cli.serve import check_engine_settings, from_dotenv, say
    from bot.config import get_worker_settings
    from engine.config import get_settings
    from engine.scheduler import build_scheduler

    log_format = LogFormat(from_dotenv(ctx, "log_format", log_format))
    configure_logging(logging.DEBUG if verbose else logging.INFO, form=log_format.value)
    log = logging.getLogger("labelbot.worker")
    check_engine_settings(get_settings())  # every retrain would fail without them (exit 6)
    ws = workspace(create=True)  # a service may start before the first project is made
    every = ws.settings.scheduler_poll_seconds if poll_seconds is None else poll_seconds
    services = None
    slack = get_worker_settings()  # Slack settings that serve refuses: refused here too (exit 6)
    if slack is None:
        log.info(
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set: retraining only, no digests "
            "or notifications"
        )
        scheduler = build_scheduler(ws, poll_seconds=every, blocking=True)
    else:
        from bot.scheduling import bot_scheduler
        from bot.services import build_services

        log.info("Slack settings found: retraining, posting digests and notifications")
        services = build_services(slack, ws=ws)
        scheduler = bot_scheduler(services, poll_seconds=every, blocking=True)
    # systemd and Kubernetes stop a service with SIGTERM: stop as on Ctrl-C (a job under way
    # finishes and releases its lease before the process exits) rather than die mid-training.
    # Installed before the line that says the worker runs, so a SIGTERM sent on seeing it stops
    # the worker cleanly too.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        say(
            f"labelbot worker: checking for work every {every:g} s in "
            f"{ws.settings.database_shown()} (Ctrl-C to stop)",
            logger="labelbot.worker",
        )
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        say("worker stopped", logger="labelbot.worker")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if services is not None:
            services.close()
