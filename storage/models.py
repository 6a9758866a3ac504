"""SQLModel tables: the whole persistent state of labelbot.

Nothing is ever deleted by the labeling flow: an undone annotation is marked ``retracted_at``, an
expired assignment is marked ``expired``, a retired label is ``active = False`` (merged ones keep
``mapped_to_id``), and every taxonomy change is a ``LabelEvent``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

# The largest id a row can have: PostgreSQL's INTEGER (SQLite refuses only past 2**63). A larger
# one, typed or on a Slack button made up by hand, names no row, and is answered so before the
# database is asked (which would refuse the query).
ID_MAX = 2**31 - 1


def utcnow() -> datetime:
    """Timezone-aware UTC now (SQLModel stores aware datetimes and returns them in UTC)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as UTC-aware (SQLite gives it back naive, in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Project(SQLModel, table=True):
    # SQLite: no table hands an id out twice (AUTOINCREMENT; migrations 0014 and 0016), not even
    # the ids of a deleted project's rows, which buttons on old Slack messages still carry
    __tablename__ = "projects"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    description: str = ""
    channel_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    # Per-project knobs (strategy, batch size, retrain threshold, ...): schema-free on purpose.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Label(SQLModel, table=True):
    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_labels_project_name"),
        # SQLite: an id is never handed out again (migration 0014), not even the id of a label
        # an undo removed, which a button still on screen or a model's class may carry
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=200)
    description: str = ""
    active: bool = True
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    # Where a retired label's annotations count now: the merge (or retire) target, always an
    # active label (kept so when that target changes in turn). None on an inactive label means
    # its examples wait to be labeled again (a split, or a retire without a mapping).
    mapped_to_id: int | None = Field(default=None, foreign_key="labels.id")


