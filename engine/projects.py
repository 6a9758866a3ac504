"""Project services: create and delete projects, edit the taxonomy, import data, report status."""

from __future__ import annotations

import itertools
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.config import DEFAULT_ENCODER
from engine.evaluation import IMPORTED, explain_status
from engine.importing import (
    FileRows,
    InterruptedAfterStoring,
    Record,
    ScriptCount,
    column_notes,
    script_note,
)
from engine.rare import MIN_EXAMPLES, rare_labels
from engine.taxonomy import changed_at, new_label_name, stale_label_note, trained_before
from engine.workspace import Workspace
from storage.db import refresh_statistics, session_scope
from storage.errors import ConflictError, InvalidInputError, StaleActionError
from storage.models import Label, Project, utcnow
from storage.repositories import (
    assignments,
    examples,
    feedback,
    flags,
    leases,
    models,
    project_deletion,
    projects,
)
from storage.repositories import taxonomy as taxonomy_repo
from storage.repositories.examples import NewExample
from storage.repositories.project_deletion import Contents

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any


# Slack ids as stored: a channel's (C…; G… an old private channel; D… a direct message) and a
# user's (U…; W… on Enterprise Grid), also taken as Slack writes a mention of one in a command's
# text (<#C0123|name>, <@U0123|name>). A name ("#general", "@walter") is not an id: stored, it
# would fail later (a digest to a channel Slack cannot find; an admin who never matches).
_CHANNEL_ID = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|[^<>]*)?>|([CGD][A-Z0-9]+)")
_USER_ID = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>|([UW][A-Z0-9]+)")


def as_channel_id(text: str) -> str:
    """The Slack channel id ``text`` is or mentions; InvalidInputError for anything else."""
    return _slack_id(text, _CHANNEL_ID, "channel id", "C0123ABCD (in Slack, the channel's "
                     "name, then About: Channel ID at the bottom)")  # fmt: skip


def as_user_id(text: str) -> str:
    """The Slack user id ``text`` is or mentions; InvalidInputError for anything else."""
    return _slack_id(text, _USER_ID, "user id", "U0123ABCD (in Slack, their profile, then ⋮: "
                     "Copy member ID), or @-mention them in /label settings")  # fmt: skip


def _slack_id(text: str, pattern: re.Pattern[str], what: str, example: str) -> str:
    found = pattern.fullmatch(text.strip())
    if found is None:
        raise InvalidInputError(f"{text!r} is not a Slack {what}: use the id, e.g. {example}")
    return found.group(1) or found.group(2)


def create_project(
    ws: Workspace, *, name: str, labels: list[str], channel_id: str | None = None
) -> Project:
    if not labels:
        raise InvalidInputError("a project needs at least one label (--labels 'A,B,C')")
    with session_scope(ws.db) as session:
        return projects.create_project(
            session=session,
            name=name,
            labels=[new_label_name(n) for n in labels],
            channel_id=None if channel_id is None else as_channel_id(channel_id),
        )


def update_settings(ws: Workspace, *, project: str, **changes: Any) -> dict[str, Any]:
    """Change per-project knobs (batch_size, strategy, classifier, ...); returns all of them."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.update_project_settings(
            session=session, project_id=found.id, **changes
        ).settings


def reset_settings(ws: Workspace, *, project: str, keys: list[str]) -> dict[str, Any]:
    """Put settings ``keys`` (:func:`engine.project_settings.reset_keys`) back to their
    defaults; returns all of the project's settings."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.reset_project_settings(
            session=session, project_id=found.id, keys=keys
        ).settings


def set_channel(ws: Workspace, *, project: str, channel_id: str | None) -> None:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        checked = None if channel_id is None else as_channel_id(channel_id)
        projects.set_project_channel(session=session, project_id=found.id, channel_id=checked)


def list_projects(ws: Workspace) -> list[Project]:
    with session_scope(ws.db, read_only=True) as session:
        return projects.list_projects(session=session)


def get_project(ws: Workspace, name: str) -> Project:
    with session_scope(ws.db, read_only=True) as session:
        return projects.get_project(session=session, name=name)


