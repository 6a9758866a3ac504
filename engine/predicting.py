"""Predictions for texts, consistent with the ones the project stores (queue, export).

A text already in the project's pool gets the prediction stored for it by the active model: the
one the export shows. Computed afresh it could differ: a blend model scores its own pool with the
label spreading it was trained with (each example's own row of the spread), while a text from
outside takes the spread of its nearest pool neighbours (``engine.classifier``), so a pool text
sent back through predict moved by up to 0.23 in confidence and, rarely, changed label. Texts
the project does not hold, or whose stored prediction is from another model, are predicted by
the active model as before. A stored row keeps the model's top :data:`training.TOP_K` classes:
asked for more, a pool text still answers the stored label at its stored confidence (what the
export shows), and the classes beyond the stored ones come from a fresh prediction.

A stored row names the classes as they were called when it was written, and records the label
each one was (``Prediction.class_ids``); answered (and exported: :func:`stored_top`), they are
today's labels, as a fresh prediction names them: a label renamed since under its new name (also
where its old name went to another label), labels merged since as the label they were merged
into (their stored probabilities added), so the stored rows need no re-scoring to answer in
today's labels. Only where a row's stored classes say what the queue's re-score will write:
a row keeps the top five classes, and a merged label whose classes it left out (or whose
rounded probabilities it adds up) is scored live, as the re-score will score it
(:class:`Merges`), so export and predict say the same before the re-score and after.

Many texts (`labelbot predict` on a file) are answered a chunk at a time by :class:`Answering`,
every chunk by the model it read first: after a promotion meanwhile, the stored predictions are
the new model's, so the rest of the file's pool texts are predicted afresh by the first.

A label the model had no labeled example of (added, or a split's halves, while their examples
wait in the queue) is never its answer, yet the model gives it a share of every text's
probability (``engine.classifier.unseen_share``): always the same, ~0.11 for two such labels
of nine, which put it in every ``top`` before the real runners-up. Such labels are left out of
``top``, and the notes name them (:meth:`Answering.notes`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from engine import taxonomy, training
from engine.training import TextPrediction
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, LabelbotError
from storage.hashing import content_hash
from storage.models import ModelRun, Prediction
from storage.repositories import examples, models, projects
from storage.repositories import taxonomy as taxonomy_repo

__all__ = [
    "CHUNK",
    "Answer",
    "Answering",
    "Merges",
    "answer",
    "answer_notes",
    "merges_since",
    "named_all_as_rescored",
    "named_as_rescored",
    "predict_texts",
    "stored_top",
]


# Texts answered at a time when a caller streams many (`labelbot predict` on a file): one
# chunk's rows, vectors (2,000 x 384 float32: 3 MB) and predictions in memory, not the file's.
CHUNK = 2_000
TOP_K = 3  # labels in each answer's top, unless the caller asks for more or fewer

_T = TypeVar("_T")


@dataclass(frozen=True)
class Answer:
    """One request's predictions, all by model v``version``, and what that model cannot
    answer yet (:func:`answer_notes`)."""

    predictions: list[TextPrediction]
    notes: list[str]
    version: int


class Answering:
    """The project's active model, read once, answering any number of texts a chunk at a time:
    a model promoted meanwhile (a retrain, a rollback) answers the next request, not the rest
    of this one. Raises as :func:`training.answering_model` does (no model yet: a conflict).

    ``top_k``: the labels in each answer's ``top`` (default :data:`TOP_K`); asked for, it is 1
    to the project's number of labels (InvalidInputError otherwise). Labels the model had no
    labeled example of are never in it (:attr:`untrained`), so it may hold fewer.

    :meth:`answer` reads the database and encodes; a caller that bounds its wait for the
    database (the REST API) calls its parts instead: :meth:`stored` (the database),
    :meth:`fresh` (encoding only: today's label names are read with the model), :meth:`combined`."""

    def __init__(self, ws: Workspace, name: str, *, top_k: int | None = None) -> None:
        if top_k is not None:
            _check_top_k(ws, name, top_k)
        self._ws, self._name, self._top_k = ws, name, TOP_K if top_k is None else top_k
        self.run, self._model = training.answering_model(ws, name)  # its file, its encoder
        run = self.run
        self._names_now = now = taxonomy.names_now(
            ws, project=name, names=run.classes, as_of=run.created_at, label_ids=run.label_ids
        )
        # the names it answers under, as training.predict_with gives them
        sources = [n or old for n, old in zip(now, run.classes, strict=True)]
        self._today = _today_names(ws, name, run.classes, sources)
        self._targets = label_targets(ws, name)  # rows that record their labels' ids
        # text -> its stored prediction that keeps fewer classes than asked (:meth:`stored`)
        self._partial: dict[str, TextPrediction] = {}
        absent = self._model.absent()
        learned = {s for s, a in zip(sources, absent, strict=True) if not a}
        names = list(dict.fromkeys(sources))
        self.untrained = [n for n in names if n not in learned]
        self._answerable = len(names) - len(self.untrained)
        # labels merged since the stored rows were scored: a pool text whose stored classes
        # cannot say what the re-score will write is scored as the re-score will (:meth:`fresh`)
        self._merges = merges_since(ws, name, run, self._model)
        self._live: dict[str, int] = {}  # text -> its example, to score so

    @property
    def version(self) -> int:
        return self.run.version

    def answer(self, texts: list[str]) -> list[TextPrediction]:
        """``texts`` classified: a text already in the project gets its stored prediction of
        this model (what the export shows), the others a fresh one."""
        stored = self.stored(texts)
        return self.combined(texts, stored, self.fresh(_unstored(texts, stored)))

    def stored(self, texts: list[str]) -> dict[int, TextPrediction]:
        """Index in ``texts`` → this model's stored prediction, for the texts the project holds
        (a read of the database, no encoding). A stored row that keeps fewer classes than
        ``top_k`` asks for is left out: the text goes to :meth:`fresh` for the classes beyond,
        and :meth:`combined` answers it with the stored label and confidence all the same."""
        self._live = {}
        found = _stored(self._ws, self._name, texts, run=self.run, today=self._today,
                        targets=self._targets, exact=self._exact, live=self._live)  # fmt: skip
        if self._live and self._merges is not None:
            self._merges.prepare(self._ws)  # the database read it may need, here
        out = {}
        self._partial = {}
        for i, said in found.items():
            kept = self._shown(said)
            if len(kept.top) >= min(self._top_k, self._answerable):
                out[i] = kept
            else:  # the stored row keeps only the top classes: more were asked for
                self._partial[texts[i]] = kept
        return out

    def fresh(self, texts: list[str]) -> list[TextPrediction]:
        """``texts`` predicted afresh: encoded (however long that takes); no database read (the
        labels' names were read with the model). A pool text whose stored row cannot say what
        the queue's re-score will write after a merge (:meth:`stored` left it out) gets that
        row, scored as the re-score will score it (:class:`Merges`)."""
        ws, name, run, model = self._ws, self._name, self.run, self._model
        live = [t for t in texts if t in self._live]
        answered: dict[str, TextPrediction] = {}
        if live and self._merges is not None:
            rows = self._merges.rescored(ws, [self._live[t] for t in live], live)
            for text, row in zip(live, rows, strict=True):
                top = stored_top(row, {})
                kept = self._shown(TextPrediction(text=text, label=top[0][0],
                                                  confidence=top[0][1], top=top))  # fmt: skip
                if len(kept.top) >= min(self._top_k, self._answerable):
                    answered[text] = kept
                else:  # as :meth:`stored` leaves a row of fewer classes than asked
                    self._partial[text] = kept
        rest = [t for t in texts if t not in answered]
        asked = self._top_k + len(self.untrained)
        said = training.predict_with(ws, name, run, model, rest, top_k=asked,
                                     names_now=self._names_now)  # fmt: skip
        more = iter(said)
        return [answered[t] if t in answered else self._shown(next(more)) for t in texts]

    def _exact(self, probs: Any, class_ids: Any) -> bool:
        """Whether a stored row of this model answers as its re-score will, after labels were
        merged since it was written: the re-scored row's leading classes it says (Merges.exact)
        hold the top asked, or are the whole row."""
        merges = self._merges
        if merges is None:
            return True
        known = merges.exact(probs, class_ids)
        if known >= min(training.TOP_K, len(merges.columns)):
            return True
        top = stored_top(probs, {}, class_ids, self._targets)[:known]
        return len([lb for lb, _ in top if lb not in self.untrained]) >= self._top_k

    def combined(
        self, texts: list[str], stored: dict[int, TextPrediction], fresh: list[TextPrediction]
    ) -> list[TextPrediction]:
        """The answers to ``texts``, in their order, from :meth:`stored`'s and :meth:`fresh`'s
        (which answered the texts ``stored`` lacks, in order). A pool text whose stored row
        keeps fewer classes than asked answers its stored label and confidence, its stored
        classes first, then the fresh prediction's others."""
        rest = iter(fresh)
        return [
            stored[i] if i in stored else self._completed(next(rest)) for i in range(len(texts))
        ]

    def _completed(self, said: TextPrediction) -> TextPrediction:
        kept = self._partial.get(said.text)
        if kept is None:
            return said
        known = {lb for lb, _ in kept.top}
        more = [(lb, p) for lb, p in said.top if lb not in known]
        return dataclasses.replace(kept, top=(kept.top + more)[: self._top_k])

    def _shown(self, said: TextPrediction) -> TextPrediction:
        """``said`` with ``top_k`` labels in its top, none of them :attr:`untrained` (the model
        never answers one of them: each would be there at the same made-up probability)."""
        top = [(lb, p) for lb, p in said.top if lb not in self.untrained][: self._top_k]
        return dataclasses.replace(said, top=top)

    def in_chunks(
        self, items: Iterable[_T], *, text: Callable[[_T], str], chunk: int | None = None
    ) -> Iterator[list[tuple[_T, TextPrediction]]]:
        """Each item with the prediction for ``text(item)``, ``chunk`` (default :data:`CHUNK`)
        items at a time, read from ``items`` as they are answered: memory for one chunk,
        however many items there are."""
        it = iter(items)
        while batch := list(itertools.islice(it, chunk or CHUNK)):
            yield list(zip(batch, self.answer([text(x) for x in batch]), strict=True))

    def notes(self) -> list[str]:
        """What this model cannot answer: labels it had no example of, and the taxonomy changes
        it predates."""
        return taxonomy.model_gaps(
            self._ws, project=self._name, run=self.run, untrained=self.untrained
        )


def answer(ws: Workspace, name: str, texts: list[str], *, top_k: int | None = None) -> Answer:
    """Classify ``texts`` with the project's active model; a text already in the project gets
    its stored prediction (what the export shows), the others a fresh one. The active model is
    read once (:class:`Answering`), and the notes are of the model that answered."""
    answering = Answering(ws, name, top_k=top_k)  # first: no model, its file, its encoder
    predictions = answering.answer(texts)
    return Answer(predictions=predictions, notes=answering.notes(), version=answering.version)


def predict_texts(
    ws: Workspace, name: str, texts: list[str], *, top_k: int | None = None
) -> list[TextPrediction]:
    """:func:`answer`'s predictions alone."""
    return answer(ws, name, texts, top_k=top_k).predictions


def _check_top_k(ws: Workspace, name: str, top_k: int) -> None:
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        count = len(projects.list_labels(session=session, project_id=project.id))
    if not 1 <= top_k <= count:
        raise InvalidInputError(
            f"top_k is {top_k}: project {name!r} has {count} labels, ask for 1 to {count}"
        )


def _unstored(texts: list[str], stored: dict[int, TextPrediction]) -> list[str]:
    return [t for i, t in enumerate(texts) if i not in stored]


def _today_names(
    ws: Workspace, name: str, classes: Iterable[str], sources: Iterable[str]
) -> dict[str, str]:
    """The model's classes, named as at its training, → their labels today, for the stored
    rows (:func:`stored_top`); none for a name a label has today: a stored row is written
    with the names of its (re-)scoring, which follows renames, so after two labels swapped
    names and the queue was re-scored its "A" is today's A, not the class once called A."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        active = {lb.name for lb in projects.list_labels(session=session, project_id=project.id)}
    return {old: now for old, now in zip(classes, sources, strict=True) if old not in active}


def stored_top(
    probs: Iterable[Any],
    today: Mapping[str, str],
    class_ids: Any = None,
    targets: Mapping[int, str | None] | None = None,
) -> list[tuple[str, float]]:
    """A stored row's classes (``probs``: ``[[label, probability], ...]``, highest first, named
    as at its writing) in today's labels, highest first (merged: the label they went into, the
    probabilities added).

    A row that records its classes' labels (``class_ids``: ``Prediction.class_ids``, whose
    top class matches ``probs``') is read by label id: ``targets`` (label id → the name of the
    label it counts as today; None: split or retired, the stored name kept). Any other row
    (written before migration 0022, or rewritten by a labelbot before it) by name: ``today``
    maps a class's name at training to its name now (a class it lacks keeps its name)."""
    probs = list(probs)
    named = _ids_of(probs, class_ids) if targets is not None else None
    summed: dict[str, float] = {}
    for k, (lb, p) in enumerate(probs):
        if named is not None:
            now = (targets or {}).get(named[k]) or str(lb)
        else:
            now = today.get(str(lb), str(lb))
        summed[now] = summed.get(now, 0.0) + float(p)
    ranked = sorted(summed.items(), key=lambda item: -item[1])  # stable: ties keep their order
    return [(lb, round(p, 4)) for lb, p in ranked]