class Example(SQLModel, table=True):
    __tablename__ = "examples"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash", name="uq_examples_project_hash"),
        Index("ix_examples_project_external", "project_id", "external_id"),
        # a project's examples in id order: the queue left counts only those added since
        Index("ix_examples_project_id_order", "project_id", "id"),
        # an audit pick: a uniform number maps to one example (migration 0023)
        Index("ix_examples_project_seq", "project_id", "seq"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id")
    external_id: str | None = Field(default=None, max_length=200)
    text: str
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    # Drawn uniformly at random for the audit stream: its label evaluates models, never trains them.
    audit: bool = False
    # Its number in the project, 1, 2, ... in id order (examples are never deleted): an audit
    # pick draws a number instead of counting the project. None on a row a labelbot before
    # migration 0023 stored; the next import numbers it.
    seq: int | None = None


class Annotation(SQLModel, table=True):
    __tablename__ = "annotations"
    # "labels today" on every labeling message: one expert's recent labels, not every example
    __table_args__ = (
        Index("ix_annotations_annotator_created", "annotator", "created_at"),
        # the queue left: a project's labeled examples from its labels' live annotations alone,
        # and how many of its annotations were retracted, without reading the rows
        Index("ix_annotations_label_retracted", "label_id", "retracted_at", "example_id"),
        # the retracted ones alone (few): the queue left counts a project's retracted labels on
        # every labeling message, and PostgreSQL read every annotation for it (migration 0024)
        Index(
            "ix_annotations_retracted",
            "label_id",
            sqlite_where=text("retracted_at IS NOT NULL"),
            postgresql_where=text("retracted_at IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(foreign_key="examples.id", index=True)
    label_id: int = Field(foreign_key="labels.id")
    annotator: str = Field(max_length=200)
    source: str = Field(max_length=20)  # slack | cli | import | simulation
    created_at: datetime = Field(default_factory=utcnow)
    # The same click recorded twice (a Slack retry, a double click) stores one row.
    idempotency_key: str = Field(max_length=255, unique=True)
    retracted_at: datetime | None = None


class Comment(SQLModel, table=True):
    __tablename__ = "comments"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(foreign_key="examples.id", index=True)
    author: str = Field(max_length=200)
    text: str
    created_at: datetime = Field(default_factory=utcnow)
    # e.g. "slack:<channel>:<ts>", so a redelivered thread reply is stored once.
    external_key: str | None = Field(default=None, max_length=255, unique=True)


class ModelRun(SQLModel, table=True):
    __tablename__ = "model_runs"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_model_runs_version"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    version: int
    created_at: datetime = Field(default_factory=utcnow)
    n_labels: int = 0
    kind: str = Field(default="linear", max_length=20)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The label names in class-index order, as the artifact's outputs are ordered.
    classes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The ids of those labels, in the same order: what each class is for good, whatever the
    # names become (two labels may swap names). None on runs recorded before they were kept
    # (migration 0013): those are resolved from the rename history.
    label_ids: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    artifact_path: str | None = None
    status: str = Field(default="training", max_length=20)  # training | ready | failed
    is_active: bool = False
    # The id of the project's newest taxonomy change (LabelEvent) when this run's predictions
    # were last written, all of them (0: none yet); while it is still the newest, every stored
    # row names today's labels (an export reads them as stored). None until written since 0022.
    rows_named_at: int | None = None


class Prediction(SQLModel, table=True):
    """The active model's view of one example, and the example's place in the labeling queue."""

    __tablename__ = "predictions"

    example_id: int = Field(foreign_key="examples.id", primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    model_run_id: int | None = Field(default=None, foreign_key="model_runs.id")
    label: str | None = Field(default=None, max_length=200)
    confidence: float | None = None
    # Top classes as [[label, probability], ...], highest first.
    probs: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The label each of ``probs``' classes was, as [[label id, ...], top name, top probability]:
    # a row is named as at its writing, and names move (a rename, two labels swapping names, an
    # old name given to a new label). None on rows written before migration 0022; a row that a
    # labelbot before 0022 rewrote keeps the ids of its earlier writing, whose top class then
    # no longer matches ``probs``' (readers check: engine.predicting.stored_top).
    class_ids: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    uncertainty: float = 0.0
    # Higher is asked sooner: the query strategy's batch first, then by uncertainty.
    priority: float = 0.0
    # Why the queue asks about it, for the batch's picks: {"kind": "cold_start"}, {"kind":
    # "strategy", "strategy": name}, {"kind": "rare" | "no_examples", "label": name, "label_id":
    # id} (no id on rows written before 2026-12-05); None beyond.
    reason: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow)


# The labeling queue's order (priority first, ties by example id): a claim walks it and stops at
# the first free example (storage.repositories.assignments), without sorting the project.
Index(
    "ix_predictions_queue",
    col(Prediction.project_id),
    col(Prediction.priority).desc(),
    col(Prediction.example_id),
)


class Assignment(SQLModel, table=True):
    """An example out with one expert. At most one *open* assignment per example (partial index)."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index(
            "uq_assignments_open_example",
            "example_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_assignments_annotator_status", "annotator", "status"),
        # every click: the project's overdue deliveries and the expert's open one, read among
        # the open assignments only (migration 0023)
        Index(
            "ix_assignments_open_expiry",
            "project_id",
            "expires_at",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(
            "ix_assignments_open_annotator",
            "project_id",
            "annotator",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # how many deliveries so far: the project's highest number, and the expert's
        Index("ix_assignments_labeling_number", "project_id", "labeling_number"),
        Index("ix_assignments_annotator_number", "project_id", "annotator", "annotator_number"),
        # a project's audit picks (the audit set), without reading its other deliveries
        # (migration 0024)
        Index("ix_assignments_project_purpose", "project_id", "purpose"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    example_id: int = Field(foreign_key="examples.id", index=True)
    annotator: str = Field(max_length=200)
    status: str = Field(default="open", max_length=20)  # open | done | skipped | expired | released
    purpose: str = Field(default="queue", max_length=20)  # queue (the strategy's pick) | audit
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    # Where the example was delivered (e.g. a Slack channel + message ts), for updating it later.
    channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = None
    # Deliveries counted as they are made (migration 0023), so a click need not count them all:
    # a labeling delivery's number among the project's labeling deliveries (the audit slot),
    # and any delivery's number among the ones to its expert in the project (the review turn).
    # None where a labelbot before 0023 (or a review's own claim) made it: not counted.
    labeling_number: int | None = None
    annotator_number: int | None = None


class Flag(SQLModel, table=True):
    """An example an expert flagged (with a reason); it leaves the queue until resolved."""

    __tablename__ = "flags"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(foreign_key="examples.id", index=True)
    annotator: str = Field(max_length=200)
    reason: str
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=200)


class Lease(SQLModel, table=True):
    """One process at a time for a named piece of work (e.g. ``train:<project>``)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=200)
    owner: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


# --- Chat delivery bookkeeping (the Slack bot) -------------------------------------------------


class ProcessedEvent(SQLModel, table=True):
    """An Events API delivery already handled: Slack redelivers an event it thinks timed out,
    with the same ``event_id``, so one row per id makes handling exactly-once."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """A Web API call (e.g. ``chat.postMessage``) that could not be delivered yet; retried later."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_message_key", "message_key"),
        Index("ix_outbox_lane_status", "lane", "status"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    method: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # When the call delivers an example, the assignment to record the message on once sent.
    assignment_id: int | None = Field(default=None, foreign_key="assignments.id")
    # When the call rewrites a message whole (chat.update), that message (channel and ts): a
    # newer call with the same key supersedes this one, and it is never sent after that.
    message_key: str | None = Field(default=None, max_length=128)
    # The queue the call waits its turn in (None: none, sent whenever due): the conversation
    # for a new message, ``message_key`` for an edit. A call of a lane is sent only once every
    # call queued in it before is done with, so a conversation's messages (a message's edits)
    # go out one at a time, in the order they were queued, across replicas.
    lane: str | None = Field(default=None, max_length=128)
    status: str = Field(default="pending", max_length=20)  # pending | sent | dead | dropped
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    # For a call with a message_key, when it was first tried: what orders it among the calls
    # to the same message (queued in another order when their retries took longer).
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    # While a flusher sends the call (claimed, on the database's clock): a claimed call is not
    # dropped under it (a newer edit, a delivery made another way), so that the call after it
    # in its lane waits until it is done.
    claimed_until: datetime | None = None
    sent_at: datetime | None = None


class DiscussionThread(SQLModel, table=True):
    """A chat thread about one example (``channel`` + the root message's ``thread_ts``), so
    replies in it become comments on that example."""

    __tablename__ = "discussion_threads"
    __table_args__ = (
        UniqueConstraint("channel", "thread_ts", name="uq_discussion_threads_ts"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(foreign_key="examples.id", index=True)
    channel: str = Field(max_length=64)
    thread_ts: str = Field(max_length=64)
    kind: str = Field(default="team", max_length=20)  # team (project channel) | dm
    opened_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ReplyRecord(SQLModel, table=True):
    """What the chat said lately about one thread reply, by the comment key it has or would
    have (``Comment.external_key``), whichever of its events came first: Slack may deliver a
    reply's deletion or edit before the reply itself (out of order, or the reply redelivered
    after). A deleted reply's record is its tombstone, so the reply arriving after is not
    stored. Kept a while after its last event, then pruned."""

    __tablename__ = "reply_records"

    external_key: str = Field(primary_key=True, max_length=255)
    deleted: bool = False
    # An edit that came before its reply: the text the comment is to have (None once it has it).
    text: str | None = None
    # When the latest edit applied was made, so that an older one delivered late is not applied.
    edited_at: datetime | None = None
    seen_at: datetime = Field(default_factory=utcnow, index=True)


# --- The taxonomy's change history ---------------------------------------------------------------


class LabelEvent(SQLModel, table=True):
    """One change to a project's taxonomy (add, rename, describe, merge, split, retire): who,
    when, why, and what (``details``: the label ids and names involved, as they were then)."""

    __tablename__ = "label_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    kind: str = Field(max_length=20)  # add | rename | describe | merge | split | retire | undo
    actor: str = Field(max_length=200)
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# --- Taxonomy-change proposals from the model ------------------------------------------------


class TaxonomyProposal(SQLModel, table=True):
    """A merge, split, addition or rare-label suggestion with its evidence, and its fate.

    One open row per ``(project, key)`` (partial index): a refresh updates the evidence of the
    open row for the same key, and marks open rows it no longer finds ``superseded``. A decided
    row is kept: its ``evidence_strength`` holds the proposal back until the evidence grows.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        Index(
            "uq_proposals_open_key",
            "project_id",
            "key",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_proposals_project_status", "project_id", "status"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id")
    kind: str = Field(max_length=20)  # merge | split | add | rare
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The detector's key as JSON (e.g. '["merge", "A", "B"]'): stable across refreshes.
    key: str = Field(max_length=600)
    score: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evidence_strength: float = 0.0
    message: str = ""
    status: str = Field(default="open", max_length=20)  # open|approved|rejected|applied|superseded
    # How many refreshes have found it (one that reopens it included): the bot posts it once a
    # second one does, or once it has stood for an hour (engine.proposing.unposted).
    times_found: int = Field(default=1, sa_column_kwargs={"server_default": "2"})
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = None
    reason: str = ""  # why it was rejected, or what approving it did
    # The taxonomy change that approving it applied (None for "gather more" and undecided ones).
    label_event_id: int | None = Field(default=None, foreign_key="label_events.id")
    # Where the bot posted it (a Slack channel + message ts), to update the message later.
    channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=64)
    # A digest of what that message shows (the bot's rendering): a refresh that changes it, or
    # supersedes the proposal, gets the message updated once. None: not posted yet.
    message_hash: str | None = Field(default=None, max_length=64)


# --- The model reviews the humans: mislabel reviews and second opinions --------------------------


class Review(SQLModel, table=True):
    """An annotation the model confidently disagrees with, queued for a second expert.

    One row per ``(annotation, suggested label)``, whatever its status: a review a person decided
    is never re-opened by a later scan (one a change withdrew is, when its question stands
    again). The reviewed annotation stays as it was; the outcome is recorded here (and a
    "change" adds the reviewer's own annotation, source ``review``).
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("annotation_id", "suggested_label_id", name="uq_reviews_suggestion"),
        Index("ix_reviews_project_status", "project_id", "status"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id")
    example_id: int = Field(foreign_key="examples.id", index=True)
    annotation_id: int = Field(foreign_key="annotations.id")
    annotator: str = Field(max_length=200)  # who gave the reviewed label
    given_label_id: int = Field(foreign_key="labels.id")
    suggested_label_id: int = Field(foreign_key="labels.id")
    confidence: float = 0.0  # out-of-fold probability of the suggested label
    margin: float = 0.0  # p(suggested) - p(given): the ranking key
    model_version: int | None = None  # the active model when the scan ran
    status: str = Field(default="open", max_length=20)  # open | kept | changed | dismissed
    created_at: datetime = Field(default_factory=utcnow)
    # The delivery now (or last) out with a reviewer: an assignment with purpose "review".
    assignment_id: int | None = Field(default=None, foreign_key="assignments.id")
    reviewer: str | None = Field(default=None, max_length=200)
    outcome_label_id: int | None = Field(default=None, foreign_key="labels.id")
    outcome_annotation_id: int | None = Field(default=None, foreign_key="annotations.id")
    decided_at: datetime | None = None
    # The same decision recorded twice (a Slack retry, a double click) stores one outcome.
    decision_key: str | None = Field(default=None, max_length=255, unique=True)


# MultiLabelRequest.reason of an example set aside as fitting no label until an approved "add"
# gave it one (engine.proposing): it waits for a label, not for a second opinion.
NEW_LABEL_REQUEST = "new_label"


class MultiLabelRequest(SQLModel, table=True):
    """An example that ``k`` different experts should label (chosen when its first label came):
    it stays in the queue, for experts who have not labeled it, until ``k`` of them have."""

    __tablename__ = "multi_label_requests"
    __table_args__ = (
        Index(
            "ix_multi_label_requests_pending",
            "project_id",
            sqlite_where=text("pending = 1"),
            postgresql_where=text("pending"),
        ),
    )

    example_id: int = Field(foreign_key="examples.id", primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    k: int = 2
    reason: str = Field(default="sample", max_length=20)  # sample | audit | NEW_LABEL_REQUEST
    created_at: datetime = Field(default_factory=utcnow)
    # May still want opinions (migration 0023): False once ``k`` experts gave one, so the queue
    # looks at the few pending requests only. A vote retracted or changed, or a label of the
    # project split or retired (it stops counting), makes it True again (database triggers,
    # whichever labelbot writes); the queue settles it again (``assignments.settle_requests``).
    pending: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


# --- The busy expert's rhythm: per-person preferences and the one-message-a-day cap --------------


class Person(SQLModel, table=True):
    """One expert's rhythm: time zone, quiet hours, daily nudge, snooze, leaderboard opt-out, and
    when labelbot last wrote to them unasked (at most once a day: engine.rhythm)."""

    __tablename__ = "people"

    user_id: str = Field(primary_key=True, max_length=200)  # the Slack user id
    tz: str | None = Field(default=None, max_length=64)  # IANA name, from users.info
    # Minutes after local midnight; quiet hours may wrap midnight (start > end).
    quiet_start: int | None = None
    quiet_end: int | None = None
    nudge_at: int | None = None  # the opt-in daily nudge; None: off
    snoozed_until: datetime | None = None
    last_unsolicited_at: datetime | None = None
    leaderboard: bool = True  # shown in the weekly leaderboard
    # when they last opened the App Home tab: a new model refreshes it for recent viewers
    home_opened_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class LabelingBatch(SQLModel, table=True):
    """A "Label 5 now" batch an expert is working through: how many answers are left and the
    tally for the summary at its end. In the database, so that with several bot replicas the
    click that ends a batch is counted wherever it lands. The row stays (remaining 0) after the
    batch ends, until a plain `/label`, a new batch or BATCH_TTL, so that an answer after its
    summary (the relabel of one undone) is told apart from one outside any batch: it counts
    nothing and asks for no next example."""

    __tablename__ = "labeling_batches"

    project_id: int = Field(foreign_key="projects.id", primary_key=True)
    user_id: str = Field(primary_key=True, max_length=200)
    size: int
    remaining: int
    done: int = 0
    compared: int = 0  # answers given where a model had a view
    agreed: int = 0  # of those, the ones that agreed with it
    started_at: datetime = Field(default_factory=utcnow)
