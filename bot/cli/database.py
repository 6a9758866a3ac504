"""`labelbot db`: the database itself, as a whole (`db copy`: SQLite to PostgreSQL and back)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from bot.cli.common import Typer, app, err, handle_errors, out
from engine.config import get_settings
from engine.database import copy_to, shown_url

db_app = Typer(
    short_help="Copy the database to another (SQLite to PostgreSQL, and back).",
    help="The database as a whole: copy it to another (SQLite to PostgreSQL, and back).",
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
    copy; only leases (which process holds which work, now) are left out. Both databases are
    first brought to the current schema. The source is read as one snapshot, so the bot may
    keep running; stop it before switching DATABASE_URL to the copy, or what it stores
    meanwhile stays behind. The copy is one transaction: a target that already holds labelbot
    data is refused, and a row the target refuses leaves it as empty as it was.
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
        f"copied {_counted(len(report.tables), 'table')}, {_counted(report.rows, 'row')} from "
        f"{shown_url(source)} to {shown_url(to)} (not copied: {', '.join(report.skipped)})",
        highlight=False,
    )


def _counted(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