def _ids_of(probs: list[Any], class_ids: Any) -> list[int] | None:
    """The label id of each of ``probs``' classes from a row's ``class_ids`` (``[[label id,
    ...], top name, top probability]``), or None where it has none or they are not for these
    classes: a labelbot before migration 0022 rewrote the row (it leaves the column as it was),
    so its top class's name or probability differs (after two labels swapped names, names
    alone may line up with the earlier writing's)."""
    if not isinstance(class_ids, list) or len(class_ids) != 3 or not probs:
        return None
    ids, name, p = class_ids
    try:
        if not isinstance(ids, list) or len(ids) != len(probs):
            return None
        if str(name) != str(probs[0][0]) or float(p) != float(probs[0][1]):
            return None
        return [int(i) for i in ids]
    except (TypeError, ValueError, IndexError):
        return None


def _ids_quickly(probs: list[Any], class_ids: Any) -> list[int] | None:
    """:func:`_ids_of`, without its conversions for a row as labelbot writes it (the names
    strings, the numbers numbers): an export after a merge asks it of every row."""
    if type(class_ids) is list and len(class_ids) == 3 and probs:
        ids, name, p = class_ids
        first = probs[0]
        if (
            type(ids) is list
            and len(ids) == len(probs)
            and type(name) is str
            and type(first) is list
            and len(first) == 2
            and name == first[0]
            and type(p) is float
            and p == first[1]
            and all(type(i) is int for i in ids)
        ):
            return ids
    return _ids_of(probs, class_ids)


