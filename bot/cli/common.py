"""What every labelbot command shares: the Typer apps, consoles and error translation."""

from __future__ import annotations

import errno
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

from bot.cli.logs import json_logging
from engine.config import get_settings
from engine.project_settings import check_lengths
from engine.workspace import Workspace
from storage.db import NewerSchema, SchemaChange, busy_error, masked_url
from storage.errors import (
    DISK_ERRNOS,
    ConfigurationError,
    InvalidInputError,
    LabelbotError,
    NotFoundError,
)

if TYPE_CHECKING:
    from storage.models import ModelRun


class LogFormat(StrEnum):
    """`serve`'s and `worker`'s --log-format (LABELBOT_LOG_FORMAT): lines for people, or one
    JSON object a line for a log pipeline (bot.cli.logs.JsonLines)."""

    text = "text"
    json = "json"


LOG_FORMAT_HELP = (
    "text: lines for people; json: one JSON object a line (time, level, logger, message; "
    "uvicorn's access lines add client, method, path, status), for a log pipeline"
)


def log_format(value: str) -> LogFormat:
    """--log-format (or LABELBOT_LOG_FORMAT) in any case, the spaces around it dropped (`JSON`,
    ` json` were refused), as LABELBOT_ACCESS_LOG and the other variables are read; spaces
    alone are the default, as an empty variable is. Else click's one error, exit 2."""
    if isinstance(value, LogFormat):  # the default
        return value
    name = value.strip().lower() or LogFormat.text.value
    if name not in LogFormat.__members__:
        choices = ", ".join(repr(member.value) for member in LogFormat)
        raise typer.BadParameter(f"{value!r} is not one of {choices}")
    return LogFormat(name)


# `serve`'s and `worker`'s --log-format
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        envvar="LABELBOT_LOG_FORMAT", parser=log_format, metavar="<text|json>", help=LOG_FORMAT_HELP
    ),
]

# Output that is not a terminal (a pipe, a log, CI) is laid out this wide instead of rich's 80
# columns: table cells are not cut short (a plain line is never wrapped anywhere: _Console).
WIDE = 200


class Command(TyperCommand):
    """Help in the shape labelbot's README shows, whatever typer's version: arguments by their
    names in capitals (or their metavar), `[NAME]` when optional, with no Python type beside
    them (typer 0.2x writes required arguments in braces, `{name}`, and lists as
    `<list[str]>`). The click objects are typed Any: typer 0.29 vendors its own click
    (typer._click), older ones use click itself."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Click's, with a way out when a name starts with "-": a label such as ``-1`` is
        read as an option (``labels retire p -1``: "No such option: -1"), and the fix, ``--``
        before the names, is nowhere in click's answer. Only for a single-dash token on a
        command that takes names; a mistyped ``--option`` keeps click's "Did you mean"."""
        try:
            out: list[str] = super().parse_args(ctx, args)
        except Exception as exc:
            name = getattr(exc, "option_name", None)
            takes_names = any(p.param_type_name == "argument" for p in self.get_params(ctx))
            if (type(exc).__name__ == "NoSuchOption" and isinstance(name, str)
                    and not name.startswith("--") and takes_names):  # fmt: skip
                usage = " ".join(self.collect_usage_pieces(ctx)).replace("[OPTIONS] ", "", 1)
                exc.message = (  # type: ignore[attr-defined]
                    f"No such option: {name}. If {name} is a name, put -- before the names, "
                    f"after any options: {ctx.command_path} [OPTIONS] -- {usage}"
                )
            raise
        return out

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


def _argument_name(param: Any) -> str:
    if param.metavar:
        return str(param.metavar)
    return str(param.name).upper() + ("..." if param.nargs != 1 else "")


class Typer(typer.Typer):
    """typer.Typer whose commands render their help with :class:`Command`."""

    # older typers: its signature differs (override); typer 0.29: nothing to ignore
    def command(  # type: ignore[override, unused-ignore]
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[Any], Any]:
        return super().command(name, cls=cls or Command, **kwargs)