def project_contents(ws: Workspace, name: str) -> Contents:
    """What project ``name`` holds: what :func:`delete_project` would remove."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        return project_deletion.project_contents(session=session, project_id=found.id)


@dataclass(frozen=True)
class DeletedProject:
    """What :func:`delete_project` removed: the project's contents, the rows deleted per table,
    the files removed, those that could not be ("PATH (why)"), and its model runs' files left
    because they lie outside the data and models directories (``elsewhere``)."""

    name: str
    project_id: int
    contents: Contents
    tables: tuple[tuple[str, int], ...]
    files: tuple[Path, ...]
    kept: tuple[str, ...] = ()
    elsewhere: tuple[Path, ...] = ()


class InterruptedAfterDeleting(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) once a project deletion has committed, while its files were being
    removed: the rows are gone, and the files not yet removed (``model_dir`` and its pool
    graphs, ``graphs``) have no project left to delete them with."""

    def __init__(self, *, model_dir: Path, graphs: str) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.graphs = graphs


def delete_project(ws: Workspace, name: str) -> DeletedProject:
    """Delete project ``name`` and every row that belongs to it, in one transaction
    (storage.repositories.project_deletion); once that is committed, its files: its model
    files (``models/NAME/`` in the models root, and its runs' files anywhere in the data or
    models directory) and its pool graphs (``graphs/<encoder>/project-<id>.npz``, every
    encoder's). A run's file outside both is left and reported (``elsewhere``): a database
    made with `db copy` names the first one's files by their absolute path, and a backup given
    a data directory of its own removed the live database's models. The embedding cache is
    shared by text, not kept per project: it stays. A file already gone is no error.

    ConflictError, nothing deleted, while another process trains the project: its model file
    would be written after the removal."""
    from engine.jobs import TRAIN_FAILED, owner_ended  # the scheduler's module, when needed

    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        project_id = found.id
        lease = leases.held(session=session, name=f"train:{name}")  # engine.jobs' lease name
        if lease is not None and not owner_ended(lease.owner):
            raise ConflictError(
                f"project {name!r} is being trained by another process ({lease.owner}); "
                "nothing was deleted: try again when the training is done"
            )
        deleted = project_deletion.delete_project(session=session, project_id=project_id)

    def gone(key: Any) -> bool:  # this process's memo of it: pool graphs, models, merges
        if not isinstance(key, tuple) or len(key) < 2:
            return False
        kind, of = key[:2]
        return (kind == "graph" and of == project_id) or (
            kind in ("model", "merges") and of in deleted.model_runs
        )

    try:  # committed: an interruption from here on leaves the rows deleted, and says so
        ws.memo = {k: v for k, v in ws.memo.items() if not gone(k)}
        ws.notes.pop((TRAIN_FAILED, name), None)
        ws.notes.pop(("home_summary", name), None)  # App Home's kept figures (engine.progress)
        stored = [ws.settings.artifact_file(path) for path in deleted.artifacts]
        elsewhere = [p for p in stored if not ws.settings.owns_file(p)]
        owned = [p for p in stored if p not in elsewhere]
        files, kept = _remove_files(ws, name, project_id, owned)
    except KeyboardInterrupt as exc:
        raise InterruptedAfterDeleting(
            model_dir=ws.settings.models_root / name,
            graphs=f"{ws.settings.graphs_root}/*/project-{project_id}.npz",
        ) from exc
    return DeletedProject(
        name=name,
        project_id=project_id,
        contents=deleted.contents,
        tables=deleted.tables,
        files=tuple(files),
        kept=tuple(kept),
        elsewhere=tuple(p for p in dict.fromkeys(elsewhere) if p.is_file()),
    )


def _remove_files(
    ws: Workspace, name: str, project_id: int, doomed: list[Path]
) -> tuple[list[Path], list[str]]:
    """Remove a deleted project's files, its runs' ``doomed``, the model files and temporary
    files of its folder and its pool graphs: (those removed, those that could not be, with why).

    Only files named as training names them are taken from the project's folder, and the folder
    goes only once empty: LABELBOT_MODELS_DIR may be the data directory, where the folder of a
    project called `embeddings` or `graphs` is every project's embedding cache or pool graphs."""
    model_dir = ws.settings.models_root / name
    own_dir = name not in ("", ".", "..") and "/" not in name and "\\" not in name
    if own_dir and model_dir.is_dir():  # pruned runs' leftovers, temporary files
        doomed += sorted(
            p for p in model_dir.iterdir() if _MODEL_FILE.fullmatch(p.name) and not p.is_dir()
        )
    graphs = ws.settings.graphs_root  # data_dir/graphs, or a demo's own folder
    if graphs.is_dir():  # engine.pool_graph: one per encoder, and a save's temporary file
        for pattern in (f"project-{project_id}.npz", f".project-{project_id}.npz.*.tmp"):
            doomed += sorted(graphs.rglob(pattern))
    removed: list[Path] = []
    kept: list[str] = []
    for path in dict.fromkeys(doomed):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append(f"{path} ({exc.strerror or exc})")
            continue
        removed.append(path)
    if own_dir and model_dir.is_dir():
        with suppress(OSError):  # not empty (what could not go is reported, or not its own)
            model_dir.rmdir()
    return removed, kept