def named_today(
    session: Any,
    prediction: Prediction,
    *,
    targets: Mapping[int, str | None] | None = None,
    by_run: dict[int, dict[str, str]] | None = None,
) -> list[tuple[str, float]]:
    """A stored prediction's top classes in today's labels (:func:`stored_top`), highest first,
    in the caller's session: by the label ids the row records, or, for a row without them
    (written before migration 0022), by the names its model was trained with, as export and
    predict read it. ``targets`` (label_targets) and ``by_run`` (run id → its names map) save
    reads across many rows of one project."""
    if not prediction.probs:
        return []
    project_id = prediction.project_id
    if targets is None:
        targets = taxonomy_repo.label_targets(session=session, project_id=project_id)
    probs = list(prediction.probs)
    if _ids_of(probs, prediction.class_ids) is not None:
        return stored_top(probs, {}, prediction.class_ids, targets)
    run_id = prediction.model_run_id
    if run_id is None:
        return stored_top(probs, {})
    if by_run is None or run_id not in by_run:
        run = models.get_model_run(session=session, run_id=run_id)
        names = {} if run is None else training_names(session, project_id, run, targets)
        if by_run is not None:
            by_run[run_id] = names
    else:
        names = by_run[run_id]
    return stored_top(probs, names)


def named_as_rescored(
    ws: Workspace,
    session: Any,
    prediction: Prediction,
    *,
    leading: int = 1,
    targets: Mapping[int, str | None] | None = None,
    by_run: dict[int, dict[str, str]] | None = None,
) -> list[tuple[str, float]]:
    """:func:`named_today`, or, for a row of the active model after labels were merged since it
    was written (before the queue's re-score) whose first ``leading`` classes it cannot say
    (:meth:`Merges.exact`), the row its re-score will write, scored live: what export and
    predict answer for the example. One example, one small model call; the cheap checks (the
    active run, the newest taxonomy change) in the caller's session, and :func:`merges_since`
    kept in ``ws.memo`` until the next change or re-score."""
    return named_all_as_rescored(
        ws, session, [prediction], leading=leading, targets=targets, by_run=by_run
    )[0]


