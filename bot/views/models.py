"""Plain data the views render. The engine hands these over; views never query anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.rare import MIN_EXAMPLES

# What a label button or menu option carries back: the label's id (an int) when the engine
# gave one, else its name. Ids keep values short (a menu option's value holds 150 characters, a
# label's name up to 200) and survive renames; the flow turns them back into names.
LabelRef = str | int


@dataclass(frozen=True)
class LabelChoice:
    """One active label. `id` (when the engine has one) is what button values carry back."""

    name: str
    description: str | None = None
    id: int | None = None

    @property
    def key(self) -> str:
        """What a click sends back: the label id when known, else its name."""
        return str(self.id) if self.id is not None else self.name


@dataclass(frozen=True)
class Suggestion:
    """The model's guess for an example: a label name and its probability in [0, 1]."""

    label: str
    confidence: float
    runner_up: tuple[str, float] | None = None  # the model's second guess, when a contender


@dataclass(frozen=True)
class AskReason:
    """Why the queue asks: "cold_start", "rare" (more examples of ``label`` wanted) or
    "no_examples" (it may be ``label``, which has no example yet)."""

    kind: str
    label: str | None = None


@dataclass(frozen=True)
class EarlierLabel:
    """A label the example was given before a split (``into``: the parts) or a retire
    (``into`` None) sent it back to the queue, and who gave it."""

    label: str
    annotators: Sequence[str]
    into: Sequence[str] | None = None


@dataclass(frozen=True)
class ExampleCard:
    """Everything one labeling DM shows."""

    example_id: int
    text: str
    project: str
    labels: Sequence[LabelChoice]
    labeled_today: int = 0
    queue_left: int = 0
    suggestion: Suggestion | None = None
    earlier: Sequence[EarlierLabel] = ()  # why a labeled example is back in the queue
    reason: AskReason | None = None


@dataclass(frozen=True)
class ClassCount:
    label: str
    count: int


@dataclass(frozen=True)
class ProjectProgress:
    """One project's row on the App Home tab."""

    name: str
    labeled: int
    total: int
    class_counts: Sequence[ClassCount] = ()
    accuracy: float | None = None  # None until a model has been trained and evaluated
    project_id: int | None = None
    # The digest's figures (engine.digest.build_digest), so Home and digest never disagree.
    accuracy_low: float | None = None  # 90% interval, when measured on the audit set
    accuracy_high: float | None = None
    accuracy_source: str | None = None  # "audit" (unbiased) or "cv" (cross-validated)
    accuracy_measured_on: int | None = None  # audit labels an "audit" estimate rests on
    # the queue chose most of the model's training labels (hard cases first), so a
    # cross-validated figure reads low; not when they were imported (as the digest says)
    queue_chosen: bool = True
    model_version: int | None = None
    forecast: str | None = None  # one sentence: milestones, plateau, labels to the target
    # active labels with fewer than rare_minimum labels (the project's setting), rarest first:
    # `labelbot status`'s "too rare" list (engine.projects.project_status's "rare")
    rare_classes: Sequence[str] = ()
    rare_minimum: int = MIN_EXAMPLES
    agreement: str | None = None  # one sentence: kappa / alpha between experts, when measured
    open_reviews: int = 0  # likely mislabels waiting for a second expert
    # what the model's figures belong to (engine.digest.Digest.model_notes, as the digest and
    # `labelbot status` say it): "; v1 is pinned; trained before the latest taxonomy change..."
    model_notes: str = ""


@dataclass(frozen=True)
class HomeStats:
    """The App Home tab for one user."""

    user_id: str
    labeled_today: int
    labeled_total: int
    projects: Sequence[ProjectProgress] = field(default_factory=tuple)
    more_projects: int = 0  # projects not in ``projects`` (the engine shows a user's own first)
    closed_projects: int = 0  # projects a guest account may not use (not open to guests)


@dataclass(frozen=True)
class ModelVersion:
    """One row of `/label models`."""

    version: int
    trained: str  # "2025-01-31 09:00" (UTC)
    labels: int
    kind: str
    cv_accuracy: float | None
    audit_accuracy: float | None
    status: str
    active: bool = False
    pinned: bool = False
    held_back: str | None = None  # why a ready version was not promoted
    audit_n: int | None = None  # the audit labels ``audit_accuracy`` was measured on
    # trained before the project's latest taxonomy change (engine.taxonomy.trained_before): its
    # figures measured the labels as they were then
    before_taxonomy_change: bool = False