# The files of a project's model folder that training writes (engine.training: ``vN-<8 hex>.npz``,
# ``vN.npz`` before files had a name of their own) and their temporary files (``.vN….tmp``)
_MODEL_FILE = re.compile(
    r"v\d+(?:-[0-9a-f]{8})?\.npz"  # a model file
    r"|\.v\d+(?:-[0-9a-f]{8})?\.npz(?:\.[^/]*)?\.tmp"  # its temporary file, while written
)


def add_labels(ws: Workspace, *, project: str, names: list[str]) -> list[Label]:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.add_labels(
            session=session, project_id=found.id, names=[new_label_name(n) for n in names]
        )


def name_key(name: str) -> str:
    """What a typed label name is matched by: case, width, joiners and variation selectors
    folded away, as two labels of a project never share it (storage's ``label_fold``)."""
    return projects.label_fold(name)


def list_labels(ws: Workspace, *, project: str, active_only: bool = False) -> list[Label]:
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.list_labels(session=session, project_id=found.id, active_only=active_only)


def label_name(ws: Workspace, *, project: str, label_id: int) -> str:
    """The name one of the project's labels has now, retired or not, by its id (what a button
    or menu option carries: ids stay short and survive renames). StaleActionError when the
    label is gone (an undo removed it) or belongs to another project."""
    for label in list_labels(ws, project=project):
        if label.id == label_id:
            return label.name
    raise StaleActionError(taxonomy_repo.GONE)


@dataclass(frozen=True)
class ImportReport:
    rows: int
    inserted: int
    duplicates: int
    annotations: int
    embedded: int
    relabeled: int = 0  # texts labeled before whose agreed label the file's labels changed
    # rows whose text an earlier row of the file has: stored once, so among the duplicates
    # without having been in the project before
    repeated: int = 0
    # what the file may have meant otherwise (importing.column_notes): one line each
    notes: tuple[str, ...] = ()
    # ids of the file's new examples that name more than one example now (another new one, or
    # one stored before), in file order: ids need not be unique, but a command given such an id
    # (adjudicate, flags resolve) then asks for the example's #number
    shared_ids: tuple[str, ...] = ()
    # the file's labels for texts stored before that added no vote (_left_alone), by reason:
    # "imported" (an earlier import gave that vote), "agreed" (the example's agreed label
    # already), "disputed" (the people who labeled it disagree, unsettled), "decided" (an
    # adjudication decides its label): each said in ``notes``
    left_alone: dict[str, int] = field(default_factory=dict)


# Rows stored at a time, all in the import's one transaction: an import holds about one chunk
# of the file's rows, and a few dozen bytes per distinct text of it, whatever the file's size.
IMPORT_CHUNK = 5_000
# Texts embedded per call after an import: the vectors of one call are in memory at a time.
EMBED_CHUNK = 20_000
# A first labeled row is kept as line * _LABEL_SLOTS + the number of its label name: one int
# per labeled text. A file names few labels (each must be one of the project's).
_LABEL_SLOTS = 1 << 20


