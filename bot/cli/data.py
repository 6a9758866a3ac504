"""Data commands: projects, labels, import, train, status, export, predict."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.table import Column, Table

from bot.cli.common import (
    MissingDatabase,
    app,
    ask,
    err,
    handle_errors,
    interrupted,
    labels_app,
    out,
    project_app,
    refuse_database,
    styled,
    train_shown,
    trained_line,
    workspace,
)
from engine import exporting, projects
from engine.forecast import counted
from engine.importing import SPREADSHEET_SUFFIXES, FileRows, InterruptedAfterStoring
from engine.project_settings import (
    MAX_BATCH_SIZE,
    MAX_LABELERS,
    MAX_RARE_MINIMUM,
    MAX_RETRAIN_EVERY,
    MAX_RETRAIN_MINUTES,
)
from engine.projects import ImportReport
from engine.strategies import STRATEGIES
from engine.workspace import Workspace
from storage.errors import (
    ConfigurationError,
    InvalidInputError,
    LabelbotError,
)

if TYPE_CHECKING:
    from engine.predicting import Answering

# a model whose figures measured the labels as they were (taxonomy.trained_before), as
# `project list` and `models` mark it
BEFORE_CHANGE = "before the taxonomy change"

# export's and predict's output file: "-" is stdout, as for most tools (not a file named "-")
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write here instead of stdout ('-': stdout)", show_default=False),
]
# export's and predict's output format, chosen alike
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="jsonl or csv (default: as the --out file is named, .csv or .jsonl; else jsonl)",
        show_default=False,
    ),
]


@app.command(short_help="Create or upgrade the database and data directory.")
@handle_errors
def init() -> None:
    """Create the database (or upgrade its schema) and the data directory."""
    ws = workspace(create=True)
    if ws.db.url.get_backend_name() == "sqlite" and ws.db.url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "DATABASE_URL names an in-memory SQLite database, gone when this command ends: "
            "give a file, e.g. sqlite:///labelbot.db"
        )
    ws.settings.data_dir.mkdir(parents=True, exist_ok=True)
    out.print(f"database ready: {ws.settings.database_shown()}")
    out.print(f"data directory: {ws.settings.data_dir}")


@project_app.command("create")
@handle_errors
def project_create(
    name: Annotated[str, typer.Argument(help="Project name (letters, digits, _ - .)")],
    labels: Annotated[str, typer.Option("--labels", help="Comma-separated labels: 'A,B,C'")],
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Slack channel ID for threads and digests (C0123ABCD)"),
    ] = None,
) -> None:
    """Create a project with its initial labels."""
    from engine.taxonomy import label_names

    _check_not_a_command_word(name)
    names = label_names(labels) if labels.strip() else []  # none: refused, as it was
    checked = None if channel is None else projects.as_channel_id(channel)  # before any file
    ws = workspace(create=True)
    project = projects.create_project(ws, name=name, labels=names, channel_id=checked)
    out.print(f"created project {project.name!r} with {counted(len(names), 'label')}")
    _note_shared_channel(ws, project.name, checked)
    if len(names) < 2:  # allowed (labels can be added later), but nothing trains until then
        err.print(
            f"note: a model needs at least 2 labels to tell apart: add more with `labelbot "
            f"labels add {project.name} NAME`",
            highlight=False,
        )


def _note_shared_channel(ws: Workspace, name: str, channel: str | None) -> None:
    """Say so when ``channel`` is another project's too: allowed (digests of both go there),
    but `/label` there without a project's name then asks which."""
    others = [
        p.name
        for p in projects.list_projects(ws)
        if channel and p.channel_id == channel and p.name != name
    ]
    if others:
        err.print(
            f"note: {channel} is also the channel of {', '.join(map(repr, others))}: both "
            "post there, and `/label` in it without a project's name asks which project",
            highlight=False,
            markup=False,
        )


def _check_not_a_command_word(name: str) -> None:
    """Refuse a project name that a command would read as one of its own words: `labelbot
    models pin` is the action, never the project "pin", and `/label taxonomy` or `/label 5` in
    Slack are a verb and a batch size. Such a project could be created but not reached."""
    from bot import ids
    from bot.cli import flags, models, proposals

    if name.isdigit():
        raise InvalidInputError(
            f"invalid project name {name!r}: `/label {name}` in Slack asks for a batch of "
            f"{name}; use a name with a letter in it"
        )
    words = {*ids.COMMAND_VERBS, *models.ACTIONS, *flags.ACTIONS, *proposals.ACTIONS}
    if name.lower() in words:
        raise InvalidInputError(
            f"invalid project name {name!r}: it is a command word (reserved: "
            f"{', '.join(sorted(words))}); choose another name"
        )


