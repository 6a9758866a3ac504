"""Projects and their labels (the taxonomy)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.errors import ConflictError, InvalidInputError, NotFoundError
from storage.models import Label, Project

# Matched with fullmatch: "$" would also match before a trailing newline ("name\n"). The refusal
# names the rule for the first character (a letter or digit): without it "_legal" was refused
# for characters it was told it may use.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def create_project(
    *,
    session: Session,
    name: str,
    labels: Sequence[str],
    channel_id: str | None = None,
    description: str = "",
    settings: dict[str, Any] | None = None,
) -> Project:
    """Create a project with its initial taxonomy; the name must be new."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid project name {name!r}: use ASCII letters (a-z, A-Z), digits, '_', '-' "
            "or '.', starting with a letter or digit (max 100)"
        )
    taken = ConflictError(f"project {name!r} already exists")
    if project_named(session=session, name=name) is not None:
        raise taken
    project = Project(
        name=name, channel_id=channel_id, description=description, settings=settings or {}
    )
    try:
        # two creates of one name at once (two replicas, two terminals): the second insert waits
        # for the first and loses on the unique name, answered like the check above
        with session.begin_nested():
            session.add(project)
    except IntegrityError:
        raise taken from None
    assert project.id is not None
    add_labels(session=session, project_id=project.id, names=labels)
    return project


def project_named(*, session: Session, name: str) -> Project | None:
    return session.exec(select(Project).where(Project.name == name)).first()


def get_project(*, session: Session, name: str) -> Project:
    project = project_named(session=session, name=name)
    if project is None:
        known = ", ".join(p.name for p in list_projects(session=session)) or "none yet"
        raise NotFoundError(f"no project named {name!r} (projects: {known})")
    return project