def import_file(
    ws: Workspace,
    *,
    project: str,
    path: Path,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "id",
    require_label_column: bool = False,
    require_id_column: bool = False,
    embed: bool = True,
    progress: bool = False,
    annotator: str = IMPORTED,
) -> ImportReport:
    """Import a CSV/JSONL file in one transaction; embed new texts afterwards (cached on disk).

    A label is taken as a click on it would be: one since renamed by its new name, one since
    merged (or retired with a mapping) is stored as named and counts as the label it went into.
    The labels are read with the project held (``lock_imports``): a taxonomy change waits for
    the import, or is read by it (a label split since is refused), as for a click.
    A text the file repeats takes the label of its first labeled row; rows of one text with
    labels that count differently fail, as an unknown label does, and nothing is imported.

    The file is read twice, a row at a time: once to check every row (a malformed file fails
    before the transaction begins), then to store it IMPORT_CHUNK rows at a time; a row of a
    text repeated with another label, found as it is stored, rolls all of it back.
    """
    rows = FileRows(
        path,
        text_column=text_column,
        label_column=label_column,
        id_column=id_column,
        require_label_column=require_label_column,
        require_id_column=require_id_column,
    )
    named: dict[str, int] = {}  # each label name in the file -> the first line naming it
    for rec in rows:
        if rec.label is not None:
            named.setdefault(rec.label, rec.line)
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        # the project held before its labels are read, not first when the rows go in: a split
        # (or merge, retire) committed after the lookup would leave votes stored for a label
        # that counts as nothing since. The taxonomy's change waits for the import, or the
        # import reads the change (and refuses a label split since), as a click does.
        examples.lock_imports(session=session, project_id=found.id)
        state = _Import(path=path, project_id=found.id, annotator=annotator, when=utcnow())
        for name, line in named.items():  # every unknown label refused before a row is stored
            state.label_number(session, name, line)
        for chunk in _batched(rows, IMPORT_CHUNK):
            state.store(session, chunk)
        relabeled = 0
        if state.before:
            after = feedback.current_labels(session=session, project_id=found.id)
            relabeled = sum(1 for i, old in state.before.items() if after.get(i) != old)
        shared = _shared_ids(session, found.id, state.examples) if state.ids_given else []
    left_alone = {reason: n for reason, n in state.left_alone.items() if n}
    try:  # committed: an interruption from here on leaves the rows stored, and says so
        refresh_statistics(ws.db)  # the new rows, for the planner of every click that follows
        embedded = 0
        if embed:
            # read back by id, a chunk at a time: the file's texts are not kept for it
            for ids in _batched(state.examples, EMBED_CHUNK):
                with session_scope(ws.db, read_only=True) as session:
                    texts = examples.example_texts_of(session=session, example_ids=ids)
                hashes = [h for _, _, h in texts]
                ws.embed([t for _, t, _ in texts], hashes=hashes, progress=progress)
            embedded = state.rows
    except KeyboardInterrupt as exc:
        raise InterruptedAfterStoring(
            inserted=state.inserted, annotations=state.annotations
        ) from exc
    return ImportReport(
        rows=state.rows,
        inserted=state.inserted,
        duplicates=state.rows - state.inserted,
        annotations=state.annotations,
        embedded=embedded,
        relabeled=relabeled,
        repeated=state.repeated,
        notes=tuple(
            column_notes(rows, label_column=label_column)
            + left_alone_notes(left_alone, project=project)
            + _encoder_notes(ws, state)
        ),
        shared_ids=tuple(shared),
        left_alone=left_alone,
    )


def left_alone_notes(left_alone: dict[str, int], *, project: str) -> list[str]:
    """The import report's lines on the file's labels that added no vote, and why
    (:func:`_left_alone`)."""
    notes = []
    same = [
        (n, why)
        for reason, why in (
            ("agreed", "already the example's agreed label"),
            ("imported", "given by an earlier import"),
        )
        if (n := left_alone.get(reason))
    ]
    if same:
        said = "; ".join(f"{n:,} {why}" for n, why in same)
        notes.append(f"{_of_the_file(sum(n for n, _ in same))} added nothing ({said})")
    if n := left_alone.get("disputed"):
        notes.append(
            f"{_of_the_file(n)} left alone: experts disagree there (`labelbot disagreements "
            f"{shlex.quote(project)}` lists them; `labelbot adjudicate` settles one)"
        )
    if n := left_alone.get("decided"):
        notes.append(f"{_of_the_file(n)} left alone: an adjudication decides the label there")
    return notes


def _of_the_file(n: int) -> str:
    return f"{n:,} of the file's labels"


def _encoder_notes(ws: Workspace, state: _Import) -> list[str]:
    """The import report's note on texts the bundled encoder reads poorly (none for another
    encoder: one set on purpose is taken to read them)."""
    if ws.settings.encoder != DEFAULT_ENCODER:
        return []
    note = script_note(state.scripts, encoder=ws.settings.encoder)
    return [] if note is None else [note]