@project_app.command("set", short_help="Change a project's settings and show them all.")
@handle_errors
def project_set(
    name: Annotated[str, typer.Argument(help="Project name")],
    channel: Annotated[
        str | None,
        typer.Option(help="Slack channel ID for threads and digests (C0123ABCD); 'none' unbinds"),
    ] = None,
    admins: Annotated[
        str | None, typer.Option(help="Comma-separated Slack user IDs who administer the project")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone, e.g. Europe/Berlin")] = None,
    digest_cron: Annotated[
        str | None, typer.Option(help="Digest schedule (crontab), e.g. '0 9 * * mon-fri'; 'off'")
    ] = None,
    retrain_every: Annotated[
        int | None,
        typer.Option(help=f"Retrain after this many new labels (1 to {MAX_RETRAIN_EVERY:,})"),
    ] = None,
    retrain_minutes: Annotated[
        float | None,
        typer.Option(
            help=f"... or this many minutes after the last model (over 0, at most "
            f"{MAX_RETRAIN_MINUTES:,}: a year)"
        ),
    ] = None,
    audit_share: Annotated[
        float | None,
        typer.Option(help="Share of deliveries drawn at random for honest metrics (0 to 0.5)"),
    ] = None,
    target_accuracy: Annotated[
        float | None, typer.Option(help="Accuracy the forecast aims at (over 0, at most 1)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Examples ranked per query round (1 to {MAX_BATCH_SIZE:,})")
    ] = None,
    strategy: Annotated[
        str | None, typer.Option(help=f"Query strategy: {', '.join(STRATEGIES)}")
    ] = None,
    review_share: Annotated[
        float | None,
        typer.Option(help="Share of each expert's deliveries that are mislabel reviews (0 to 1)"),
    ] = None,
    multi_label_share: Annotated[
        float | None,
        typer.Option(help="Share of examples labeled blind by several experts (0 to 1)"),
    ] = None,
    multi_label_k: Annotated[
        int | None,
        typer.Option(help=f"Experts who each label one of those examples (2 to {MAX_LABELERS})"),
    ] = None,
    multi_label_audit: Annotated[
        bool | None,
        typer.Option(
            "--multi-label-audit/--no-multi-label-audit",
            help="Have every audit example labeled by several experts too",
            show_default=False,
        ),
    ] = None,
    rare_boost: Annotated[
        bool | None,
        typer.Option(
            "--rare-boost/--no-rare-boost",
            help="Mix likely examples of rare labels into each batch",
            show_default=False,
        ),
    ] = None,
    rare_minimum: Annotated[
        int | None,
        typer.Option(
            help=f"Labels a class needs to stop counting as too rare (1 to {MAX_RARE_MINIMUM:,})"
        ),
    ] = None,
    guests: Annotated[
        str | None,
        typer.Option(
            help="allow: Slack guest accounts (single- and multi-channel guests) may use the "
            "project; deny (the default): they are refused",
            metavar="allow|deny",
        ),
    ] = None,
    reset: Annotated[
        str | None,
        typer.Option(
            help="Put these settings back to their defaults: names as this command lists them "
            "(retrain_every,timezone), or all",
            metavar="SETTING,...",
        ),
    ] = None,
) -> None:
    """Change a project's settings, then print the channel and every setting in effect.

    With no option it changes nothing: `labelbot project set NAME` shows the channel and every
    setting, defaults marked "(default)". Slack's `/label settings` changes the same settings
    (not the channel).
    """
    from engine.project_settings import check_settings, reset_keys, shown_settings

    back = reset_keys(reset) if reset is not None else []
    admin_ids = None if admins is None else [a.strip() for a in admins.split(",") if a.strip()]
    changes = check_settings(
        {
            "admins": admin_ids,
            "timezone": timezone,
            "digest_cron": digest_cron,
            "retrain_every": retrain_every,
            "retrain_minutes": retrain_minutes,
            "audit_share": audit_share,
            "target_accuracy": target_accuracy,
            "batch_size": batch_size,
            "strategy": strategy,
            "review_share": review_share,
            "multi_label_share": multi_label_share,
            "multi_label_k": multi_label_k,
            "multi_label_audit": multi_label_audit,
            "rare_boost": rare_boost,
            "rare_minimum": rare_minimum,
            "guests": guests,
        }
    )
    both = [key for key in back if key in changes]
    if both:  # which one was meant?
        raise InvalidInputError(f"{', '.join(both)}: given a value and --reset at once; choose one")
    ws = workspace()
    if channel is not None:  # "none" (or "") unbinds the project from its channel
        unbind = channel.strip().lower() in ("", "none")
        projects.set_channel(ws, project=name, channel_id=None if unbind else channel)
        _note_shared_channel(ws, name, projects.get_project(ws, name).channel_id)
    if changes:
        projects.update_settings(ws, project=name, **changes)
    if back:
        projects.reset_settings(ws, project=name, keys=back)
    for key, value in shown_settings(projects.get_project(ws, name)).items():
        out.print(f"{key} = {value}", highlight=False, markup=False)


@project_app.command("list", short_help="List projects with their models' accuracy.")
@handle_errors
def project_list() -> None:
    """List projects, each with its active model's accuracy as `labelbot status` headlines it:
    the audit estimate when there are audit labels, else the cross-validated one, marked so."""
    from engine.evaluation import explain_status

    try:
        ws = workspace()
    except MissingDatabase as exc:  # nothing to list, and nothing is created to say so
        out.print(f"no projects: {exc}", highlight=False)
        return
    found = projects.list_projects(ws)
    if not found:
        out.print(
            f"no projects yet in {ws.settings.database_shown()}: "
            "`labelbot project create NAME --labels A,B`",
            highlight=False,
        )
        return
    table = Table("project", "examples", "labeled", "model (accuracy)", "channel")
    measured = False
    for p in found:
        status = explain_status(projects.project_status(ws, p.name))
        model = status["model"]
        measured |= bool(model and model["estimate"]["headline"])
        table.add_row(
            p.name,
            f"{status['examples']:,}",
            f"{status['labeled']:,}",
            _model_cell(model),
            p.channel_id or "-",
        )
    out.print(table)
    if measured:
        out.print(
            "accuracy as `labelbot status NAME` headlines it: audit = on the audit labels "
            "(drawn at random, never trained on); CV = cross-validated on the training labels "
            "(reads low when the queue chose them)",
            highlight=False,
        )


def _model_cell(model: dict[str, Any] | None) -> str:
    """The active model and its headline accuracy, written as `status` and `models` write it
    (evaluation.accuracy_figure): "v4 audit 75.0% (n=4)", "v2 CV 0.847"."""
    from engine.evaluation import accuracy_figure

    if not model:
        return "-"
    # what the figure belongs to, as status says in its notes
    marks = (("pinned", "pinned"), ("before_taxonomy_change", BEFORE_CHANGE))
    notes = [word for key, word in marks if model.get(key)]
    said = f" ({', '.join(notes)})" if notes else ""
    head = model["estimate"]["headline"]
    if head is None:  # too few labels to tell
        return f"v{model['version']}{said}"
    if head["source"] == "audit":
        figure = accuracy_figure(head["accuracy"], source="audit", n=head["n"])
        return f"v{model['version']} audit {figure}{said}"
    return f"v{model['version']} CV {accuracy_figure(head['accuracy'], source='cv')}{said}"


@project_app.command("delete", short_help="Delete a project with all its data and files.")
@handle_errors
def project_delete(
    name: Annotated[str, typer.Argument(help="Project name")],
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Delete without asking (needed when stdin is no terminal)"),
    ] = False,
) -> None:
    """Delete a project for good: its examples, labels given, comments, flags, model versions,
    proposals, reviews and Slack bookkeeping, in one transaction; then its files in
    LABELBOT_DATA_DIR (model files, pool graph). Other projects, and the embedding cache
    (shared by text), stay as they are.

    Says first what will go. On a terminal it then asks for the project's name to confirm;
    --yes deletes without asking, and is needed when stdin is not a terminal (a script).
    Refused while another process trains the project. A click on an old Slack message of the
    project answers that its example no longer exists.
    """
    try:
        ws = workspace()
        held = projects.project_contents(ws, name)  # an unknown project: exit 3, before anything
        out.print(
            f"project {name!r} holds {counted(held.examples, 'example')}, "
            f"{counted(held.annotations, 'label')} given, {counted(held.comments, 'comment')}, "
            f"{counted(held.model_versions, 'model version')}, "
            f"{counted(held.open_proposals, 'open proposal')}: deleting it removes them all, and "
            f"its files in {ws.settings.data_dir}"
            + (f" and {ws.settings.models_dir}" if ws.settings.models_dir is not None else "")
            + "; it cannot be undone",
            highlight=False,
        )
        if not yes:
            _confirm_deletion(name)
        deleted = projects.delete_project(ws, name)
    except projects.InterruptedAfterDeleting as stop:
        interrupted(f"after deleting project {name!r}: its rows are gone for good, but its "
                     f"files may not all be: remove {stop.model_dir} and {stop.graphs} by "
                     "hand")  # fmt: skip
    except KeyboardInterrupt:
        interrupted(f"while deleting project {name!r}: it is one transaction, so nothing was "
                     "deleted")  # fmt: skip
    gone = deleted.contents
    out.print(
        f"deleted project {name!r}: {counted(gone.examples, 'example')}, "
        f"{counted(gone.annotations, 'label')}, {counted(gone.model_versions, 'model version')}",
        highlight=False,
    )
    for path in deleted.files:
        out.print(f"removed {path}", highlight=False)
    if deleted.elsewhere:  # a `db copy`'s runs name the first database's files: theirs
        err.print(
            f"note: left {counted(len(deleted.elsewhere), 'model file')} outside "
            "LABELBOT_DATA_DIR and LABELBOT_MODELS_DIR, which another database (a `labelbot db "
            f"copy`) may still name: {'; '.join(map(str, deleted.elsewhere))}; remove "
            f"{'it' if len(deleted.elsewhere) == 1 else 'them'} by hand if none does",
            highlight=False,
        )
    if deleted.kept:  # the rows are gone: what is left on disk is said, and is an error
        err.print(
            f"error: could not remove {counted(len(deleted.kept), 'file')}: "
            f"{'; '.join(deleted.kept)}; remove them by hand",
            highlight=False,
        )
        raise typer.Exit(1)