app = Typer(
    help=(
        "labelbot: train a text classifier by labeling, from Slack or the terminal.\n\n"
        "Configuration comes from the environment: DATABASE_URL (default sqlite:///labelbot.db, "
        "in the current directory), LABELBOT_ENCODER, LABELBOT_DATA_DIR (embeddings and models, "
        "default .labelbot/ in the current directory), LABELBOT_MODELS_DIR (model files, if "
        "not in the data directory).\n\n"
        "Errors are one line on stderr; exit codes: 2 bad input, 3 not found, 4 conflict (the "
        "database busy too), 5 stale action, 6 configuration, 7 database unavailable, 1 "
        "stopped short (it says what is left), 130 Ctrl-C, 143 SIGTERM."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
project_app = Typer(help="Create, list, configure and delete projects.", no_args_is_help=True)
labels_app = Typer(
    short_help="Show and change a project's labels (its taxonomy).",
    help="Show and change a project's labels (its taxonomy), with their history.",
    no_args_is_help=True,
)
app.add_typer(project_app, name="project")
app.add_typer(labels_app, name="labels")


def _shown_as(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: "␛" for ESC, one column wide
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Characters a terminal obeys instead of showing: C0 controls but newline and tab, DEL, C1
# controls (0x9b is CSI on some terminals), and the bidi embeddings, overrides and isolates
# that reorder what follows (the plain marks U+200E, U+200F and U+061C are part of ordinary
# Hebrew and Arabic text: they stay)
_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_VISIBLE = {
    code: _shown_as(code)
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI)
    if code not in (0x09, 0x0A)
}


def printable(text: str) -> str:
    """``text`` (stored data: an example imported from outsiders, a flag's reason, a name) made
    safe for a terminal: escape sequences (clear the screen, hide text, move the cursor, set
    the title, hyperlinks) and bidi overrides would act instead of showing, so each control
    character shows as a visible stand-in: "␛" for ESC (the Control Pictures), "\\x9b" for
    a C1 control, "\\u202e" for a bidi control. Newlines and tabs stay; "\\r\\n" is a
    newline. Every line the consoles print goes through it (:class:`_Console`, :func:`styled`);
    machine output (--json, exports) does not, and stays as stored."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(_VISIBLE)


class _Console(Console):
    """A console that never hard-wraps a plain line (strings and Text only): the terminal
    wraps it, or nothing does in a pipe or a log. Rich broke one at its width with a newline,
    and a hint's command or path pasted from there ran or named two halves. Whatever needs
    the width (a table, a panel, the columns of labels) is laid out to it as before, cells
    and panel text wrapped inside. Every string it renders (a line, a cell) is
    :func:`printable` first."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if soft_wrap is None and all(isinstance(o, str | Text) for o in objects):
            soft_wrap = True  # rich: no word wrapping, no cropping, no newline put in
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


# Data (example texts, label names, error messages) prints as it is: markup is off, so "[/]" in
# a ticket or "[P1]" in a label name shows literally instead of crashing or vanishing. The few
# styled lines are built with :func:`styled`, the data in them escaped (rich.markup.escape).
# Control characters in data show as visible stand-ins (:func:`printable`), never reach the
# terminal: plain strings through the consoles' render_str, styled lines through styled().
out = _Console(markup=False)
err = _Console(stderr=True, markup=False)
F = TypeVar("F", bound=Callable[..., Any])
MANY_CHOICES = 15  # more labels than this print in columns


@app.callback()
def _fit_output() -> None:
    """Before any command: lay output that is not a terminal out :data:`WIDE` columns wide (a
    wider COLUMNS is kept). Done here, not at import: the streams are known only now."""
    for console in (out, err):
        if not console.is_terminal and console.width < WIDE:
            console.width = WIDE


def styled(markup: str) -> Text:
    """Console markup ("[bold]x[/]") made into text; escape any data inside it first. Emoji
    codes stay as typed: ":smile:" in an example is data, not a picture. Control characters in
    the data show as :func:`printable` stand-ins."""
    return Text.from_markup(printable(markup), emoji=False)


def print_choices(names: Sequence[str]) -> None:
    """The labels, numbered: one per line for a few, in columns for many (150 labels one per
    line push the example off the screen)."""
    cells = [styled(f"[bold]{i:>3}[/] {escape(name)}") for i, name in enumerate(names, start=1)]
    if len(cells) <= MANY_CHOICES:
        for cell in cells:
            out.print(Text("  ") + cell)
        return
    # Down each column, the columns of one height (the last may be shorter), as many as fit:
    # rich's Columns(column_first=True) made columns of uneven heights (1–5, 6–10, 11–14, …).
    gap = 2
    widest = max(cell.cell_len for cell in cells) + gap
    across = max(1, min(len(cells), (out.width + gap) // widest))
    down = -(-len(cells) // across)
    across = -(-len(cells) // down)  # as few columns as that height needs
    grid = Table.grid(padding=(0, gap))
    for _ in range(across):
        grid.add_column(no_wrap=True)
    for row in range(down):
        grid.add_row(*[cells[at] if (at := col * down + row) < len(cells) else Text()
                       for col in range(across)])  # fmt: skip
    out.print(grid)


def example_ref(example_id: int, external_id: str | None) -> str:
    """How a listing names an example: its #number, then the id it was imported with, if any."""
    return f"#{example_id}" + (f" ({external_id})" if external_id is not None else "")


def trained_line(ws: Workspace, name: str, run: ModelRun) -> str:
    """One line on a run just trained (`labelbot train`, a retrain while labeling): its honest
    accuracy, with the cross-validation caveat only when the queue chose its labels."""
    from engine.evaluation import queue_chose_labels, run_summary  # scikit-learn: when needed

    return run_summary(
        run.metrics,
        version=run.version,
        kind=run.kind,
        n_labels=run.n_labels,
        queue_chosen=queue_chose_labels(ws, name, run.metrics),
    )


def train_shown(ws: Workspace, name: str, *, kind: str | None = None) -> ModelRun:
    """Train ``name`` now (`labelbot train`, a retrain while labeling) as a terminal shows it:
    a progress bar while the texts not embedded yet are embedded, then a spinner while the model
    fits and is cross-validated. Not on a terminal (a pipe, a log): quietly."""
    from engine import jobs, training  # torch and scikit-learn load only when needed

    if not sys.stderr.isatty():
        return jobs.train_now(ws, name, kind=kind)
    # the texts not embedded yet first, with their own progress bar (it cannot run inside the
    # spinner); training then finds every vector cached
    training.load_pool(ws, name, progress=True)
    with err.status(f"training {name}: fitting and cross-validating…"):
        return jobs.train_now(ws, name, kind=kind)


def options_fit(form: str, given: dict[str, bool], reads: set[str], *, command: str) -> None:
    """Refuse (exit 2) an option the command's ``form`` does not read: ``given`` says which
    options were given, ``reads`` which this form reads. One command with a list form and
    action forms (`proposals`, `flags`) ignored the others' options without a word, so
    `proposals reject … --into a,b` seemed to do what it said."""
    stray = [option for option, on in given.items() if on and option not in reads]
    if stray:
        raise InvalidInputError(
            f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not go with `{form}` "
            f"(it reads {', '.join(sorted(reads)) or 'no option'}): see `labelbot {command} --help`"
        )


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


class MissingDatabase(NotFoundError):
    """DATABASE_URL names a SQLite file that does not exist, for a command that only reads or
    changes what is there: it is not created (an empty one would only hide the mistake)."""


def _person(given: str, option: str) -> str | None:
    """An --actor or --annotator as given: stripped, None when blank (the login name is used)."""
    from engine.evaluation import IMPORTED

    name = given.strip()
    if name == IMPORTED:
        raise InvalidInputError(
            f"--{option} {IMPORTED!r} is the name labels imported from a file go by (they are "
            "counted apart from people's): choose another name"
        )
    return name or None


class _Command:
    """Where this process's command got to, for :func:`said_if_silent`: ``began`` is set by
    :func:`handle_errors` as the command's own code begins."""

    began = False


COMMAND = _Command()


def said_if_silent(exc: SystemExit) -> None:
    """Say the one line on a Ctrl-C that typer ended by itself with exit 130 and nothing said:
    one that came outside the command's own code (while click parsed the command line, or as
    the command ended), where :func:`handle_errors` and :func:`interrupted` never saw it. Typer
    raises that exit *from* the KeyboardInterrupt; every exit labelbot raises on one is not."""
    ended = exc.__context__
    if exc.code != 130 or not isinstance(ended, typer.Exit):
        return
    if not isinstance(ended.__cause__, KeyboardInterrupt):
        return
    if COMMAND.began:  # its own code ran and said what it did; the interruption came after
        err.print("interrupted as it ended", highlight=False)
    else:
        err.print("interrupted while starting; nothing was done", highlight=False)


def handle_errors(func: F) -> F:
    """Turn labelbot's errors into a one-line message and the error's exit code.

    A project that is not found is reported with the database it was looked for in. A database
    too busy to answer (a long import holding SQLite's write lock) is a conflict, exit code 4,
    wherever the driver's error surfaced. Options that are stored as they are (``--channel``,
    ``--actor``, ``--annotator``) are checked against their column's width first, for every
    command that has them; a name (``--actor``, ``--annotator``) is taken without the spaces
    around it, a blank one as none given (the login name), and the name imported labels go by
    is refused."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        COMMAND.began = True
        try:
            check_lengths(kwargs)
            for key in ("actor", "annotator"):
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = _person(kwargs[key], key)
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            # a command that says what it leaves catches it itself (`interrupted`); any other
            # was ended by typer with exit 130 and nothing said
            interrupted("before it finished")
        except LabelbotError as exc:
            _fail(exc, kwargs.get("name"))
        except OSError as exc:
            in_the_way = _file_in_the_way(exc)
            if in_the_way is not None:
                _fail(in_the_way, kwargs.get("name"))
            if exc.errno not in DISK_ERRNOS:  # a file it could not write (full, read-only, ...)
                raise
            _fail(_disk_error(exc, option=_output_option(kwargs)), kwargs.get("name"))
        except Exception as exc:
            busy = busy_error(exc)  # storage turns it into one where it can; this is the net
            if busy is None:
                raise
            _fail(busy, kwargs.get("name"))

    return wrapper  # type: ignore[return-value]


def _file_in_the_way(exc: OSError) -> ConfigurationError | None:
    """LABELBOT_DATA_DIR (or LABELBOT_MODELS_DIR) naming a file, or a folder in one: the folder
    labelbot makes in it (`init`, the encoder's, the embedding cache's) fails with EEXIST or
    ENOTDIR, which was a traceback. One line naming the variable; None for any other error."""
    if exc.errno not in (errno.EEXIST, errno.ENOTDIR) or not exc.filename:
        return None
    path = Path(os.fsdecode(exc.filename))
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is None:
        return None
    settings = get_settings()
    for variable, folder in (
        ("LABELBOT_MODELS_DIR", settings.models_dir),
        ("LABELBOT_DATA_DIR", settings.data_dir),
    ):
        if folder is not None and (path == folder or folder in path.parents):
            said = f"{folder}: cannot make {path} in it" if path != folder else str(folder)
            return ConfigurationError(
                f"{variable} {said}: {blocker} is a file, not a folder; point {variable} at a "
                "folder (it is made if missing)"
            )
    return None


# the option that names where a command writes, by its parameter's name: the hint of a failed
# write names the command's own (the demo's is --out-dir; it was told to use --out)
OUTPUT_OPTIONS = {"out_file": "--out", "out_dir": "--out-dir"}


def _output_option(kwargs: dict[str, Any]) -> str | None:
    return next((option for key, option in OUTPUT_OPTIONS.items() if key in kwargs), None)


def _disk_error(exc: OSError, *, option: str | None = None) -> ConfigurationError:
    """A one-line error for a file the command could not write (or read): which, and why. What
    was committed before stays committed (an import's rows, say); nothing half-written is kept
    (model, export and cache files are written beside and moved into place). ``option`` is the
    command's own option for where it writes (--out, --out-dir), if it has one."""
    where = f" {exc.filename}" if exc.filename else ""
    elsewhere = f"LABELBOT_DATA_DIR (or {option})" if option else "LABELBOT_DATA_DIR"
    return ConfigurationError(
        f"could not write{where}: {exc.strerror or exc}; free some space or point {elsewhere} "
        "somewhere writable, then run it again (what was stored before this stays stored)"
    )


def _fail(exc: LabelbotError, name: object) -> NoReturn:
    message = " ".join(line.strip() for line in printable(str(exc)).splitlines() if line.strip())
    if isinstance(exc, MissingDatabase) and isinstance(name, str):
        message = f"no project named {name!r}: {message}"
    elif isinstance(exc, NotFoundError) and message.startswith("no project named "):
        message += f" in {get_settings().database_shown()}"
    typer.echo(f"error: {message}", err=True)  # one plain line: scripts grep it
    raise typer.Exit(exc.exit_code) from None


def workspace(*, create: bool = False) -> Workspace:
    """Open the configured database, migrating it to the current schema first (an upgrade of
    an existing schema is said on stderr: :func:`schema_notice`).

    A SQLite file that does not exist is created only with ``create`` (`init`, `project
    create`, the worker); `serve` opens it without this check (bot.services.build_services),
    so creates it too. Any other command refuses with :class:`MissingDatabase`, naming the
    absolute path it looked for: run from another directory, the default
    ``sqlite:///labelbot.db`` names another file."""
    settings = get_settings()
    path = settings.sqlite_file()
    if not create and path is not None and not path.exists():
        given = settings.database_url.split("///", 1)[-1]
        relative = "" if given.startswith(("/", "~")) else ", relative to the current directory"
        raise MissingDatabase(
            f"no database at {path} (DATABASE_URL {masked_url(settings.database_url)}{relative}); "
            "nothing was created: run labelbot where its database is, or set DATABASE_URL "
            "(`labelbot init` creates a new one)"
        )
    ws = Workspace.open(settings)
    notice = schema_notice(ws.schema_change)
    if notice is not None and json_logging():  # the worker's --log-format json: a record
        logging.getLogger("labelbot.schema").warning(notice)
    elif notice is not None:
        err.print(notice, highlight=False)
    return ws


def schema_notice(change: SchemaChange | NewerSchema | None) -> str | None:
    """What an automatic upgrade of an existing schema says, once (stderr; serve's log): the
    older labelbot it was made by can no longer open it (or, when the upgrade only added to a
    schema that carried the compatibility mark, that it keeps running on it), and how to take
    it back; or that the
    schema is newer than this labelbot's and this one runs on it, as the newer one marked it.
    None when nothing changed, or the schema was only created."""
    if isinstance(change, NewerSchema):
        return (
            f"the database schema is at revision {change.revision}, newer than this labelbot's "
            f"{change.newest}; the labelbot that upgraded it only added to it (labelbot from "
            f"schema {change.oldest_compatible} on can run on it), so this labelbot runs on it "
            "as it is, without what was added; upgrade labelbot when you can"
        )
    if change is None or change.before is None:
        return None
    if change.kept_open_from is not None:
        return (
            f"upgraded the database schema {change.before} → {change.after}; it only added to "
            f"it, so labelbot from schema {change.kept_open_from} on (releases at "
            f"{change.before} included) keeps running on it (`labelbot db downgrade "
            f"{change.before}` with this labelbot rolls it back)"
        )
    return (
        f"upgraded the database schema {change.before} → {change.after}; labelbot releases "
        f"older than this one can no longer open it (`labelbot db downgrade {change.before}` "
        "with this labelbot rolls it back)"
    )


def interrupted(what: str) -> NoReturn:
    """Ctrl-C: one line on what was done and what is left, then the shell's exit code for it."""
    err.print(f"interrupted {what}", highlight=False)
    raise typer.Exit(130)


def refuse_database(out_file: Path) -> None:
    """Refuse an --out that names the SQLite database itself, or its -wal, -shm or -journal
    file (through a link too): `--out labelbot.db`, a name the shell completed, replaced the
    whole database, every project in it, with an export, a prediction or a digest's chart."""
    from storage.copying import sqlite_file_named

    database = get_settings().sqlite_file()
    named = None if database is None else sqlite_file_named(out_file, database)
    if named == "":
        raise InvalidInputError(
            f"{out_file}: is the database itself (DATABASE_URL {database}); writing there "
            "would replace every project in it: name another file"
        )
    if named is not None:
        # SQLite's own file beside it (as db backup says it): a live WAL replaced drops what it
        # holds, and leaves the database "malformed"
        raise InvalidInputError(
            f"{out_file}: is the database's {named} file ({database}{named}, DATABASE_URL "
            f"{database}); writing there would corrupt the database: name another file"
        )