def named_all_as_rescored(
    ws: Workspace,
    session: Any,
    predictions: Sequence[Prediction],
    *,
    leading: int = 1,
    targets: Mapping[int, str | None] | None = None,
    by_run: dict[int, dict[str, str]] | None = None,
    texts: Mapping[int, str] | None = None,
) -> list[list[tuple[str, float]]]:
    """:func:`named_as_rescored` of each prediction, for a listing: the active run and the
    newest taxonomy change read once per project, and the rows its stored classes cannot tell
    scored live in one :meth:`Merges.rescored` call per project (``texts``: the examples'
    texts by id where the caller has read them)."""
    tops = [named_today(session, p, targets=targets, by_run=by_run) for p in predictions]
    by_project: dict[int, list[int]] = {}
    for k, (prediction, top) in enumerate(zip(predictions, tops, strict=True)):
        if top and prediction.model_run_id is not None:
            by_project.setdefault(int(prediction.project_id), []).append(k)
    for project_id, at in by_project.items():
        merges = _merges_now(ws, session, project_id)
        if merges is None:
            continue
        wanted = min(leading, len(merges.columns))
        live = [
            k
            for k in at
            if predictions[k].model_run_id == merges.run.id
            and merges.exact(predictions[k].probs, predictions[k].class_ids) < wanted
        ]
        if not live:
            continue
        ids = [int(predictions[k].example_id) for k in live]
        known = texts or {}
        text_of = [
            known[i] if i in known else examples.get_example(session=session, example_id=i).text
            for i in ids
        ]
        rows = merges.rescored(ws, ids, text_of)
        for k, row in zip(live, rows, strict=True):
            tops[k] = stored_top(row, {})
    return tops