def _confirm_deletion(name: str) -> None:
    """Ask for the project's name on a terminal; anything else deletes nothing (exit 1). Without
    a terminal to ask on, refuse (exit 2): --yes says it."""
    if not sys.stdin.isatty():
        err.print(
            f"error: not deleted: stdin is not a terminal to confirm on; pass --yes to delete "
            f"{name!r}",
            highlight=False,
        )
        raise typer.Exit(2)
    answer = ask(f"type the project's name ({name}) to delete it:")
    if answer != name:
        said = "no answer" if not answer else f"{answer!r} is not {name!r}"
        err.print(f"not deleted: {said}", highlight=False)
        raise typer.Exit(1)


@labels_app.command("list", short_help="List the labels and how many have each.")
@handle_errors
def labels_list(name: Annotated[str, typer.Argument(help="Project name")]) -> None:
    """List a project's labels: how many examples have each (labeled), whether it is active or
    retired, and its description."""
    status = projects.project_status(workspace(), name)
    table = Table(Column("label", overflow="fold"), "labeled", "active", "description")
    for lb in status["labels"]:
        table.add_row(
            lb["name"], f"{lb['count']:,}", "yes" if lb["active"] else "retired", lb["description"]
        )
    out.print(table)


@labels_app.command("add", short_help="Add labels to a project's taxonomy.")
@handle_errors
def labels_add(
    name: Annotated[str, typer.Argument(help="Project name")],
    labels: Annotated[
        list[str],
        typer.Argument(metavar="LABEL...", help="New label names (or one comma-separated list)"),
    ],
    reason: Annotated[str, typer.Option(help="Why: kept in `labels history`")] = "",
    actor: Annotated[
        str | None, typer.Option(help="Who makes the change (default: your login name)")
    ] = None,
    description: Annotated[
        list[str] | None,
        typer.Option(
            "--description",
            metavar="TEXT",
            help="Guidelines for a new label, shown to labelers (repeat once per label, in order). "
            "The queue also finds a new label's first examples by its name and guidelines.",
        ),
    ] = None,
) -> None:
    """Add labels to a project's taxonomy (recorded in `labels history`).

    Names are split on commas, as everywhere else: `labels add NAME A B` and `labels add NAME
    A,B` both add A and B (so a label name never holds a comma); an empty name between commas
    (`A,,B`) is refused.

    The queue is re-scored at once: once a project has labeled examples, the unlabeled examples
    nearest each new label's name (and guidelines) are asked first, until experts have given it
    examples.
    """
    from bot.cli.taxonomy import default_actor, refresh_queue
    from engine import taxonomy
    from engine.taxonomy import label_names

    labels = label_names(*labels) if any(given.strip() for given in labels) else []
    if not labels:
        raise InvalidInputError("no label names given: `labelbot labels add NAME A B`")
    if description and len(description) != len(labels):
        err.print(
            f"error: {len(description)} --description for {counted(len(labels), 'label')}: give "
            "one per label, in order"
        )
        raise typer.Exit(2)
    ws = workspace()
    change = taxonomy.add_labels(
        ws, project=name, names=labels, actor=actor or default_actor(), reason=reason,
        descriptions=description or None, rescore=False,
    )  # fmt: skip
    added = [ref["name"] for ref in change.details["labels"]]
    out.print(f"added {counted(len(added), 'label')}: {', '.join(added)}")
    if refresh_queue(ws, name):
        out.print(f"queue re-scored for the new {'label' if len(added) == 1 else 'labels'}")


