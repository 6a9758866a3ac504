"""`labelbot db`: the database itself, as a whole (`db copy`: SQLite to PostgreSQL and back;
`db backup`: a SQLite file's consistent copy; `db downgrade`: the schema back to an older
labelbot's)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import Typer, app, ask, err, handle_errors, out
from engine.config import get_settings
from engine.database import backup_to, copy_to, downgrade_database, downgrade_plan, shown_url
from engine.forecast import counted

db_app = Typer(
    short_help="Copy, back up or downgrade the database.",
    help="The database as a whole: copy it to another (SQLite to PostgreSQL, and back), back "
    "a SQLite database up, take its schema back to an older labelbot's.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("copy", short_help="Copy the whole database into another, empty one.")
@handle_errors
def copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="The database to copy into (e.g. postgresql+psycopg://user@host/db); it must "
            "hold no labelbot data",
            show_default=False,
        ),
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="URL",
            help="The database to copy from (default: DATABASE_URL)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy the whole labelbot database into another, empty one, ids included.

    Every table and row is copied (projects, labels, examples, votes with their authors,
    comments, flags, adjudications, model runs, the taxonomy's history, Slack state), so model
    files in LABELBOT_DATA_DIR and messages already posted in Slack keep working against the
    copy; only leases (which process holds which work, now) are left out. The target is first
    brought to the current schema; a source at an older schema revision is refused as it is
    (never upgraded: its labelbot could no longer open it). The source is read as one
    snapshot, so the bot may keep running; stop it before switching DATABASE_URL to the copy,
    or what it stores meanwhile stays behind. The copy is one transaction: a target that
    already holds labelbot data is refused, and a row the target refuses leaves it as empty as
    it was.
    """
    source = from_ if from_ is not None else get_settings().database_url
    source_option = "--from" if from_ is not None else "DATABASE_URL"
    try:
        with _progress(enabled=sys.stderr.isatty()) as advance:
            report = copy_to(
                source_url=source,
                target_url=to,
                source_option=source_option,
                target_option="--to",
                progress=advance,
            )
    except KeyboardInterrupt:
        err.print("interrupted: the copy is one transaction, so nothing was written to the target")
        raise typer.Exit(130) from None
    width = max((len(name) for name, _ in report.tables), default=0)
    for name, rows in report.tables:
        out.print(f"  {name:<{width}}  {rows:>9,}", highlight=False)
    out.print(
        f"copied {counted(len(report.tables), 'table')}, {counted(report.rows, 'row')} from "
        f"{shown_url(source)} to {shown_url(to)} (not copied: {', '.join(report.skipped)})",
        highlight=False,
    )


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """One bar over every row on stderr (a terminal only), naming the table being copied; gone
    when the copy ends, as the import's embedding bar."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("Copying", total=None)

        def advance(table: str, done: int, total: int) -> None:
            bar.update(task, description=f"Copying {table}", completed=done, total=total)

        yield advance


@db_app.command("backup", short_help="Back up the SQLite database into a file, as it is.")
@handle_errors
def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup file to write")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace FILE if it exists", show_default=False)
    ] = False,
) -> None:
    """Back up the SQLite database (DATABASE_URL) into FILE with SQLite's online backup: one
    consistent copy, taken while the bot runs, of everything committed. A `cp` of the file
    misses what its write-ahead log (labelbot.db-wal) holds. The backup is at the database's
    own schema revision (nothing is upgraded), so the labelbot that made it can open it: take
    one before upgrading labelbot. To restore it, stop labelbot and point DATABASE_URL at FILE
    (or copy it over the database, with no -wal or -shm file left beside it).

    An existing FILE is refused unless --force; the database itself and its -wal, -shm and
    -journal files always are. On PostgreSQL, use its own tool: pg_dump -Fc.
    """
    url = get_settings().database_url
    made = backup_to(url, file, force=force)
    at = "no labelbot schema" if made.revision is None else f"schema revision {made.revision}"
    out.print(
        f"backed up {shown_url(url)} ({at}) to {made.path}: {made.size:,} bytes",
        highlight=False,
    )


@db_app.command("downgrade", short_help="Take the schema back to an older labelbot's revision.")
@handle_errors
def downgrade(
    revision: Annotated[
        str,
        typer.Argument(metavar="REVISION", help="The schema revision to go back to, e.g. 0017"),
    ],
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Downgrade without asking (needed when stdin is no terminal)"),
    ] = False,
) -> None:
    """Take the database's schema (DATABASE_URL) back to REVISION, for an older labelbot.

    Use it before rolling a deployment back to an older labelbot: every command of a newer one
    upgrades the schema on start (saying so, with the revision it was at), and an older one
    refuses a schema it does not know, naming its own newest revision: give that one. Stop
    every labelbot process on the database first (this one's would upgrade it again when they
    start), back it up (`labelbot db backup`, or pg_dump on PostgreSQL), run this with the newer
    labelbot, then start the older one.

    Says which migrations it undoes (what they added goes, with what it holds), then asks;
    --yes downgrades without asking, and is needed when stdin is not a terminal. One
    transaction: a failure changes nothing. Refused: an unknown revision, or one newer than the
    database's.
    """
    url = get_settings().database_url
    # revisions are four digits (0017); "17" is the same one, not an unknown revision
    revision = revision.strip()
    revision = revision.zfill(4) if revision.isdecimal() and revision.isascii() else revision
    plan = downgrade_plan(url, revision)
    if not plan.undone:
        out.print(
            f"the database schema is at {revision} already: nothing to downgrade",
            highlight=False,
        )
        return
    out.print(
        f"downgrading {shown_url(url)} from schema revision {plan.current} to {revision} "
        f"undoes {len(plan.undone)} migration{'' if len(plan.undone) == 1 else 's'} (what they "
        "added goes, with what it holds); stop labelbot's processes on it first:",
        highlight=False,
    )
    for name, title in plan.undone:
        out.print(f"  {name}  {title}", highlight=False)
    if not yes:
        _confirm_downgrade(revision)
    change = downgrade_database(url, revision)
    before = plan.current if change is None else change.before
    out.print(f"downgraded {before} → {revision}", highlight=False)


def _confirm_downgrade(revision: str) -> None:
    """Ask on a terminal ([y/N]: anything but yes downgrades nothing, exit 1); without one,
    refuse (exit 2): --yes says it."""
    if not sys.stdin.isatty():
        err.print(
            "error: not downgraded: stdin is not a terminal to confirm on; pass --yes to "
            f"downgrade to {revision}",
            highlight=False,
        )
        raise typer.Exit(2)
    answer = ask(f"downgrade the schema to {revision}? [y/N]")
    if (answer or "").lower() not in ("y", "yes"):
        err.print("not downgraded", highlight=False)
        raise typer.Exit(1)
