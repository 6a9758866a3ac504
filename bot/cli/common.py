"""What every labelbot command shares: the Typer apps, consoles and error translation."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click
import typer
from rich.columns import Columns
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from engine.project_settings import check_lengths
from engine.workspace import Workspace
from storage.errors import LabelbotError

app = typer.Typer(
    help=(
        "labelbot: train a text classifier by labeling, from Slack or the terminal.\n\n"
        "Configuration comes from the environment: DATABASE_URL (default sqlite:///labelbot.db), "
        "LABELBOT_ENCODER, LABELBOT_DATA_DIR (embeddings and models, default .labelbot/)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
project_app = typer.Typer(help="Create, list and configure projects.", no_args_is_help=True)
labels_app = typer.Typer(
    help="Show and change a project's labels (its taxonomy), with their history.",
    no_args_is_help=True,
)
app.add_typer(project_app, name="project")
app.add_typer(labels_app, name="labels")

# Data (example texts, label names, error messages) prints as it is: markup is off, so "[/]" in
# a ticket or "[P1]" in a label name shows literally instead of crashing or vanishing. The few
# styled lines are built with :func:`styled`, the data in them escaped (rich.markup.escape).
out = Console(markup=False)
err = Console(stderr=True, markup=False)
F = TypeVar("F", bound=Callable[..., Any])
MANY_CHOICES = 15  # more labels than this print in columns


def styled(markup: str) -> Text:
    """Console markup ("[bold]x[/]") made into text; escape any data inside it first. Emoji
    codes stay as typed: ":smile:" in an example is data, not a picture."""
    return Text.from_markup(markup, emoji=False)


def print_choices(names: Sequence[str]) -> None:
    """The labels, numbered: one per line for a few, in columns for many (150 labels one per
    line push the example off the screen)."""
    cells = [styled(f"[bold]{i:>3}[/] {escape(name)}") for i, name in enumerate(names, start=1)]
    if len(cells) <= MANY_CHOICES:
        for cell in cells:
            out.print(Text("  ") + cell)
    else:
        out.print(Columns(cells, padding=(0, 2), column_first=True))


def login_name() -> str:
    """Who runs the command, for annotations and the taxonomy history."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's uid without a passwd entry)
        return "operator"


def ask(prompt: str) -> str | None:
    """One answer at an interactive prompt; None when the person leaves (Ctrl-D or Ctrl-C), so
    the caller can hand back what it holds before it goes."""
    try:
        return str(typer.prompt(prompt, prompt_suffix=" ")).strip()
    except (typer.Abort, click.exceptions.Abort, EOFError, KeyboardInterrupt):
        out.print()
        return None


def handle_errors(func: F) -> F:
    """Turn labelbot's errors into a one-line message and the error's exit code.

    Options that are stored as they are (``--channel``, ``--actor``, ``--annotator``) are checked
    against their column's width first, for every command that has them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_lengths(kwargs)
            return func(*args, **kwargs)
        except LabelbotError as exc:
            typer.echo(f"error: {exc}", err=True)  # one plain line: scripts grep it
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def workspace() -> Workspace:
    """Open the configured database, migrating it to the current schema first."""
    return Workspace.open()
