"""Annotations (what an expert chose) and comments, stored exactly once per idempotency key."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, update
from sqlalchemy import select as sa_select  # sqlmodel's select takes at most 4 columns
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import advisory_xact_lock, bound, dialect_insert, driver_rows, rowcount
from storage.errors import NotFoundError, StaleActionError
from storage.models import Annotation, Comment, Example, Label, utcnow
from storage.repositories.projects import share_project_row
from storage.repositories.taxonomy import StaleMark, counting_label_ids, relabel_despite_votes

ADJUDICATION = "adjudication"  # the source of an annotation that settles a disagreement


@dataclass(frozen=True)
class AnnotationRow:
    """A live annotation: ``label`` is what the expert clicked (by id: a rename shows the new
    name), ``current`` the active label it counts as after merges and retirements, or None when
    its label was split, or retired without a mapping; then ``stale_since`` is when that change
    was made (None while it is being made: not recorded yet), and ``stale_after`` the highest
    annotation id then (None for a change recorded before that was kept)."""

    id: int
    example_id: int
    label: str
    annotator: str
    source: str
    created_at: datetime
    current: str | None = None
    stale_since: datetime | None = None
    stale_after: int | None = None


def add_annotation(
    *,
    session: Session,
    example_id: int,
    label_id: int,
    annotator: str,
    source: str,
    key: str,
    created_at: datetime | None = None,
) -> tuple[Annotation, bool]:
    """Store one annotation; the same ``key`` again returns the stored row and ``False``."""
    existing = _by_key(session, key)
    if existing is not None:
        return existing, False
    annotation = Annotation(
        example_id=example_id,
        label_id=label_id,
        annotator=annotator,
        source=source,
        idempotency_key=key,
        created_at=created_at or utcnow(),
    )
    try:
        # A savepoint, so losing a race on the unique key does not roll back the caller's work.
        with session.begin_nested():
            session.add(annotation)
    except IntegrityError:
        existing = _by_key(session, key)
        if existing is None:
            raise
        return existing, False
    return annotation, True


@dataclass(frozen=True)
class NewAnnotation:
    """One annotation for :func:`add_annotations`, as :func:`add_annotation` takes it."""

    example_id: int
    label_id: int
    annotator: str
    source: str
    key: str


def add_annotations(
    *, session: Session, rows: Sequence[NewAnnotation], created_at: datetime | None = None
) -> int:
    """Store many annotations (an import's labels) as :func:`add_annotation` stores each: a
    ``key`` already stored, or given earlier in ``rows``, stores nothing. Returns how many
    were stored.

    One ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`` for all the rows, instead of a
    lookup, a savepoint and a flush per row, which were most of a 20,000-row import's 13 s on
    SQLite and 39 s on PostgreSQL (13,000 labels; bench/import_speed.py), all inside its
    transaction and SQLite's write lock. SQLite: executed for all the rows at once (SQLAlchemy
    sends multi-row statements of up to 1,000). PostgreSQL: one statement however many the
    rows, its columns as five arrays unnested in order (``driver_rows``; as the examples' insert,
    ``examples._insert_fresh``): psycopg scanned each 1,000-row statement anew (too long for its
    cache), most of the labels' time (bench/README.md, "Import speed"). A key another
    transaction stored meanwhile is skipped, not an error, as add_annotation's savepoint makes
    it. Every row gets the same ``created_at`` (default: now); rows of one time are ordered by
    id, that is as given.
    """
    when = created_at or utcnow()
    fresh: dict[str, dict[str, Any]] = {}
    for row in rows:
        fresh.setdefault(
            row.key,
            {
                "example_id": row.example_id,
                "label_id": row.label_id,
                "annotator": row.annotator,
                "source": row.source,
                "idempotency_key": row.key,
                "created_at": when,
                "retracted_at": None,
            },
        )
    if not fresh:
        return 0
    table = Annotation.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        values = list(fresh.values())
        parameters = {
            "created_at": bound(session, table.c.created_at, when),  # UTC, as the ORM sends it
            "example_ids": [row["example_id"] for row in values],
            "label_ids": [row["label_id"] for row in values],
            "annotators": [row["annotator"] for row in values],
            "sources": [row["source"] for row in values],
            "keys": list(fresh),
        }
        return len(driver_rows(session, _INSERT_UNNESTED, parameters))
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id)
    )
    return len(session.execute(statement, list(fresh.values())).all())


# PostgreSQL's insert of an import's annotations (see add_annotations), in psycopg's
# placeholders (%b: binary). WITH ORDINALITY ... ORDER BY keeps the rows' order, so their ids
# follow the input's as the multi-row VALUES' did.
_INSERT_UNNESTED = (
    f"INSERT INTO {Annotation.__tablename__}"
    " (example_id, label_id, annotator, source, idempotency_key, created_at, retracted_at)"
    " SELECT u.example_id, u.label_id, u.annotator, u.source, u.idempotency_key,"
    " %(created_at)s, NULL"
    " FROM unnest(CAST(%(example_ids)b AS integer[]), CAST(%(label_ids)b AS integer[]),"
    " CAST(%(annotators)b AS text[]), CAST(%(sources)b AS text[]),"
    " CAST(%(keys)b AS text[]))"
    " WITH ORDINALITY AS u(example_id, label_id, annotator, source, idempotency_key, n)"
    " ORDER BY u.n"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    " RETURNING id"
)
# PostgreSQL's read of the imported votes on a chunk's examples (see live_votes_by_source): one
# array, where an IN list of thousands of ids was scanned anew by psycopg, as the insert's were
_LIVE_VOTES_BY_SOURCE = (
    f"SELECT example_id, label_id FROM {Annotation.__tablename__}"
    " WHERE example_id = ANY(CAST(%(example_ids)b AS integer[]))"
    " AND source = %(source)s AND retracted_at IS NULL"
)


def _by_key(session: Session, key: str) -> Annotation | None:
    return session.exec(select(Annotation).where(Annotation.idempotency_key == key)).first()


def retract_annotation(
    *, session: Session, annotation_id: int, annotator: str, now: datetime | None = None
) -> bool:
    """Undo: mark the annotation retracted (kept for history); only its author may. True when
    this call retracted it; False when it was retracted already.

    A conditional update: of two undos at once (one click delivered twice), the second waits
    for the first and then updates nothing, so only one offers the example again.
    """
    annotation = session.get(Annotation, annotation_id)
    if annotation is None:
        raise NotFoundError(f"no annotation with id {annotation_id}")
    if annotation.annotator != annotator:
        raise StaleActionError("only the expert who gave a label can undo it")
    retracted = session.execute(
        update(Annotation)
        .where(col(Annotation.id) == annotation_id, col(Annotation.retracted_at).is_(None))
        .values(retracted_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    session.get(Annotation, annotation_id, populate_existing=True)  # what was stored, loaded
    return bool(rowcount(retracted))


def lock_votes(*, session: Session, example_id: int) -> None:
    """Make the votes on one example take turns until this transaction ends (PostgreSQL;
    SQLite's writers take turns already). Each vote reads the example's votes before it adds its
    own: one expert's two clicks at once on two live copies of the example carry two keys (so
    neither is a repeat of the other), and two experts' clicks at once (a hold that lapsed and
    went to the other) would each find no earlier vote in its snapshot and both be stored, none
    told "already labeled by", no disagreement opened."""
    advisory_xact_lock(session, "vote", str(example_id))


def lock_for_vote(*, session: Session, project_id: int) -> None:
    """Make a vote and a taxonomy change of the project take turns (PostgreSQL; SQLite's writers
    take turns already). Take it before reading the clicked label.

    A vote reads its label and then inserts an annotation; nothing in that conflicts with a
    split or retire updating the label, so a click racing one was stored for a label that had
    just stopped counting, and told it counts. ``FOR KEY SHARE`` on the project row waits for a
    change in flight (``taxonomy.lock_taxonomy`` holds the row ``FOR UPDATE``), then reads the
    label as changed; and a change starting meanwhile waits for this vote, then counts it. It
    does not wait for imports or settings writes (``FOR NO KEY UPDATE``). The project row comes
    before any label row, in the order a change takes them, so the two cannot deadlock.
    """
    share_project_row(session=session, project_id=project_id)


def list_annotations(*, session: Session, project_id: int) -> list[AnnotationRow]:
    """Every live (not retracted) annotation in the project, oldest first (the order they
    were given in: by id)."""
    return _annotation_rows(
        session,
        (Example.project_id == project_id, col(Annotation.retracted_at).is_(None)),
    )


def annotation_keys(*, session: Session, annotation_ids: Sequence[int]) -> dict[int, str]:
    """The idempotency key each of ``annotation_ids`` was stored with (an adjudication's says
    where it was made: ``slack:CHANNEL:TS:USER`` for a Settle click on that message)."""
    if not annotation_ids:
        return {}
    rows = session.execute(
        sa_select(col(Annotation.id), col(Annotation.idempotency_key)).where(
            col(Annotation.id).in_(list(annotation_ids))
        )
    ).all()
    return {int(annotation_id): str(key) for annotation_id, key in rows}


def _annotation_rows(session: Session, where: tuple[Any, ...]) -> list[AnnotationRow]:
    # In the order the votes were given: by id, never by created_at, the clock of the replica
    # that stored each (one running ahead would make an earlier vote read as the latest, and
    # win a tie, agreed_label). The votes on an example take turns (lock_votes; and with the
    # project's taxonomy changes, lock_for_vote), so its ids follow the order they were made.
    # The clicked label, and the label it counts as now (mapped_to_id is kept resolved): its
    # own name while active, else its target's (None: split, or retired without a mapping).
    # Columns, not Label objects: a Label already in the session would keep what it read then.
    # Nor Annotation objects: building one per row (the identity map, its state) was half the
    # time of reading a large project's votes, which an import does twice.
    target = aliased(Label)
    counts_as = case((col(Label.active).is_(True), col(Label.name)), else_=col(target.name))
    rows = session.execute(
        sa_select(
            col(Annotation.id),
            col(Annotation.example_id),
            col(Annotation.label_id),
            col(Annotation.annotator),
            col(Annotation.source),
            col(Annotation.created_at),
            col(Label.name),
            counts_as,
            col(Label.project_id),
        )
        .join(Label, col(Label.id) == Annotation.label_id)
        .outerjoin(target, col(target.id) == Label.mapped_to_id)
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(*where)
        .order_by(col(Annotation.id))
    ).all()
    # When the votes that no longer count stopped counting: read from the history, only when
    # there are such votes (most reads have none).
    since: dict[int, dict[int, StaleMark]] = {}
    for *_, current, project_id in rows:
        if current is None and project_id not in since:
            from storage.repositories.taxonomy import stale_since

            since[project_id] = stale_since(session=session, project_id=project_id)
    marks = [since.get(project_id, {}).get(label_id) for _, _, label_id, *_, project_id in rows]
    return [
        AnnotationRow(
            id=int(annotation_id or 0),
            example_id=example_id,
            label=name,
            annotator=annotator,
            source=source,
            created_at=created_at,
            current=current,
            stale_since=None if mark is None else mark.at,
            stale_after=None if mark is None else mark.after_id,
        )
        for mark, (
            annotation_id,
            example_id,
            label_id,
            annotator,
            source,
            created_at,
            name,
            current,
            project_id,
        ) in zip(marks, rows, strict=True)
    ]


def current_labels(
    *, session: Session, project_id: int, active_labels: set[str] | None = None
) -> dict[int, str]:
    """The agreed label of each labeled example (:func:`agreed_label`).

    With ``active_labels`` given, only votes for those labels count (votes for a split or
    unmapped retired label still decide whether the example waits to be labeled again).
    """
    rows: dict[int, list[AnnotationRow]] = defaultdict(list)
    for row in list_annotations(session=session, project_id=project_id):
        if row.current is None or active_labels is None or row.current in active_labels:
            rows[row.example_id].append(row)
    agreed: dict[int, str] = {}
    for example_id, votes in rows.items():
        label = agreed_label(votes)
        if label is not None:
            agreed[example_id] = label
    return agreed


def agreed_labels(
    rows: Sequence[AnnotationRow], *, active_labels: set[str] | None = None
) -> dict[int, str]:
    """:func:`current_labels` of the examples among ``rows`` (their live annotations, oldest
    first), for a caller that has read them already (an export, a page at a time)."""
    by_example: dict[int, list[AnnotationRow]] = defaultdict(list)
    for row in rows:
        if row.current is None or active_labels is None or row.current in active_labels:
            by_example[row.example_id].append(row)
    agreed: dict[int, str] = {}
    for example_id, votes in by_example.items():
        label = agreed_label(votes)
        if label is not None:
            agreed[example_id] = label
    return agreed


def agreed_label(rows: Sequence[AnnotationRow]) -> str | None:
    """One example's agreed label from its live annotations, oldest first; None when it has
    none, or waits to be labeled again.

    Votes are mapped through the taxonomy's history first (a vote for a merged label is a vote
    for the merge target). An adjudication (source ``adjudication``: the team settled a
    disagreement) is not a vote but the decision: the latest one is the agreed label, whatever
    the votes say. Otherwise the majority wins, ties to the latest vote (the one given last:
    ``rows`` in id order, as read here, whatever the replicas' clocks stamped).

    A vote for a label since split, or retired without a mapping, still takes part (all such
    votes as one choice: "label it again"): when it wins (the majority's label, the latest of a
    tie, or the latest adjudication was that label) the example has no agreed label and waits
    to be labeled again into today's labels, rather than falling to a vote the majority or the
    team had rejected. Once someone labels it again (a vote that counts, given after the
    change) such votes are set aside.
    """
    live = deciding_votes(rows)
    decided = [r.current for r in live if r.source == ADJUDICATION]
    if decided:
        return decided[-1]
    if not live:
        return None
    labels = [r.current for r in live]  # None: a label that no longer counts
    counts = Counter(labels)
    top = max(counts.values())
    # votes are oldest first: the latest vote among the tied labels wins.
    return next(lb for lb in reversed(labels) if counts[lb] == top)


def deciding_votes(rows: Sequence[AnnotationRow]) -> list[AnnotationRow]:
    """The votes among one example's live annotations (oldest first) that :func:`agreed_label`
    decides from: every vote that counts, and those for a label since split or retired without
    a mapping until someone labels the example again after that change.

    "After" by annotation id, compared with the highest id when the change was made
    (``stale_after``): votes and changes of a project take turns, so ids follow the order they
    were made in, where the times are each replica's clock (a split stamped by a clock running
    ahead would outlast a relabel stored after it). By time for a change recorded before the id
    was kept."""
    counting = [r for r in rows if r.current is not None]
    if not counting:
        return list(rows)
    newest = max(r.created_at for r in counting)
    newest_id = max(r.id for r in counting)

    def waits(r: AnnotationRow) -> bool:  # a stale vote that still takes part
        if r.stale_after is not None:
            return newest_id <= r.stale_after
        return r.stale_since is None or newest <= r.stale_since

    return [r for r in rows if r.current is not None or waits(r)]


def count_annotations(
    *,
    session: Session,
    project_id: int,
    annotator: str | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
) -> int:
    """Live (not retracted) annotations of the project, optionally only ``annotator``'s, those
    stored at or after ``since``, and those with an id above ``after_id``."""
    query = (
        select(func.count())
        .select_from(Annotation)
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(Example.project_id == project_id, col(Annotation.retracted_at).is_(None))
    )
    if annotator is not None:
        query = query.where(Annotation.annotator == annotator)
    if since is not None:
        query = query.where(col(Annotation.created_at) >= since)
    if after_id is not None:
        query = query.where(col(Annotation.id) > after_id)
    return int(session.exec(query).one())


def annotations_per_project(
    *, session: Session, annotator: str, since: datetime | None = None
) -> dict[int, int]:
    """``annotator``'s live (not retracted) annotations in each project they labeled (by
    project id), those stored at or after ``since`` when given: :func:`count_annotations` of
    every project in one query (App Home counts them at every visit)."""
    query = (
        select(Example.project_id, func.count())
        .select_from(Annotation)
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(Annotation.annotator == annotator, col(Annotation.retracted_at).is_(None))
        .group_by(col(Example.project_id))
    )
    if since is not None:
        query = query.where(col(Annotation.created_at) >= since)
    return {int(pid): int(n) for pid, n in session.exec(query).all()}


def count_annotated_examples(*, session: Session, project_id: int) -> int:
    """Examples of the project with a label that counts today: ``len(current_labels(...))``,
    what status, the digest and App Home call "labeled", counted in SQL. An example whose only
    live votes are for a label since split or retired unmapped waits to be labeled again and is
    not counted, nor one whose counting vote was outvoted or overruled by such a vote
    (``taxonomy.relabel_despite_votes``, the rule the queue's count follows too)."""
    query = (
        select(func.count(func.distinct(Annotation.example_id)))
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(
            Example.project_id == project_id,
            col(Annotation.retracted_at).is_(None),
            col(Annotation.label_id).in_(counting_label_ids(project_id)),
        )
    )
    waiting = relabel_despite_votes(session=session, project_id=project_id)
    return int(session.exec(query).one()) - len(waiting)


def add_comment(
    *,
    session: Session,
    example_id: int,
    author: str,
    text: str,
    external_key: str | None = None,
    created_at: datetime | None = None,
) -> tuple[Comment, bool]:
    """Store a comment (``created_at``: when it was written, default now); a redelivered one
    (same ``external_key``) is stored once."""
    if external_key is not None:
        existing = _comment_by_key(session, external_key)
        if existing is not None:
            return existing, False
    comment = Comment(example_id=example_id, author=author, text=text, external_key=external_key,
                      created_at=created_at or utcnow())  # fmt: skip
    try:
        with session.begin_nested():
            session.add(comment)
    except IntegrityError:
        existing = _comment_by_key(session, external_key)
        if existing is None:
            raise
        return existing, False
    return comment, True


def _comment_by_key(session: Session, external_key: str | None) -> Comment | None:
    return session.exec(select(Comment).where(Comment.external_key == external_key)).first()


def edit_comment(*, session: Session, external_key: str, text: str) -> bool:
    """Replace the text of the comment stored under ``external_key``; False when there is none."""
    found = _comment_by_key(session, external_key)
    if found is None:
        return False
    found.text = text
    session.add(found)
    return True


def delete_comment(*, session: Session, external_key: str) -> bool:
    """Delete the comment stored under ``external_key`` (the row, text and all); False when
    there is none."""
    found = _comment_by_key(session, external_key)
    if found is None:
        return False
    session.delete(found)
    return True


def list_comments(*, session: Session, project_id: int) -> list[Comment]:
    return list(
        session.exec(
            select(Comment)
            .join(Example, col(Example.id) == Comment.example_id)
            .where(Example.project_id == project_id)
            .order_by(col(Comment.created_at), col(Comment.id))
        ).all()
    )


def annotations_between(
    *, session: Session, project_id: int, first_id: int, last_id: int
) -> list[AnnotationRow]:
    """The live annotations of the project's examples with ids from ``first_id`` to
    ``last_id``, oldest first: a page of an export (each example's votes in the order
    :func:`list_annotations` gives them)."""
    return _annotation_rows(
        session,
        (
            Example.project_id == project_id,
            col(Annotation.example_id) >= first_id,
            col(Annotation.example_id) <= last_id,
            col(Annotation.retracted_at).is_(None),
        ),
    )


def comments_between(
    *, session: Session, project_id: int, first_id: int, last_id: int
) -> list[tuple[int, str, str, datetime]]:
    """``(example_id, author, text, created_at)`` of the comments on the project's examples
    with ids from ``first_id`` to ``last_id``, oldest first (:func:`list_comments`' order): a
    page of an export."""
    rows = session.exec(
        select(Comment.example_id, Comment.author, Comment.text, Comment.created_at)
        .join(Example, col(Example.id) == Comment.example_id)
        .where(
            Example.project_id == project_id,
            col(Comment.example_id) >= first_id,
            col(Comment.example_id) <= last_id,
        )
        .order_by(col(Comment.created_at), col(Comment.id))
    ).all()
    return [(int(e), author, text, created_at) for e, author, text, created_at in rows]


def count_comments(*, session: Session, project_id: int) -> int:
    """How many comments the project's examples have (``len(list_comments(...))``, counted)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Comment)
            .join(Example, col(Example.id) == Comment.example_id)
            .where(Example.project_id == project_id)
        ).one()
    )


def example_annotations(*, session: Session, example_id: int) -> list[AnnotationRow]:
    """The live annotations of one example, oldest first (``current`` says which still count)."""
    return _annotation_rows(
        session,
        (Annotation.example_id == example_id, col(Annotation.retracted_at).is_(None)),
    )


def live_votes_by_source(
    *, session: Session, example_ids: Sequence[int], source: str
) -> dict[int, set[int]]:
    """The labels (ids) of the live votes from ``source`` on each of ``example_ids`` (those with
    any): what an import checks so that the same file again, or its export, adds none."""
    found: dict[int, set[int]] = defaultdict(set)
    if not example_ids:
        return found
    if session.get_bind().dialect.name == "postgresql":
        rows: Sequence[Any] = driver_rows(
            session,
            _LIVE_VOTES_BY_SOURCE,
            {"example_ids": list(example_ids), "source": source},
        )
    else:
        rows = session.exec(
            select(Annotation.example_id, Annotation.label_id).where(
                col(Annotation.example_id).in_(list(example_ids)),
                Annotation.source == source,
                col(Annotation.retracted_at).is_(None),
            )
        ).all()
    for example_id, label_id in rows:
        found[int(example_id)].add(int(label_id))
    return found


def annotations_of_examples(*, session: Session, example_ids: Any) -> list[AnnotationRow]:
    """The live annotations of the examples ``example_ids`` (a subquery of ids), oldest first."""
    return _annotation_rows(
        session,
        (col(Annotation.example_id).in_(example_ids), col(Annotation.retracted_at).is_(None)),
    )


def open_discussions(project_id: int, *, counting: Sequence[int] | None = None) -> Any:
    """A query of the examples discussed in a thread that still have no live label (the
    experts talked about them instead of labeling them), one row per example; ``counting``: the
    ids of the project's labels that count, when the caller read them (else a subquery).

    Read from the threads, each one's example looked up by its index: whether it has a live
    label, and is the project's. Not from the project's labeled examples (SQLite listed all of
    them for a ``NOT IN``, PostgreSQL hashed them), nor from its examples (a join the planner
    walked from them). A scalar subquery per thread, which the planners keep as such (an
    ``EXISTS`` PostgreSQL may turn into a join that hashes every live label of the project);
    with the labels given, it reads no labels table per thread either."""
    from storage.models import DiscussionThread

    first_label = (
        select(Annotation.id)
        .where(
            col(Annotation.example_id) == DiscussionThread.example_id,
            col(Annotation.retracted_at).is_(None),
            col(Annotation.label_id).in_(
                counting_label_ids(project_id) if counting is None else list(counting)
            ),
        )
        .limit(1)
        .scalar_subquery()
    )
    in_project = exists().where(
        col(Example.id) == DiscussionThread.example_id, col(Example.project_id) == project_id
    )
    return select(DiscussionThread.example_id).where(in_project, first_label.is_(None)).distinct()


def count_open_discussions(*, session: Session, project_id: int) -> int:
    """Discussion threads on examples that still have no live label (examples, not threads)."""
    counting = [int(i) for i in session.exec(counting_label_ids(project_id)).all()]
    found = open_discussions(project_id, counting=counting).subquery()
    return int(session.exec(select(func.count()).select_from(found)).one())


def annotators_since(
    *, session: Session, project_id: int, since: datetime | None, until: datetime | None = None
) -> dict[str, int]:
    """Live labels given since ``since`` (all time when None) and before ``until`` (when
    given), per annotator. Adjudications are left out: settling a disagreement is a decision
    over the votes, not one more label given (engine.consensus)."""
    query = (
        select(Annotation.annotator, func.count())
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(
            Example.project_id == project_id,
            col(Annotation.retracted_at).is_(None),
            Annotation.source != ADJUDICATION,
        )
        .group_by(Annotation.annotator)
    )
    if since is not None:
        query = query.where(col(Annotation.created_at) >= since)
    if until is not None:
        query = query.where(col(Annotation.created_at) < until)
    return {str(who): int(n) for who, n in session.exec(query).all()}
