"""Deleting a project with every row that belongs to it (`labelbot project delete`).

A project's rows are those of every table with a ``project_id`` (labels, examples, model runs,
predictions, assignments, the taxonomy's history, proposals, reviews, multi-label requests,
labeling batches), and those reached through them: its examples' annotations, comments, flags
and discussion threads, its assignments' outbox messages, the reply records of its comments,
and the leases named for it (``train:NAME``, ``deliver:USER:NAME``, ...: every lease named for
a project ends in ``:NAME``, and project names hold no ``:``; a project named with digits only,
refused since, would also match an example's claim such as ``dispute:12``, held for seconds).

Not a project's, and left alone: ``people`` (an expert's rhythm, across projects), Slack event
ids, outbox messages tied to no assignment (a payload says nothing reliable about a project),
and reply records of replies never stored as comments (an edit or deletion that came first:
nothing ties them to a thread; they are pruned two days after their last event).

Everything goes in the caller's one transaction, children before parents, so a failure at any
statement leaves every row as it was. On PostgreSQL the project's row, examples and
assignments are locked first (FOR UPDATE): a click, an import or a training that would add a
row referring to them waits for the delete, then finds them gone, instead of the delete failing
on a row added half-way. SQLite's write transactions are serial already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlmodel import Session, col

from storage.db import rowcount
from storage.errors import NotFoundError
from storage.models import (
    Annotation,
    Assignment,
    Comment,
    DiscussionThread,
    Example,
    Flag,
    Label,
    LabelEvent,
    LabelingBatch,
    Lease,
    ModelRun,
    MultiLabelRequest,
    OutboxMessage,
    Prediction,
    Project,
    ReplyRecord,
    Review,
    TaxonomyProposal,
)


@dataclass(frozen=True)
class Contents:
    """What a project holds, in the words `status` uses."""

    examples: int
    annotations: int  # labels given (live: undone ones are not counted)
    comments: int
    model_versions: int
    open_proposals: int


@dataclass(frozen=True)
class DeletedRows:
    """What :func:`delete_project` deleted: the project's contents as they were, the rows
    deleted per table (in the order deleted) and its model runs' files as stored
    (``ModelRun.artifact_path``), for the caller to remove once the deletion is committed."""

    contents: Contents
    tables: tuple[tuple[str, int], ...]
    artifacts: tuple[str, ...]
    model_runs: frozenset[int] = frozenset()  # the ids of its model runs

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def project_contents(*, session: Session, project_id: int) -> Contents:
    """Counts of what the project holds (what a deletion would remove)."""
    examples = select(col(Example.id)).where(col(Example.project_id) == project_id)

    def count(model: Any, *where: Any) -> int:
        query = select(func.count()).select_from(model).where(*where)
        return int(session.execute(query).scalar_one())

    return Contents(
        examples=count(Example, col(Example.project_id) == project_id),
        annotations=count(
            Annotation,
            col(Annotation.example_id).in_(examples),
            col(Annotation.retracted_at).is_(None),
        ),
        comments=count(Comment, col(Comment.example_id).in_(examples)),
        model_versions=count(ModelRun, col(ModelRun.project_id) == project_id),
        open_proposals=count(
            TaxonomyProposal,
            col(TaxonomyProposal.project_id) == project_id,
            col(TaxonomyProposal.status) == "open",
        ),
    )


def delete_project(*, session: Session, project_id: int) -> DeletedRows:
    """Delete project ``project_id`` and every row that belongs to it (see the module
    docstring), in the session's transaction; NotFoundError when there is no such project."""
    name = session.execute(
        select(col(Project.name)).where(col(Project.id) == project_id).with_for_update()
    ).scalar_one_or_none()
    if name is None:
        raise NotFoundError(f"no project with id {project_id}")
    examples = select(col(Example.id)).where(col(Example.project_id) == project_id)
    assignments = select(col(Assignment.id)).where(col(Assignment.project_id) == project_id)
    labels = select(col(Label.id)).where(col(Label.project_id) == project_id)
    # the rows others would add references to, locked before anything is deleted (PostgreSQL)
    session.execute(examples.with_for_update()).all()
    session.execute(assignments.with_for_update()).all()
    contents = project_contents(session=session, project_id=project_id)
    runs = session.execute(
        select(col(ModelRun.id), col(ModelRun.artifact_path))
        .where(col(ModelRun.project_id) == project_id)
        .order_by(col(ModelRun.version))
    ).all()
    comment_keys = select(col(Comment.external_key)).where(
        col(Comment.example_id).in_(examples), col(Comment.external_key).is_not(None)
    )

    def of_project(model: Any) -> Any:  # its project_id, or one of its examples
        return or_(col(model.project_id) == project_id, col(model.example_id).in_(examples))

    steps: tuple[tuple[Any, Any], ...] = (
        (OutboxMessage, col(OutboxMessage.assignment_id).in_(assignments)),
        (Review, of_project(Review)),
        (Prediction, of_project(Prediction)),
        (MultiLabelRequest, of_project(MultiLabelRequest)),
        (LabelingBatch, col(LabelingBatch.project_id) == project_id),
        (Flag, col(Flag.example_id).in_(examples)),
        (ReplyRecord, col(ReplyRecord.external_key).in_(comment_keys)),  # before the comments
        (Comment, col(Comment.example_id).in_(examples)),
        (DiscussionThread, col(DiscussionThread.example_id).in_(examples)),
        (
            Annotation,
            or_(col(Annotation.example_id).in_(examples), col(Annotation.label_id).in_(labels)),
        ),
        (Assignment, of_project(Assignment)),
        (TaxonomyProposal, col(TaxonomyProposal.project_id) == project_id),
        (LabelEvent, col(LabelEvent.project_id) == project_id),
        (ModelRun, col(ModelRun.project_id) == project_id),
        (Example, col(Example.project_id) == project_id),
        # a retired label's mapped_to_id names another of the project's labels: the statement
        # deletes them together, and the foreign key is checked at its end
        (Label, col(Label.project_id) == project_id),
        (Project, col(Project.id) == project_id),
        (Lease, col(Lease.name).in_(_lease_names(session, name))),
    )
    tables = []
    for model, where in steps:
        result = session.execute(delete(model).where(where))
        tables.append((str(model.__tablename__), rowcount(result)))
    return DeletedRows(
        contents=contents,
        tables=tuple(tables),
        artifacts=tuple(str(path) for _, path in runs if path),
        model_runs=frozenset(int(run_id) for run_id, _ in runs),
    )


def _lease_names(session: Session, project: str) -> list[str]:
    """The leases named for ``project``: their name's last ``:``-part is its name. Read and
    matched here (the table holds a few rows: lapsed ones are pruned after a day), since LIKE
    ignores case on SQLite and "Bank" is another project than "bank"."""
    names = session.execute(select(col(Lease.name))).scalars()
    return [n for n in names if ":" in n and n.rsplit(":", 1)[1] == project]