@app.command("import", short_help="Import examples, and any labels, from a file.")
@handle_errors
def import_(
    name: Annotated[str, typer.Argument(help="Project name")],
    file: Annotated[
        Path, typer.Argument(help="CSV (.csv, .tsv, .txt) or JSONL (.jsonl, .ndjson) file")
    ],
    text_column: Annotated[str, typer.Option(help="Column holding the text")] = "text",
    label_column: Annotated[
        str | None,
        typer.Option(
            help="Column of known labels, stored as annotations (default: a column named "
            "'label', when the file has one)"
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="Column of your own ids (default: a column named 'id', if any)"),
    ] = None,
) -> None:
    """Import examples (and optionally their labels) in one transaction.

    Duplicates (same text) are skipped and counted; a repeated text keeps its first label. A
    malformed file, an unknown label, or one text given two different labels fails with the
    line number and imports nothing. A label for a text already stored is added as a new vote
    (the latest vote wins a tie), unless it is the agreed label already, an import gave it, the
    experts disagree there or an adjudication decides it: the report says how many were left
    out, and how many texts moved to another label.
    A label since merged is kept and counts as the label it was merged into. New texts are
    embedded once and cached.

    A `labelbot export` file imports as such: its id, text and metadata ("meta") are kept and
    its label becomes one vote where it adds one; who gave which vote, comments, the model's
    prediction and the other derived fields are left out.

    Column names are matched exactly: when the file has no 'label' column but has one in
    another case ('Label'), the summary says so and names the --label-column to give. Ids need
    not be unique: when a new example's id is another example's too, the summary warns.
    """
    try:
        from engine import training  # torch and scikit-learn load only when needed
    except KeyboardInterrupt:  # a second or two: Ctrl-C then ended it with nothing said
        interrupted("while starting; nothing was done")
    ws = workspace()
    try:
        report = projects.import_file(
            ws,
            project=name,
            path=file,
            text_column=text_column,
            label_column=label_column or "label",
            id_column=id_column or "id",
            require_label_column=label_column is not None,
            require_id_column=id_column is not None,
            embed=False,  # below, where an interruption can say what is left to do
        )
    except InterruptedAfterStoring as stop:  # committed: the rows stand
        left = projects.texts_to_embed(ws, name)
        stored = _stored(stop.inserted, stop.annotations, "its", left=left)
        interrupted(f"after storing the file: {stored}")
    except KeyboardInterrupt:
        interrupted("while reading and storing the file: the import is one transaction, so "
                     "nothing was stored; run it again")  # fmt: skip
    try:
        # every example of the project not embedded yet: this file's new texts, and any an
        # import interrupted earlier left (a re-run finishes its embedding here)
        training.load_pool(ws, name, progress=sys.stderr.isatty())
    except KeyboardInterrupt:
        left = projects.texts_to_embed(ws, name)
        interrupted(f"while embedding: {_stored(report.inserted, report.annotations, left=left)}")
    except LabelbotError as exc:  # the encoder cannot be loaded, say: the stored rows stand
        raise _stored_before(exc, report, left=projects.texts_to_embed(ws, name)) from exc
    out.print(import_summary(report), highlight=False)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False, markup=False)
    if report.shared_ids:
        err.print(shared_ids_note(report.shared_ids), highlight=False, markup=False)
    if report.relabeled:
        texts = (
            "text labeled before now counts"
            if report.relabeled == 1
            else "texts labeled before now count"
        )
        out.print(
            f"note: {report.relabeled:,} {texts} as another label "
            "(the file's label is a new vote; see `labelbot export` for every vote)"
        )
    try:
        training.rescore_project(ws, name)
    except KeyboardInterrupt:
        interrupted("while ordering the queue: the import is complete; the queue is ordered "
                     "again when the project next trains")  # fmt: skip
    except LabelbotError as exc:  # the queue order is a convenience; the import itself stands
        err.print(f"note: queue not re-scored: {exc}")