_T = TypeVar("_T")


def _batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """``items`` in lists of ``size`` (itertools.batched, new in Python 3.12)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


@dataclass
class _Import:
    """An import in progress: what it keeps from one chunk of rows to the next."""

    path: Path
    project_id: int
    annotator: str
    when: datetime  # every vote's created_at, as when they were stored in one statement
    rows: int = 0
    inserted: int = 0
    repeated: int = 0  # rows whose text an earlier row of the file has
    annotations: int = 0
    ids_given: bool = False  # some row has an id
    analyze_at: int = IMPORT_CHUNK  # examples stored when the database's statistics go stale
    # each example of the file, in the order of its first row -> whether this import stored it
    examples: dict[int, bool] = field(default_factory=dict)
    # each example the file labels -> its first labeled row, as line * _LABEL_SLOTS + the
    # number of its label name in ``names``
    first_label: dict[int, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    labels: dict[str, tuple[int, _FileLabel]] = field(default_factory=dict)
    before: dict[int, str] | None = None  # the agreed labels before the first vote stored
    targets: dict[int, str | None] | None = None  # label id -> the label it counts as, once read
    scripts: ScriptCount = field(default_factory=ScriptCount)  # the first rows' scripts
    left_alone: Counter[str] = field(default_factory=Counter)  # labels adding no vote, by reason

    def label_number(self, session: Session, name: str, line: int) -> int:
        """The number of label ``name`` (first named at ``line``), resolved when first met."""
        known = self.labels.get(name)
        if known is None:
            if len(self.names) >= _LABEL_SLOTS:
                raise InvalidInputError(f"{self.path}:{line}: more than {_LABEL_SLOTS:,} labels")
            known = (len(self.names), _file_label(session, self.path, self.project_id, name, line))
            self.labels[name] = known
            self.names.append(name)
        return known[0]

    def not_given_yet(
        self, session: Session, votes: list[feedback.NewAnnotation], *, new: Collection[int]
    ) -> list[feedback.NewAnnotation]:
        """``votes`` less those an import gave already: a live imported vote on the example
        for a label that counts as the same one now (itself, renamed since; merged into the
        same label). The same file again, or the project's own export, adds no second vote
        (by name, a rename made the file's label look new)."""
        old = [v.example_id for v in votes if v.example_id not in new]
        given = feedback.live_votes_by_source(session=session, example_ids=old, source=IMPORTED)
        if not given:
            return votes
        counts = self.counts_as(session)
        kept = [
            v for v in votes
            if counts.get(v.label_id) not in {counts.get(i) for i in given.get(v.example_id, ())}
        ]  # fmt: skip
        self.left_alone["imported"] += len(votes) - len(kept)
        return kept

    def counts_as(self, session: Session) -> dict[int, str | None]:
        """Each label id of the project -> the label it counts as, read once."""
        if self.targets is None:
            self.targets = taxonomy_repo.label_targets(session=session, project_id=self.project_id)
        return self.targets

    def leave_alone(
        self, session: Session, votes: list[feedback.NewAnnotation], *, new: Collection[int]
    ) -> list[feedback.NewAnnotation]:
        """``votes`` less those on examples stored before that :func:`_left_alone` leaves
        alone, each counted in ``left_alone`` by its reason."""
        old = [v.example_id for v in votes if v.example_id not in new]
        if not old:
            return votes
        rows: dict[int, list[feedback.AnnotationRow]] = defaultdict(list)
        for row in feedback.annotations_of_examples(session=session, example_ids=old):
            rows[row.example_id].append(row)
        counts = self.counts_as(session)
        kept = []
        for vote in votes:
            reason = _left_alone(rows.get(vote.example_id, []), counts.get(vote.label_id))
            if reason is None:
                kept.append(vote)
            else:
                self.left_alone[reason] += 1
        return kept

    def store(self, session: Session, chunk: list[Record]) -> None:
        """Store a chunk of the file's rows and their labels' votes."""
        self.ids_given = self.ids_given or any(r.external_id is not None for r in chunk)
        added = examples.add_examples(
            session=session,
            project_id=self.project_id,
            rows=[NewExample(r.text, r.external_id, r.meta) for r in chunk],
        )
        self.rows += len(chunk)
        self.inserted += added.inserted
        if not self.scripts.full:
            self.scripts.add(r.text for r in chunk)
        if self.inserted >= self.analyze_at:  # each time the import's examples have doubled
            examples.analyze_examples(session=session)
            self.analyze_at = 2 * self.inserted
        votes = []
        for rec, example_id in zip(chunk, added.ids, strict=True):
            if example_id in self.examples:  # a repeated text gets its first row's example
                self.repeated += 1
            else:
                self.examples[example_id] = example_id in added.new
            if rec.label is None:
                continue
            number = self.label_number(session, rec.label, rec.line)
            first = self.first_label.get(example_id)
            if first is None:
                self.first_label[example_id] = rec.line * _LABEL_SLOTS + number
                label = self.labels[rec.label][1].label
                assert label.id is not None
                votes.append(
                    feedback.NewAnnotation(
                        example_id=example_id,
                        label_id=label.id,
                        annotator=self.annotator,
                        source=IMPORTED,
                        # the same file again adds none (a label's id: renamed since, the same)
                        key=f"import:{example_id}:{label.id}",
                    )
                )
                continue
            # the same text as an earlier row: keeping either label would drop the other
            line, earlier = divmod(first, _LABEL_SLOTS)
            name = self.names[earlier]
            if self.labels[rec.label][1].counts_as != self.labels[name][1].counts_as:
                raise InvalidInputError(
                    f"{self.path}:{rec.line}: the same text as line {line} with another label "
                    f"({rec.label!r} here, {name!r} there); give each text one label"
                )
        votes = self.not_given_yet(session, votes, new=added.new)
        votes = self.leave_alone(session, votes, new=added.new)
        if votes and self.before is None:
            self.before = feedback.current_labels(session=session, project_id=self.project_id)
        # in bulk (a few statements), inside the import's one transaction
        self.annotations += feedback.add_annotations(
            session=session, rows=votes, created_at=self.when
        )


def _left_alone(rows: list[feedback.AnnotationRow], label: str | None) -> str | None:
    """Why a file's vote for ``label`` (the label it counts as) on an example with the live
    annotations ``rows`` (oldest first) adds no vote, or None to store it. An import is a
    file's word, not an expert's, and its export read back is no new evidence: it is left out
    where the people who labeled the example disagree and nothing settled it ("disputed": one
    more vote would tip it, quietly), where ``label`` is the agreed label already ("agreed":
    it would add nothing now, and count that label twice in a later tie), and where an
    adjudication decides the label ("decided": a vote cannot change it). Elsewhere it is one
    more vote, as a click would be. (An earlier import's same vote: "imported", not_given_yet.)"""
    if not rows:
        return None
    if _people_disagree(rows):
        return "disputed"
    if label is not None and feedback.agreed_label(rows) == label:
        return "agreed"
    if any(r.source == feedback.ADJUDICATION and r.current is not None for r in rows):
        return "decided"
    return None


def _people_disagree(rows: list[feedback.AnnotationRow]) -> bool:
    """Whether the example with the live annotations ``rows`` has an open disagreement (as
    `labelbot disagreements` lists them, engine.consensus) between people: an imported vote
    that differs from one expert's is one too, but not one between experts."""
    from engine.consensus import open_disagreements  # its imports load only when needed

    if not open_disagreements(rows):
        return False
    latest: dict[str, str] = {}
    for row in rows:
        if row.current is not None and row.source != IMPORTED:
            latest.pop(row.annotator, None)
            latest[row.annotator] = row.current
    return len(set(latest.values())) > 1


def _shared_ids(session: Session, project_id: int, new: dict[int, bool]) -> list[str]:
    """The ids the file's new examples were stored with (each new text's first row's, as
    add_examples keeps it) that more than one example of the project has now, in file order.
    Only new examples count: a re-imported file, whose texts are all stored, says nothing.
    ``new``: the file's examples, in file order, each with whether the import stored it."""
    shared = {
        example_id: external_id
        for example_id, external_id in examples.examples_sharing_external_ids(
            session=session, project_id=project_id
        )
        if new.get(example_id)
    }
    if not shared:
        return []
    return list(dict.fromkeys(shared[i] for i in new if i in shared))


@dataclass(frozen=True)
class _FileLabel:
    """A label a file names: the label stored, and the active label it counts as."""

    label: Label
    counts_as: str


def _file_label(session: Session, path: Path, project_id: int, name: str, line: int) -> _FileLabel:
    """Label ``name``, first named at ``line``, resolved as a click on it is
    (taxonomy.get_clicked_label); InvalidInputError at that line when it is unknown or counts
    as nothing."""
    try:
        label = taxonomy_repo.get_clicked_label(session=session, project_id=project_id, name=name)
    except InvalidInputError as exc:  # never had it: it can be added, unless it looks alike
        alike = projects.look_alike(session=session, project_id=project_id, name=name)
        if alike is not None:  # `labels add` would refuse it: say which label it looks like
            raise InvalidInputError(
                f"{path}:{line}: unknown label {name!r}: did you mean {alike.name!r}? (it "
                f"differs only in {projects.how_alike(name, alike.name)}; use the label's name "
                "as it is)"
            ) from None
        raise InvalidInputError(
            f"{path}:{line}: {exc}; add it first with `labelbot labels add`"
        ) from None
    except StaleActionError as exc:  # removed by an undo
        raise InvalidInputError(f"{path}:{line}: {exc}") from None
    counts_as: str | None = label.name
    if not label.active:
        target = session.get(Label, label.mapped_to_id) if label.mapped_to_id else None
        counts_as = target.name if target is not None else None
    if counts_as is None:  # split, or retired without a mapping
        note = stale_label_note(session=session, label=label, clicked=name)
        raise InvalidInputError(f"{path}:{line}: {note}")
    return _FileLabel(label, counts_as)


def texts_to_embed(ws: Workspace, name: str) -> int | None:
    """How many of the project's distinct texts the embedding cache lacks: what a re-run of an
    interrupted import has left to embed. None when that cannot be told (the cache unreadable,
    say): it is only said, never acted on."""
    try:
        with session_scope(ws.db, read_only=True) as session:
            found = projects.get_project(session=session, name=name)
            assert found.id is not None
            hashes = examples.content_hashes(session=session, project_id=found.id)
        return ws.cache.count_missing(hashes) if hashes else 0
    except Exception:  # noqa: BLE001 - a count in a message is not worth a second error
        return None


def queue_size(ws: Workspace, name: str) -> int:
    """How many examples wait for a label: one cheap count (status computes far more)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        return assignments.count_free_examples(session=session, project_id=found.id)


def project_status(ws: Workspace, name: str) -> dict[str, Any]:
    """Counts, labels per class and the active model's metrics, as JSON-able data; with the
    classes still too rare to learn, expert agreement and mislabel reviews."""
    from engine.consensus import agreement_report  # imports engine.labeling
    from engine.reviews import review_counts

    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        pid = project.id
        labels = projects.list_labels(session=session, project_id=pid, active_only=False)
        # the live annotations, read once for every figure below (labels, agreement, count)
        rows = feedback.list_annotations(session=session, project_id=pid)
        agreed = feedback.agreed_labels(rows)
        n_examples = examples.count_examples(session=session, project_id=pid)
        n_annotations = len(rows)
        open_flags = flags.count_open_flags(session=session, project_id=pid)
        flagged = flags.open_flagged_ids(session=session, project_id=pid)
        waiting = assignments.count_free_examples(session=session, project_id=pid)
        run = models.get_active_model_run(session=session, project_id=pid)
        n_comments = feedback.count_comments(session=session, project_id=pid)
        audited = assignments.audit_labeled_ids(session=session, project_id=pid)
        unlearned = held_out(ws, session=session, agreed=agreed, audited=audited)
    per_class = Counter(agreed.values())
    agreement = agreement_report(ws, name, rows=rows)
    model = None
    if run is not None:
        changed = changed_at(project)
        model = {
            "version": run.version,
            "kind": run.kind,
            "trained_at": run.created_at.isoformat(),
            "labels": run.n_labels,
            "metrics": run.metrics,
            # what the figures below belong to: a version a person chose to keep (newer ones
            # are stored, not promoted), and one that measured the classes as they were
            "pinned": project.settings.get("pinned_version") == run.version,
            "before_taxonomy_change": trained_before(run, changed),
        }
    return {
        "project": name,
        "channel": project.channel_id,
        "examples": n_examples,
        "labeled": len(agreed),
        "unlabeled": n_examples - len(agreed),
        "queue": waiting,
        "annotations": n_annotations,
        "comments": n_comments,
        "open_flags": open_flags,
        # the examples those flags set aside that have no label: out of the queue for them, so
        # examples = labeled + queue + flagged_examples (one example two experts flagged is one)
        "flagged_examples": len(flagged - agreed.keys()),
        "labels": [
            {
                "name": lb.name,
                "active": lb.active,
                "count": per_class.get(lb.name, 0),
                "description": lb.description,
            }
            for lb in labels
        ],
        "model": model,
        "rare": rare_summary(
            labels,
            per_class,
            int(project.settings.get("rare_minimum", MIN_EXAMPLES)),
            learned_from(agreed, unlearned),
        ),
        "agreement": {**agreement.to_dict(), "summary": agreement.describe()},
        "reviews": review_counts(ws, project=name),
    }


def status_report(ws: Workspace, name: str) -> dict[str, Any]:
    """What `labelbot status NAME --json` prints and `GET /api/projects/NAME/status` answers
    (one function, so the two never differ): :func:`project_status` with its model's numbers
    explained (``evaluation.explain_status``: which accuracy is the headline, what the per-class
    F1 is), and what the stored rows cannot say: each run still marked training (``training``:
    "training now", or stopped because its process died) and whether the active model's file
    is usable (``model.file_problem``), and the newest training when it failed
    (``last_failure``: version, at, error; None otherwise)."""
    from engine import jobs, training  # the scheduler's and trainer's modules, when needed

    info = explain_status(project_status(ws, name), ws=ws)
    info["training"] = [
        {
            "version": version,
            "state": state,
            "description": jobs.STOPPED if state == "stopped" else "training now",
        }
        for version, state in sorted(jobs.training_states(ws, name).items())
    ]
    model = info["model"]
    if model:
        problem = training.active_model_problem(ws, name)
        # read after the model: a rollback or promotion in between made another version
        # active, whose file problem would be said of this one
        if problem is not None and problem.version != model["version"]:
            problem = None
        model["file_problem"] = None if problem is None else problem.message
    # the newest training, when it failed (none succeeded since): its version, when and why
    info["last_failure"] = training.last_failure(ws, name)
    return info


def learned_from(agreed: Mapping[int, str], audited: Collection[int]) -> Counter[str]:
    """Labels per class that a model learns from: the agreed labels (example id → label) but
    the audit examples' (``audited``: assignments.audit_labeled_ids, with :func:`held_out`
    their twins), which only evaluate models. :func:`rare_summary` counts these, as the
    queue's rare-label help does (engine.training: the pool's labeled examples)."""
    return Counter(label for example_id, label in agreed.items() if example_id not in audited)


def held_out(
    ws: Workspace, *, session: Session, agreed: Mapping[int, str], audited: set[int]
) -> set[int]:
    """The labeled examples no model trains on: the audit examples (``audited``) and their
    twins, labeled examples with the very embedding of an audit example's (another letter case,
    accents, invisible characters: engine.training.Pool.labeled holds them out too), read from
    the embedding cache. A text not in the cache yet is nobody's twin here."""
    rest = [i for i in agreed if i not in audited]
    if not audited or not rest:
        return set(audited)
    hashes = examples.hashes_of(session=session, example_ids=sorted(audited) + rest)
    found, vectors = ws.cache.lookup(list(hashes.values()))
    places = [i for i, hit in zip(hashes, found.tolist(), strict=True) if hit]
    if not places:
        return set(audited)
    from engine.evaluation import twins_of

    mask = np.array([i in audited for i in places], dtype=bool)
    twins = twins_of(vectors, mask)
    return set(audited) | {i for i, t in zip(places, twins.tolist(), strict=True) if t}


def rare_summary(
    labels: list[Label], per_class: Counter[str], minimum: int, learned: Counter[str]
) -> dict[str, Any]:
    """Labels per active class (``per_class``: every agreed label, as status lists them), and
    those still too rare to learn (the queue helps them), by ``learned``: the labels a model
    learns from (:func:`learned_from`, audit labels left out)."""
    active = [lb.name for lb in labels if lb.active]
    taught = np.array([learned.get(n, 0) for n in active], dtype=np.int64)
    return {
        "minimum": minimum,
        "counts": {n: int(per_class.get(n, 0)) for n in active},
        "too_rare": [active[i] for i in rare_labels(taught, minimum).tolist()],
    }