def _merges_now(ws: Workspace, session: Any, project_id: int) -> Merges | None:
    """:func:`merges_since` of the project's active run, None when its rows were written after
    the newest taxonomy change (or there is no active run); kept in ``ws.memo`` until the next
    change or re-score."""
    run = models.get_active_model_run(session=session, project_id=project_id)
    if run is None:
        return None
    newest = taxonomy_repo.newest_event_id(session=session, project_id=project_id)
    if run.rows_named_at is not None and run.rows_named_at == newest:
        return None  # no taxonomy change since the rows were written
    key, stamp = ("merges", run.id), (run.rows_named_at, newest)
    kept = ws.memo.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]  # type: ignore[no-any-return]
    name = projects.get_project_by_id(session=session, project_id=project_id).name
    merges = merges_since(ws, name, run)
    ws.memo[key] = (stamp, merges)
    return merges


def training_names(
    session: Any, project_id: int, run: ModelRun, targets: Mapping[int, str | None]
) -> dict[str, str]:
    """``run``'s classes, named as at its training, → the labels they count as today (renamed;
    merged: the label they went into), for rows without their labels' ids; split or retired
    ones keep their names, and so does a name a label has today: such a row may have been
    re-scored since a rename, and is then named as today."""
    labels = models.class_labels(
        session=session,
        project_id=project_id,
        classes=run.classes,
        as_of=run.created_at,
        label_ids=run.label_ids,
    )
    active = {lb.name for lb in projects.list_labels(session=session, project_id=project_id)}
    now = [targets.get(int(lb.id or 0)) if lb is not None else None for lb in labels]
    return {o: n or o for o, n in zip(run.classes, now, strict=True) if o not in active}