def _stored(
    inserted: int, annotations: int, whose: str = "the file's", *, left: int | None = None
) -> str:
    """What an import interrupted after its commit stored, and what is left to do: ``left``
    texts of the project to embed (None when that could not be counted). A re-run of an import
    stopped while embedding stores nothing new and embeds what the first left: stopped again,
    it said "the file's 0 new examples and 0 labels are stored"."""
    if left == 0:
        done = "every text of the project is embedded, so nothing is left to do"
        if not inserted and not annotations:
            return (
                f"nothing new was stored (the file's texts are all in the project already); {done}"
            )
        stored = f"{whose} {counted(inserted, 'new example')} and {counted(annotations, 'label')}"
        return f"{stored} are stored and {done}"
    if not inserted and not annotations:
        still = "" if left is None else f" and {_of_the_texts(left)} still to be embedded"
        return (
            f"nothing new was stored (the file's texts are all in the project already){still}; "
            "run the same import again to finish embedding (those embedded so far are kept)"
        )
    still = (
        "not every text is embedded yet"
        if left is None
        else f"{_of_the_texts(left)} not embedded yet"
    )
    return (
        f"{whose} {counted(inserted, 'new example')} and {counted(annotations, 'label')} are "
        f"stored, but {still}; run the same import again to finish embedding (what is stored "
        "is skipped as already in the project)"
    )


def _of_the_texts(n: int) -> str:
    return f"{n:,} of the project's texts {'is' if n == 1 else 'are'}"


def _stored_before(
    exc: LabelbotError, report: ImportReport, *, left: int | None = None
) -> LabelbotError:
    """``exc``, of the same kind (its exit code), saying that the import's rows are stored: an
    error while embedding (an encoder that cannot be loaded) comes after the commit, and said
    alone it read as if nothing had been imported."""
    said = f"{exc}; {_stored(report.inserted, report.annotations, left=left)}"
    try:
        return type(exc)(said)
    except TypeError:  # a kind made otherwise: said as it is
        return exc


def import_summary(report: ImportReport) -> str:
    """What an import did, in one line: "imported 0 new examples; 15 already in the project
    (their labels added as votes)". Its duplicates are either texts the project had or rows
    whose text an earlier row of the same file has (``report.repeated``: stored once, with the
    first labeled row's label)."""
    repeats = report.repeated
    known = max(report.duplicates - repeats, 0)
    labels = report.annotations
    parts = [f"imported {counted(report.inserted, 'new example')}"]
    if known:
        already = f"{known:,} already in the project"
        if labels and not report.inserted:  # every label went to a text stored before
            if labels == known:
                already += " (its label added as a vote)" if known == 1 else (
                    " (their labels added as votes)")  # fmt: skip
            else:
                already += f" ({counted(labels, 'label')} added to them as votes)"
        parts.append(already)
    if repeats:
        rows = "row repeats" if repeats == 1 else "rows repeat"
        parts.append(f"{repeats:,} {rows} an earlier row's text (stored once)")
    if report.inserted or not known:
        given = counted(labels, "label")
        if labels and known:
            given += " (added as votes where the text was already in the project)"
        return "; ".join(parts) + ("; " if len(parts) > 1 else ", ") + given
    return "; ".join(parts)


def shared_ids_note(ids: tuple[str, ...], shown: int = 5) -> str:
    """One line on ids the import gave to more than one example: "warning: 2 ids now name more
    than one example each ('x1', 's1'): ...". Ids need not be unique, so the import stands; a
    command given such an id asks which example, by the #number it lists."""
    named = ", ".join(repr(i) for i in ids[:shown]) + (", ..." if len(ids) > shown else "")
    which = "id now names" if len(ids) == 1 else "ids now name"
    return (
        f"warning: {len(ids):,} {which} more than one example each ({named}): commands that take "
        "an example id (adjudicate, flags resolve) will ask for the #number of the one meant"
    )


@app.command(short_help="Train a model now and re-score the queue.")
@handle_errors
def train(
    name: Annotated[str, typer.Argument(help="Project name")],
    classifier: Annotated[
        str | None, typer.Option(help="linear, blend, or auto (chosen by cross-validation)")
    ] = None,
) -> None:
    """Train a model on the labels so far, evaluate it and re-score the queue.

    Refused while the scheduler or another command is training the project. On a terminal, a
    progress bar shows the embedding of new texts, then a spinner the training itself.
    """
    from engine.classifier import KINDS

    # before the lease and the model run are recorded: a typo must not leave a failed version
    if classifier is not None and classifier not in KINDS:
        raise InvalidInputError(
            f"unknown classifier kind {classifier!r}; valid: {', '.join(KINDS)}"
        )
    ws = workspace()
    try:
        run = train_shown(ws, name, kind=classifier)  # a progress bar and spinner on a terminal
    except KeyboardInterrupt:
        interrupted(f"while training: a run stopped part-way is not made active; `labelbot "
                     f"models {name}` shows the model that answers")  # fmt: skip
    out.print(trained_line(ws, name, run), highlight=False, markup=False)