def get_project_by_id(*, session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError(f"no project with id {project_id}")
    return project


def list_projects(*, session: Session) -> list[Project]:
    return list(session.exec(select(Project).order_by(col(Project.id))).all())


def lock_project_row(*, session: Session, project_id: int) -> Project:
    """The project, re-read (``populate_existing``) under its row lock until the transaction
    ends: FOR NO KEY UPDATE on PostgreSQL (what an UPDATE of the row takes; rows that only
    refer to it go on), nothing on SQLite, whose write transactions are serial already."""
    project = session.exec(
        select(Project)
        .where(Project.id == project_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    if project is None:
        raise NotFoundError(f"no project with id {project_id}")
    return project


def share_project_row(*, session: Session, project_id: int) -> None:
    """Hold the project's row FOR KEY SHARE until the transaction ends (PostgreSQL; nothing on
    SQLite, whose write transactions are serial already): the lock a row referring to the
    project takes anyway. It waits for, and holds off, a change that locks the row FOR UPDATE
    (the taxonomy's), but not settings writes (FOR NO KEY UPDATE, ``lock_project_row``)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    query = select(Project.id).where(Project.id == project_id)
    session.exec(query.with_for_update(read=True, key_share=True)).all()


def update_project_settings(*, session: Session, project_id: int, **changes: Any) -> Project:
    """Merge ``changes`` into the project's settings JSON (a None value is stored as null).

    The JSON is one column, written back whole: the read and the merge happen under the
    project's row lock, or two writers of different keys (a digest marked sent while an admin
    saves a setting) would each write back what they read, and one change would be lost.
    FOR NO KEY UPDATE is the lock the UPDATE takes anyway: clicks and imports, which only
    refer to the row, go on. ``populate_existing`` re-reads a copy the session loaded before
    the lock. SQLite's write transactions are serial already."""
    project = lock_project_row(session=session, project_id=project_id)
    project.settings = {**project.settings, **changes}
    session.add(project)
    session.flush()
    return project


def reset_project_settings(*, session: Session, project_id: int, keys: list[str]) -> Project:
    """Remove ``keys`` from the project's settings JSON, so that their defaults apply again
    (under the row lock, as :func:`update_project_settings` writes it)."""
    project = lock_project_row(session=session, project_id=project_id)
    project.settings = {k: v for k, v in project.settings.items() if k not in keys}
    session.add(project)
    session.flush()
    return project


def set_project_channel(*, session: Session, project_id: int, channel_id: str | None) -> None:
    project = get_project_by_id(session=session, project_id=project_id)
    project.channel_id = channel_id
    session.add(project)


def label_key(name: str) -> str:
    """A label name as stored: NFC ("é" typed as one code point or as "e" + a combining accent
    is one label, not two) and single spaces. Lookups go through it too."""
    return " ".join(unicodedata.normalize("NFC", name).split())


# Characters a name keeps but that show nothing of their own: ZWNJ and ZWJ (Persian words and
# emoji sequences need them) and the variation selectors, which only pick a glyph's style
# ("😀" draws the same with U+FE0F after it). Names differing only in them look alike.
_UNSEEN = dict.fromkeys([0x200C, 0x200D, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def label_fold(name: str) -> str:
    """What two label names that look alike share: case and compatibility forms folded away
    ("Lease", "lease", "LEASE" and full-width "Ｌｅａｓｅ" all give "lease"), joiners and
    variation selectors dropped ("A", a ZWNJ, "B" gives "ab"). Two labels of a project never
    share it: on a button or in a menu they could not be told apart. Computed, never stored:
    a change here applies to every label already there."""
    unseen_gone = unicodedata.normalize("NFKC", label_key(name).translate(_UNSEEN))
    return " ".join(unseen_gone.split()).casefold()


def how_alike(name: str, other: str) -> str:
    """What two names with one :func:`label_fold` differ in, for a refusal."""

    def folded(text: str) -> str:
        return unicodedata.normalize("NFKC", text).casefold()

    if folded(name) == folded(other):
        return "case or width"
    if name.translate(_UNSEEN) == other.translate(_UNSEEN):
        return "a joiner or variation selector, which does not show"
    return "case, width and a joiner or variation selector, which does not show"


def _clean_label(name: str) -> str:
    clean = label_key(name)
    if not clean:
        raise InvalidInputError("a label name cannot be empty")
    if not label_fold(clean):
        raise InvalidInputError(
            f"a label name cannot be empty: {clean!r} is only joiners or variation selectors, "
            "which show nothing"
        )
    if len(clean) > 200:
        raise InvalidInputError(f"label name too long ({len(clean)} > 200): {clean[:40]!r}...")
    return clean


def add_labels(
    *,
    session: Session,
    project_id: int,
    names: Sequence[str],
    descriptions: Sequence[str] | None = None,
) -> list[Label]:
    """Append labels to a project's taxonomy; a name already there (active or not) is a conflict."""
    cleaned = [_clean_label(n) for n in names]
    folded = [label_fold(n) for n in cleaned]
    if len(set(folded)) != len(folded):
        dupes = sorted({n for n, f in zip(cleaned, folded, strict=True) if folded.count(f) > 1})
        raise InvalidInputError(
            f"duplicate label names: {', '.join(dupes)} (names that differ only in case, "
            "width, a joiner or a variation selector look alike on a button)"
        )
    existing = {
        label_fold(label.name): label
        for label in list_labels(session=session, project_id=project_id, active_only=False)
    }
    taken = [(n, existing[f]) for n, f in zip(cleaned, folded, strict=True) if f in existing]
    if taken:
        raise ConflictError("; ".join(name_taken(n, label) for n, label in taken))
    start = session.exec(
        select(func.coalesce(func.max(Label.position), -1)).where(Label.project_id == project_id)
    ).one()
    labels = [
        Label(
            project_id=project_id,
            name=name,
            description=(descriptions[i] if descriptions else ""),
            position=int(start) + 1 + i,
        )
        for i, name in enumerate(cleaned)
    ]
    session.add_all(labels)
    session.flush()
    return labels


def list_labels(*, session: Session, project_id: int, active_only: bool = True) -> list[Label]:
    query = select(Label).where(Label.project_id == project_id)
    if active_only:
        query = query.where(col(Label.active).is_(True))
    return list(session.exec(query.order_by(col(Label.position), col(Label.id))).all())


def look_alike(
    *, session: Session, project_id: int, name: str, besides: int | None = None
) -> Label | None:
    """The project's label (active or retired) whose name looks like ``name`` (the same
    :func:`label_fold`), other than label ``besides``; None if none."""
    fold = label_fold(name)
    return next(
        (lb for lb in list_labels(session=session, project_id=project_id, active_only=False)
         if label_fold(lb.name) == fold and lb.id != besides),
        None,
    )  # fmt: skip


def name_taken(name: str, label: Label) -> str:
    """Why ``name`` cannot be given: ``label`` has it, or a name that looks like it."""
    alike = (
        ""
        if label.name == name
        else f" ({label.name!r}: it differs only in {how_alike(name, label.name)})"
    )
    if label.active:
        return f"label {name!r} already exists{alike}"
    return (
        f"a retired label has the name {name!r}{alike}: retired labels (also those merged or "
        "split) keep their names for the history; choose another name (or undo the change "
        "that retired it, if it was the last change)"
    )


def get_label(*, session: Session, project_id: int, name: str) -> Label:
    """The label called ``name``; an unknown name is an input error listing the valid ones."""
    label = session.exec(
        select(Label).where(Label.project_id == project_id, Label.name == label_key(name))
    ).first()
    if label is None:
        known = ", ".join(lb.name for lb in list_labels(session=session, project_id=project_id))
        raise InvalidInputError(f"unknown label {name!r} (labels: {known})")
    return label