def label_targets(ws: Workspace, name: str) -> dict[int, str | None]:
    """Every label id of project ``name`` → the name of the label it counts as today (None:
    split, or retired without a mapping), for :func:`stored_top`."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        return taxonomy_repo.label_targets(session=session, project_id=project.id)


def _stored(
    ws: Workspace,
    name: str,
    texts: list[str],
    *,
    run: ModelRun,
    today: Mapping[str, str],
    targets: Mapping[int, str | None],
    exact: Callable[[Any, Any], bool] | None = None,
    live: dict[str, int] | None = None,
) -> dict[int, TextPrediction]:
    """Index in ``texts`` → the stored prediction of ``run``, in today's labels
    (:func:`stored_top`), for texts in the project. A row ``exact`` (its probs and class ids)
    refuses is left out, its text → its example in ``live``."""
    if not texts or run.id is None:
        return {}
    hashes = [content_hash(t) for t in texts]
    out: dict[int, TextPrediction] = {}
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        known = examples.existing_hashes(session=session, project_id=project.id, hashes=hashes)
        rows = models.get_predictions_for(session=session, example_ids=known.values())
        for i, (text, digest) in enumerate(zip(texts, hashes, strict=True)):
            example_id = known.get(digest)
            row = None if example_id is None else rows.get(example_id)
            if row is None or row.model_run_id != run.id or row.label is None:
                continue
            if exact is not None and not exact(row.probs, row.class_ids):
                if live is not None and example_id is not None:
                    live[text] = example_id
                continue
            top = stored_top(row.probs, today, row.class_ids, targets)
            out[i] = TextPrediction(text=text, label=top[0][0], confidence=top[0][1], top=top)
    return out


# Half the last stored place: a stored probability is its value rounded to 4 places, so the value
# lies within this of it (and a little more for the float arithmetic).
_HALF = 5e-5 + 1e-9


@dataclass
class Merges:
    """Labels merged since the active model's rows were written, and how to answer what its
    re-score will write for them (:func:`merges_since`).

    The rows name the labels of their writing, their "columns" (the model's classes, or the
    labels a re-score carried them over to); today some columns are one label (merged since),
    and a column whose merge an undo took back since is several labels again (``names``: None).
    A stored row keeps only its top :data:`training.TOP_K` classes: a merged label's share of
    a row that left one of its columns out is more than the stored ones add up to, and a sum of
    rounded probabilities is not the rounded sum the re-score writes. :meth:`exact` says how
    many of a row's leading classes the re-score writes as stored (by bounds on what the row
    left out); the others are scored live (:meth:`rescored`): the model, from the embedding
    cache, carried over to today's labels as the re-score does (``training.class_map``)."""

    run: ModelRun
    model: Any  # engine.classifier.Model
    onto: Any  # np.ndarray: the run's classes x today's labels
    columns: list[str]  # today's labels, in the re-score's order
    names: list[str | None]  # each column of the rows as today's label (None: several now)
    merged: dict[str, int]  # a label that two or more of the rows' columns give -> how many
    singles: int  # today's labels that one column alone gives
    position: dict[int, int]  # label id -> its column of the rows
    everything: bool  # the unseen share moves with the merge: every row is scored live
    _pool: tuple[dict[int, int], Any] | None = None  # the blend's own pool, when it scores it

    def exact(self, probs: Any, class_ids: Any) -> int:
        """How many of the re-scored row's leading classes are the stored row's (their names
        and probabilities): classes merged with none, above any merged label's most and
        strictly ordered. 0 for a row not read by its labels' ids, or naming a column its
        writing lacked, or one that an undone merge made several labels again."""
        probs = list(probs or [])
        ids = _ids_of(probs, class_ids)
        if self.everything or ids is None:
            return 0
        named: list[tuple[str, float]] = []
        for i, (_, p) in zip(ids, probs, strict=True):
            k = self.position.get(i)
            now = None if k is None else self.names[k]
            if now is None:
                return 0
            named.append((now, float(p)))
        low = named[-1][1] if len(named) < len(self.names) else 0.0  # bounds the left-out
        stored: dict[str, list[float]] = {}
        for lb, p in named:
            stored.setdefault(lb, []).append(p)
        # the most a merged label may have: its stored columns, and each one left out at most
        # the lowest stored probability
        most = max(
            (
                sum(p + _HALF for p in stored.get(lb, []))
                + (n - len(stored.get(lb, []))) * (low + _HALF)
                for lb, n in self.merged.items()
            ),
            default=-1.0,
        )
        alone = [p for lb, p in named if lb not in self.merged]
        left_out = self.singles - len(alone)
        count = 0
        for k, p in enumerate(alone):
            after = alone[k + 1] if k + 1 < len(alone) else (low if left_out else -1.0)
            if p - _HALF <= most or p <= after:
                break
            count += 1
        return count

    def exact_rows(self, rows: Sequence[tuple[Any, Any]]) -> list[int]:
        """:meth:`exact` of each row (its probs and class ids), a page of rows at once in
        numpy: an export after a merge asks it of every row (in Python, 0.6 s per 20k)."""
        import numpy as np

        n = len(rows)
        if self.everything or not n:
            return [0] * n
        labels = list(dict.fromkeys(lb for lb in self.names if lb is not None))
        label_at = {lb: k for k, lb in enumerate(labels)}
        # label id -> today's label's index (-1: a column that is several labels now)
        of = {i: -1 if self.names[k] is None else label_at[str(self.names[k])]
              for i, k in self.position.items()}  # fmt: skip
        width = max(len(probs or []) for probs, _ in rows) or 1
        values = np.zeros((n, width))
        named = np.full((n, width), -1, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        for r, (probs, class_ids) in enumerate(rows):
            probs = list(probs or [])
            ids = _ids_quickly(probs, class_ids)
            if ids is None:
                continue
            now = [of.get(i, -1) for i in ids]
            if -1 in now:
                continue
            values[r, : len(now)] = [float(p) for _, p in probs]
            named[r, : len(now)] = now
            lengths[r] = len(now)
        valid = lengths > 0
        last = np.take_along_axis(values, np.maximum(lengths - 1, 0)[:, None], axis=1)[:, 0]
        low = np.where(lengths < len(self.names), last, 0.0)
        most = np.full(n, -1.0)
        # a merged label no column gives alone (each of its columns several labels today) has
        # no index: none of a row's classes is it, as :meth:`exact` reads it
        merged_at = {lb: label_at.get(lb, -2) for lb in self.merged}
        for lb, count in self.merged.items():
            mask = named == merged_at[lb]
            summed = np.where(mask, values + _HALF, 0.0).sum(axis=1)
            most = np.maximum(most, summed + (count - mask.sum(axis=1)) * (low + _HALF))
        merged = np.array(list(merged_at.values()), dtype=np.int64)
        alone = (named >= 0) & ~np.isin(named, merged)
        order = np.argsort(~alone, axis=1, kind="stable")  # each row's alone classes first
        ranked = np.take_along_axis(values, order, axis=1)
        na = alone.sum(axis=1)
        left_out = self.singles - na
        at = np.arange(width)[None, :]
        following = np.concatenate([ranked[:, 1:], np.zeros((n, 1))], axis=1)
        end = np.where(left_out > 0, low, -1.0)[:, None]
        after = np.where(at + 1 < na[:, None], following, end)
        ok = (at < na[:, None]) & (ranked - _HALF > most[:, None]) & (ranked > after)
        counts = np.cumprod(ok, axis=1).sum(axis=1)
        return np.where(valid, counts, 0).tolist()  # type: ignore[no-any-return]

    def top_of(self, probs: Any, class_ids: Any) -> tuple[str, float]:
        """The re-scored row's top class, for a row whose :meth:`exact` is 1 or more: its first
        stored class (merged with none), as today's label, at its stored probability (what
        :func:`stored_top` reads it as)."""
        k = self.position[int(class_ids[0][0])]
        return str(self.names[k]), round(float(probs[0][1]), 4)

    def rescored(self, ws: Workspace, example_ids: list[int], texts: list[str]) -> list[list[Any]]:
        """The rows (``[[label, probability], ...]``, today's labels) the re-score writes for
        these examples of the project: the blend reads its own pool's spread when the project
        has as many examples as it was trained with, any other model scores their embeddings
        (two rows at least: one row alone takes another path through the BLAS, which may
        differ in the last bit)."""
        import numpy as np

        if not texts:
            return []
        model = self.model
        if model.pool is not None:
            at, probs = self.prepare(ws)
            if probs is not None:
                rows = probs[[at[i] for i in example_ids]]
                return _tops(rows, self.columns)
        X = ws.embed(texts, persist=False)
        if len(X) == 1:
            X = np.vstack([X, X])
        return _tops(model.predict_proba(X, onto=self.onto)[: len(texts)], self.columns)

    def prepare(self, ws: Workspace) -> tuple[dict[int, int], Any]:
        """What :meth:`rescored` reads from the database, read now: a blend's pool positions
        (each example's row of the spread), and the pool's probabilities, once."""
        if self.model.pool is None:
            return {}, None
        if self._pool is None:
            self._pool = self._own_pool(ws)
        return self._pool

    def _own_pool(self, ws: Workspace) -> tuple[dict[int, int], Any]:
        with session_scope(ws.db, read_only=True) as session:
            ids = examples.example_ids(session=session, project_id=self.run.project_id)
        if len(ids) != len(self.model.pool):
            return {}, None
        return {i: k for k, i in enumerate(ids)}, self.model.predict_proba_pool(onto=self.onto)


def _tops(probs: Any, columns: list[str]) -> list[list[Any]]:
    """Each row's top classes as the re-score stores them (``training._top_classes``)."""
    import numpy as np

    block = np.asarray(probs)
    order = np.argsort(-block, axis=1)[:, : training.TOP_K]
    values = np.take_along_axis(block, order, axis=1).astype(np.float64)
    return [
        [[columns[j], round(v, 4)] for j, v in zip(cols, row, strict=True)]
        for cols, row in zip(order.tolist(), values.tolist(), strict=True)
    ]


def merges_since(ws: Workspace, name: str, run: ModelRun, model: Any = None) -> Merges | None:
    """:class:`Merges` for ``run``'s stored rows, or None when no two of the labels they name
    are one label today and no merge they include was undone since (a stored row then says
    what a re-score writes), or the re-score would not carry the model over (a label split,
    retired or added since: it scores a cold start), or the model cannot be read.

    Only the changes since the rows were written count (``ModelRun.rows_named_at``): rows
    re-scored after a merge name the merged label already."""
    import numpy as np

    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        labels = projects.list_labels(session=session, project_id=project.id)
        newest = taxonomy_repo.newest_event_id(session=session, project_id=project.id)
        if run.rows_named_at is not None and run.rows_named_at == newest:
            return None  # no taxonomy change since its rows were written: they name today's labels
        targets = taxonomy_repo.label_targets(session=session, project_id=project.id)
        events = (
            []
            if run.rows_named_at is None
            else taxonomy_repo.list_events(session=session, project_id=project.id)
        )
    now = taxonomy.names_now(
        ws, project=name, names=run.classes, as_of=run.created_at, label_ids=run.label_ids
    )
    if any(n is None for n in now):
        return None
    sources = [str(n) for n in now]
    columns = [lb.name for lb in labels]
    ids = [int(i) for i in run.label_ids or []]
    column_of = None  # each class's column of the rows: the label it counted as then
    if len(ids) == len(sources) and run.rows_named_at is None:
        column_of = ids
    elif len(ids) == len(sources):
        by_name = {lb.name: int(lb.id or 0) for lb in labels}
        today = {i: (None if n is None else by_name.get(n)) for i, n in targets.items()}
        column_of = _columns(_targets_at(events, run.rows_named_at or 0, today), ids)
    if column_of is None:
        written = list(range(len(sources)))  # each class its own column, as a fallback
        position: dict[int, int] = {}
    else:
        order = list(dict.fromkeys(column_of))
        written = [order.index(c) for c in column_of]
        position = {c: k for k, c in enumerate(order)}
    gives: list[set[str]] = [set() for _ in range(max(written) + 1)]
    for k, lb in zip(written, sources, strict=True):
        gives[k].add(lb)
    counts: dict[str, int] = {}
    for parts in gives:
        for lb in parts:
            counts[lb] = counts.get(lb, 0) + 1
    merged = {lb: c for lb, c in counts.items() if c > 1}
    split = any(len(parts) > 1 for parts in gives)
    if column_of is not None and not merged and not split:
        return None  # the rows' columns are today's labels, renamed at most
    onto = training.class_map(ws, name, run, columns, [int(lb.id or 0) for lb in labels])
    if onto is None:
        return None
    if model is None:
        try:
            loaded = training.active_model(ws, name)
        except LabelbotError:
            return None
        if loaded is None or loaded[0].id != run.id:
            return None
        model = loaded[1]
    absent = model.absent()
    written_onto = np.zeros((len(written), len(gives)))
    written_onto[np.arange(len(written)), written] = 1.0
    moved = _unseen(model, written_onto) != _unseen(model, onto) or any(
        a and len(gives[k]) > 1 for k, a in zip(written, absent, strict=True)
    )
    names = [next(iter(parts)) if len(parts) == 1 else None for parts in gives]
    return Merges(run=run, model=model, onto=onto, columns=columns, names=names,
                  merged=merged, singles=sum(1 for c in counts.values() if c == 1),
                  position=position, everything=column_of is None or moved)  # fmt: skip


def _columns(then: dict[int, int | None] | None, ids: list[int]) -> list[int] | None:
    """The label each of ``ids`` counted as (``then``: :func:`_targets_at`), or None where one
    counted as none, or as a label not active then: the rows' columns are not known."""
    if then is None:
        return None
    out = []
    for i in ids:
        c = then.get(i)
        if c is None or then.get(c) != c:
            return None
        out.append(c)
    return out


def _unseen(model: Any, onto: Any) -> tuple[float, int]:
    """The unseen share the model's rows carried ``onto`` those columns hold, and over how many
    columns it is spread (``Model.with_unseen``): rows written under one and read under the
    other differ in every such column when either differs."""
    import numpy as np

    from engine.classifier import MAX_UNSEEN_OF_ABSENT

    absent = model.absent()
    if model.unseen <= 0 or not absent.any():
        return 0.0, 0
    square = onto.shape[0] == onto.shape[1] and bool((onto == np.eye(len(onto))).all())
    if square:
        return float(model.unseen), int(absent.sum())
    cols = ~np.asarray(onto, dtype=bool)[~absent].any(axis=0)
    if not cols.any():
        return 0.0, 0
    return min(model.unseen, MAX_UNSEEN_OF_ABSENT * float(cols.mean())), int(cols.sum())


# The taxonomy changes that only rename, or describe: no label counts otherwise after them.
_NAMES_ONLY = frozenset({"rename", "describe"})


def _targets_at(
    events: list[Any], since: int, today: dict[int, int | None]
) -> dict[int, int | None] | None:
    """Label id → the label id it counted as (itself: active) after the change ``since``
    (label_events' id), from ``today``'s (the same, now) and the changes since, taken back
    newest first: a merge or a mapped retire by what its event recorded (its labels, the
    labels that followed them, the label it created), an undo of an earlier one by making it
    again; renames and descriptions change no counting. None when another change came since
    (an add, a split, an unmapped retire, an undo of one, a merge that rejoined a split): the
    labels at ``since`` are not told then. A change undone since is left out with its undo."""
    after = [e for e in events if int(e.id or 0) > since]
    undone = {int(e.details.get("event_id", 0)) for e in after if e.kind == "undo"}
    by_id = {int(e.id or 0): e for e in events}
    at = dict(today)
    for event in reversed(after):
        if event.kind == "undo":
            undid = int(event.details.get("event_id", 0))
            if undid > since:
                continue  # with the change it undid, also since
            change = by_id.get(undid)
            if change is None:
                return None
            if change.kind in _NAMES_ONLY:
                continue
            moved = _moves(change)
            if moved is None:
                return None
            sources, into, followers, created = moved
            for s in sources:  # as the change left them, before its undo
                at[s] = into
                for f in followers.get(str(s), []):
                    at[int(f)] = into
            if created:
                at[into] = into
            continue
        if int(event.id or 0) in undone or event.kind in _NAMES_ONLY:
            continue
        moved = _moves(event)
        if moved is None:
            return None
        sources, into, followers, created = moved
        for s in sources:  # as before the change
            at[s] = s
            for f in followers.get(str(s), []):
                at[int(f)] = s
        if created:
            at.pop(into, None)
    return at


def _moves(event: Any) -> tuple[list[int], int, dict[str, list[int]], bool] | None:
    """What a merge or a mapped retire moved: (the labels it retired, the label they count as,
    the labels that followed each, whether it created that label); None for any other change,
    or one that rejoined a split or predates recording its followers."""
    d = event.details
    followers = d.get("followers")
    if followers is None or d.get("rejoined"):
        return None
    if event.kind == "merge":
        return (
            [int(r["id"]) for r in d["from"]],
            int(d["into"]["id"]),
            followers,
            bool(d.get("created")),
        )
    if event.kind == "retire" and d.get("map_to"):
        return [int(d["label"]["id"])], int(d["map_to"]["id"]), followers, False
    return None


def answer_notes(ws: Workspace, name: str) -> list[str]:
    """What the active model's answers cannot say (:meth:`Answering.notes`): to show beside
    its predictions until the next model; none before the first model."""
    if training.active_model(ws, name) is None:
        return []
    return Answering(ws, name).notes()