@app.command(short_help="Counts, per-label F1 and the model's accuracy.")
@handle_errors
def status(
    name: Annotated[str, typer.Argument(help="Project name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False,
) -> None:
    """Counts, labels per class and the active model's accuracy: the audit estimate with its
    90% interval when there is one, the cross-validated one marked as such (it reads low: the
    queue chose those labels); then the classes still too rare to learn, the experts' agreement
    and open mislabel reviews, when there are any."""
    ws = workspace()
    # the REST API's status too (one function): per-class F1 under today's names, the
    # cross-validation caveat only when the queue chose the training labels, runs still marked
    # training (a killed one reads "stopped"), and whether the active model's file is usable
    info = projects.status_report(ws, name)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    out.print(styled(
        f"[bold]{escape(name)}[/]: {counted(info['examples'], 'example')}, {info['labeled']:,} "
        f"labeled, {info['queue']:,} waiting, {info['flagged_examples']:,} flagged, "
        f"{counted(info['comments'], 'comment')}"
    ))  # fmt: skip
    model = info["model"]
    scores = (model or {}).get("per_class_f1") or {}
    kind = {"audit": "F1 (audit)", "cv": "F1 (cross-validated)"}.get(str(scores.get("source")))
    # "labeled": the examples with each label (the headline's examples are all of them); a
    # long name folds rather than ending in "…", so it can be copied into `labels rename`
    table = Table(Column("label", overflow="fold"), "labeled", kind or "F1")
    for lb in info["labels"]:
        f1 = (scores.get("scores") or {}).get(lb["name"], {}).get("f1")
        table.add_row(
            lb["name"] + ("" if lb["active"] else " (retired)"),
            f"{lb['count']:,}",
            "-" if f1 is None else f"{f1:.2f}",
        )
    out.print(table)
    for line in _model_lines(
        model, failed=info["last_failure"] is not None, empty=not info["examples"], name=name
    ):
        out.print(line, highlight=False, markup=False)
    for line in _status_notes(name, info):
        out.print(line, highlight=False, markup=False)


def _model_lines(
    model: dict[str, Any] | None, *, failed: bool = False, empty: bool = False, name: str = "NAME"
) -> list[str]:
    """Which estimate is which: the headline (audit, with its interval, when measured), the
    cross-validated figure marked as such, why "labeled" is more than the model trained on,
    and what the table's F1 column is. ``failed``: the last training failed (the notes say
    why), so no model is not for want of labels; ``empty``: no examples were imported yet,
    the first step."""
    if not model:
        if failed:
            return ["no model yet"]
        if empty:
            return [
                f"no model yet, and no examples: import them first (`labelbot import {name} "
                "FILE`), then label a few per class (`labelbot label`, or /label in Slack)"
            ]
        return ["no model yet: label a few examples per class, then `labelbot train`"]
    estimate = model["estimate"]
    head, cv = estimate["headline"], estimate["cross_validated"]
    said = head["description"] if head else "accuracy not measurable yet (too few labels)"
    lines = [f"model v{model['version']} ({model['kind']}): {said}"]
    if head and head["source"] == "audit" and cv:
        lines.append(f"  also {cv['description']}")
    lines.append(estimate["labels"]["description"])
    scores = model.get("per_class_f1") or {}
    if scores.get("description"):
        lines.append(f"F1 column: {scores['description']}")
    return lines


def _status_notes(name: str, info: dict[str, Any]) -> list[str]:
    """What status adds after the table, when there is something to say: the classes still too
    rare to learn, the experts' agreement and the open mislabel reviews; first, whether the
    active model's file is unusable and a run's training process ended without finishing."""
    notes = []
    model = info["model"] or {}
    if model.get("pinned"):  # the figures above are a person's choice, maybe not the newest
        notes.append(
            f"v{model['version']} is pinned: retrains are kept, not promoted "
            f"(`labelbot models {name}`)"
        )
    if model.get("before_taxonomy_change"):  # as the digest says it, beside its figures
        notes.append(
            f"model v{model['version']} was trained before the latest taxonomy change: its "
            "accuracy and F1 measured the labels as they were then (the next training measures "
            "today's)"
        )
    problem = model.get("file_problem")
    if problem:
        notes.append(problem)
    failure = info.get("last_failure")
    if failure:
        notes.append(failure_line(failure))
    for run in info.get("training", []):
        notes.append(f"v{run['version']} {run['description']}")
    rare = info["rare"]
    if rare["too_rare"] and info["labeled"]:  # before any label, every class is "too rare"
        notes.append(
            f"too rare to learn (under {rare['minimum']} labels): {', '.join(rare['too_rare'])}"
        )
    agreement = info["agreement"]
    # as the digest: once second opinions exist, or labels disagree (an import against an expert)
    if agreement["examples"] or agreement["waiting"] or agreement["disagreements"]:
        notes.append(agreement["summary"])
    open_reviews = info["reviews"].get("open", 0)
    if open_reviews:
        notes.append(f"{counted(open_reviews, 'mislabel review')} open: `labelbot review {name}`")
    return notes


def failure_line(failure: dict[str, Any]) -> str:
    """A failed training as `status` and `models` say it (from training.run_failure)."""
    return f"training v{failure['version']} failed at {failure['at']} ({failure['error']})"


def _spoken(starts: tuple[str, ...]) -> str:
    """The characters a spreadsheet takes a formula to start with, as words: "=, +, -, @, a tab
    or a carriage return" (from exporting.FORMULA_STARTS, so the help lists what is guarded)."""
    names = {"\t": "a tab", "\r": "a carriage return"}
    said = [names.get(c, c) for c in starts]
    return ", ".join(said[:-1]) + " or " + said[-1] if len(said) > 1 else "".join(said)


_FORMULA_STARTS = _spoken(exporting.FORMULA_STARTS)
# export's and predict's --spreadsheet-safe (CSV only: asked of JSON Lines, it is refused)
SpreadsheetSafeOption = Annotated[
    bool,
    typer.Option(
        "--spreadsheet-safe",
        help=f"CSV for opening in Excel or Sheets: a cell that starts with {_FORMULA_STARTS} "
        "gets a ' in front, so it shows as text instead of running as a formula, and the file "
        "starts with a UTF-8 byte order mark; an export's CSV ends with a spreadsheet_safe "
        "column, by which labelbot import knows to take those ' off again",
    ),
]


def _export_format(fmt: str | None, out_file: Path | None) -> str:
    """The format to export in: --format as given, else what the --out file's name says
    (out.csv: csv), else jsonl. InvalidInputError when --format and that name disagree, so a
    file named .csv never holds JSON Lines (the importer would read it as CSV), and for a
    spreadsheet's name (x.xlsx), which no format written fits: a CSV written with
    --spreadsheet-safe (export and predict both have it) is suggested instead."""
    named = None if out_file is None else exporting.suffix_format(out_file)
    if out_file is not None and out_file.suffix.lower() in SPREADSHEET_SUFFIXES:
        # it was written as JSON Lines, which a spreadsheet cannot open under that name
        csv_name = out_file.with_suffix(".csv").name
        raise InvalidInputError(
            f"{out_file}: labelbot writes CSV or JSON Lines, not a spreadsheet's own format "
            f"({out_file.suffix}): write --out {csv_name} --spreadsheet-safe and open that in "
            "Excel, LibreOffice or Google Sheets"
        )
    if out_file is not None and out_file.suffix.lower() == ".tsv":  # `import` reads it as tabs
        raise InvalidInputError(
            f"{out_file}: labelbot writes comma-separated CSV or JSON Lines, not tab-separated: "
            f"name it {out_file.with_suffix('.csv').name} or {out_file.with_suffix('.jsonl').name}"
        )
    if fmt is None:
        return named or "jsonl"
    given = fmt.lower()
    if out_file is not None and named and given in exporting.EXPORT_FORMATS and given != named:
        raise InvalidInputError(
            f"--format {fmt} does not match {out_file}, named as {named}: leave out --format "
            f"to write {named}, or name the file {out_file.with_suffix('.' + given).name}"
        )
    return fmt


@app.command(short_help="Export every example with its labels.")
@handle_errors
def export(
    name: Annotated[str, typer.Argument(help="Project name")],
    fmt: FormatOption = None,
    out_file: OutOption = None,
    spreadsheet_safe: SpreadsheetSafeOption = False,
) -> None:
    """Export every example with its annotations, comments, the model's prediction and the
    metadata it was imported with ("meta"); "disputed" marks a label its experts' latest votes
    disagree on, unsettled ("label" is then the majority's or the latest vote's).

    With --out, an existing file is replaced only once the export is complete. Without
    --format, a --out file named .csv is written as CSV and one named .jsonl (or .ndjson) as
    JSONL; any other name, and stdout, get JSONL, but a spreadsheet's (.xlsx, .xls, .ods) is
    refused: write .csv with --spreadsheet-safe to open in Excel. A --format that the --out
    name contradicts (--format jsonl --out x.csv) is refused, and the file left as it was.
    """
    out_file = _out_path(out_file)
    if out_file is None:
        _stdout()  # there is one, before anything is read
    fmt = _export_format(fmt, out_file)
    fmt = exporting.check_format(fmt, spreadsheet_safe=spreadsheet_safe)  # before reading
    safe = {"spreadsheet_safe": spreadsheet_safe}
    try:
        if out_file is None:
            records = exporting.iter_export_records(workspace(), name)  # written as read
            count = exporting.write_export(records, _stdout(), fmt, **safe)
            if not count:  # on stderr: stdout stays the (empty) export a pipe expects
                err.print(f"{name} has no examples yet: nothing exported", highlight=False)
            _predictions_note(name, count)
            return
        with exporting.replacing(out_file) as handle:
            records = exporting.iter_export_records(workspace(), name)
            count = exporting.write_export(records, handle, fmt, **safe)
    except KeyboardInterrupt:
        interrupted(f"while exporting: {_unfinished(out_file)}")
    if not count:  # as without --out (it said "wrote 0 examples"); the file is written all the same
        held = "the header row only" if fmt == "csv" else "empty"
        err.print(
            f"{name} has no examples yet: nothing exported ({out_file}: {held})", highlight=False
        )
        return
    err.print(f"wrote {counted(count, 'example')} to {out_file}", highlight=False)
    _predictions_note(name, count)


def _predictions_note(name: str, count: int) -> None:
    """On stderr, after an export: why its predictions are empty, when a change emptied them."""
    note = exporting.predictions_note(workspace(), name) if count else None
    if note is not None:
        err.print(f"note: {note}", highlight=False)


def _out_path(out_file: Path | None) -> Path | None:
    """--out as given; None (stdout) for "-". The SQLite database itself is refused, and its
    side files (:func:`refuse_database`)."""
    if out_file is None or str(out_file) == "-":
        return None
    refuse_database(out_file)
    return out_file


def _stdout() -> TextIO:
    """Where output without --out goes; refused when there is none: a closed stdout (`>&-`,
    a service started without one), which Python leaves as None, was a traceback."""
    if sys.stdout is None:
        raise ConfigurationError(
            "could not write: stdout is closed (nothing to write to); give --out FILE"
        )
    return sys.stdout


def _same_file(out_file: Path, read: Path) -> bool:
    """Whether writing ``out_file`` writes over ``read``: the same path, or another name of the
    same file (a symbolic or a hard link)."""
    if os.path.realpath(out_file) == os.path.realpath(read):
        return True
    try:
        return out_file.exists() and read.exists() and os.path.samefile(out_file, read)
    except OSError:
        return False


def _unfinished(out_file: Path | None) -> str:
    """What an interrupted export or predict left: an --out file is replaced only once complete."""
    if out_file is None:
        return "the output on stdout is incomplete"
    return f"nothing was written to {out_file} (a file there is left as it was)"


@app.command(short_help="Classify a file's texts with the active model.")
@handle_errors
def predict(
    name: Annotated[str, typer.Argument(help="Project name")],
    file: Annotated[Path, typer.Argument(help="CSV or JSONL file with a text column")],
    text_column: Annotated[str, typer.Option(help="Column holding the text")] = "text",
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Column of your own ids, copied to each output line (default: a column "
            "named 'id', if any)"
        ),
    ] = None,
    fmt: FormatOption = None,
    out_file: OutOption = None,
    spreadsheet_safe: SpreadsheetSafeOption = False,
) -> None:
    """Classify the texts of a file with the project's active model: one line per row,
    {"id", "text", "label", "confidence", "top"}; "id" is null for a row without one.

    JSONL, or CSV with those columns ("top" as JSON, a missing id an empty cell). As for
    export: without --format, a --out file named .csv gets CSV and one named .jsonl (or
    .ndjson) JSONL; any other name, and stdout, get JSONL, but a spreadsheet's (.xlsx, .xls,
    .ods) is refused: write .csv with --spreadsheet-safe to open in Excel (the texts are often
    outsiders', and "=..." would run as a formula). A --format that the --out name
    contradicts (--format jsonl --out x.csv) is refused, and the file left as it was; so is
    --spreadsheet-safe for JSONL, and an --out naming the file predict reads.

    The whole file is checked first (a malformed row writes nothing), then predicted and written
    a chunk at a time, every row by the model active when predict began; on a terminal, a
    progress bar shows a big file's progress.
    """
    try:
        from engine import predicting  # torch and scikit-learn load only when needed
    except KeyboardInterrupt:  # a second or two: Ctrl-C then ended it with nothing said
        interrupted("while starting; nothing was done")

    out_file = _out_path(out_file)
    if out_file is not None and _same_file(out_file, file):
        raise InvalidInputError(
            f"{out_file}: is the file predict reads ({file}); writing there would replace it, "
            "its other columns too, with the predictions: name another file"
        )
    if out_file is None:
        _stdout()  # there is one, before anything is read
    fmt = _export_format(fmt, out_file)  # before reading anything, in export's words
    if fmt.lower() not in exporting.EXPORT_FORMATS:
        raise InvalidInputError(
            f"unknown format {fmt!r}: use {' or '.join(exporting.EXPORT_FORMATS)}"
        )
    fmt = exporting.check_format(fmt, spreadsheet_safe=spreadsheet_safe)  # CSV only
    rows = FileRows(
        file,
        text_column=text_column,
        label_column=None,
        id_column=id_column or "id",
        require_id_column=id_column is not None,
    )
    # The file is read twice, a row at a time, as an import reads it: once to check every row,
    # so a malformed one fails (with its line) before anything is predicted or written, to
    # stdout as to --out; then to predict it a chunk at a time, each chunk written as answered.
    try:
        total = sum(1 for _ in rows)
    except KeyboardInterrupt:
        interrupted("while checking the file: nothing was predicted or written")
    ws = workspace()
    # The output file is opened before the (slow) embedding, so a path that cannot be written
    # fails at once; it replaces an existing file only once every prediction is written.
    try:
        with ExitStack() as stack:
            handle = (
                _stdout()
                if out_file is None
                else stack.enter_context(exporting.replacing(out_file))
            )
            # no model yet: a conflict (exit 4, as the REST API's 409); no such project: exit 3.
            # Read once: every chunk of the file is answered by this model, whatever is
            # promoted meanwhile.
            answering = predicting.Answering(ws, name)
            shown = sys.stderr.isatty() and total > predicting.CHUNK
            # a bar on a terminal that stdout is printing predictions to would garble both
            shown = shown and (out_file is not None or not sys.stdout.isatty())
            advance = stack.enter_context(_predict_progress(total, enabled=shown))
            predicted = _predicted(answering, rows, advance)
            count = exporting.write_predictions(
                predicted, handle, fmt, spreadsheet_safe=spreadsheet_safe
            )
    except KeyboardInterrupt:
        interrupted(f"while predicting: {_unfinished(out_file)}")
    if out_file is not None:
        err.print(f"wrote {counted(count, 'prediction')} to {out_file}", highlight=False)
    for note in answering.notes():  # after a taxonomy change, until the retrain
        # a label the model had no example of needs labels before a retrain can answer it
        needs = (
            "label some (`labelbot label {0}`), then "
            if " had no labeled examples " in note
            else ""
        )
        err.print(f"note: {note} ({needs.format(name)}`labelbot train {name}`)",
                  highlight=False, markup=False)  # fmt: skip


def _predicted(
    answering: Answering, rows: FileRows, advance: Callable[[int], None] | None
) -> Iterator[dict[str, Any]]:
    """predict's output rows, the file's rows answered a chunk at a time as they are read."""
    for chunk in answering.in_chunks(rows, text=lambda r: r.text):
        for rec, res in chunk:
            yield {"id": rec.external_id, **res.to_dict()}
        if advance is not None:
            advance(len(chunk))


@contextmanager
def _predict_progress(total: int, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """One bar over the file's rows on stderr (a terminal only), gone when predict ends, as the
    import's embedding bar and the database copy's."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    # stdout is not redirected through the bar: it carries the predictions when there is no --out
    with Progress(console=Console(stderr=True), transient=True, redirect_stdout=False) as bar:
        task = bar.add_task("Predicting", total=total)
        yield lambda k: bar.advance(task, k)
