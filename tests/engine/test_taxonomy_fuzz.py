"""A seeded random walk through a project whose taxonomy changes while experts label it, on
SQLite and PostgreSQL, checked step by step against an independent oracle (taxonomy_oracle).

Three experts label 40 Banking77 texts (6 imported with a label; second opinions on half, k=2;
a fifth of the clicks noisy); a third of the messages stay on screen while the taxonomy changes,
so their buttons (label ids, as Slack's carry them) go stale. The admin adds, renames (into a
freed name, refused when it looks like a label's; case only), describes, merges (into a new
label or either one), splits, retires (mapped or not) and undoes, often several times in a row;
disagreements are adjudicated, models trained and asked. After every step, every invariant
below must hold:

- I1 every annotation ever stored is kept as stored (clicked label, who, source, when),
  retracted only by its author's undo; no label is deleted but an unused one an undo removed;
- I2 the labels (name, active, what each counts as) equal the oracle's replay of the history;
- I3 each example's export label is the oracle's agreed label; I4 it is never a retired one;
  I5 the export lists every live vote under the label clicked (by its name now);
- I6 an example waits in the queue exactly when the oracle gives it no agreed label;
- I7 a fresh claim never passes over a relabel the expert may take; I8 nor hands an expert an
  example their counted vote decides; I18 nor one they cannot label (every click refused);
- I9 the training pool's classes are the active labels and its y the export label; I10 a model's
  classes are the active labels; I11 predictions use today's names, through the history;
- I12 the history lists every change in order, undone ones marked by their undo; I13 each
  change's requeued and mapped counts are the oracle's;
- I14 a stale button stores what counts (a merged or mapped label, counted as its target) and
  nothing else (a split, unmapped-retired or removed label), saying why;
- I15 what the README allows succeeds, what it refuses is refused; I16 an undo restores the
  labels as before the change (created labels removed when unused, a split's used parts kept);
- I17 a label's id is never given to another label (SQLite reused a removed label's id);
- I19 a message says why an example is back: "since split" with the split's parts only for a
  label split by a change that stands ("since retired" otherwise; an undone split was read).
"""

from __future__ import annotations

import csv
import random
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from engine import consensus, exporting, labeling, predicting, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, LabelbotError, LabelGone, StaleActionError
from storage.models import Annotation, Assignment, Example, Label, utcnow
from storage.repositories import assignments as assignment_repo
from storage.repositories.projects import label_fold
from tests.engine.taxonomy_oracle import OAnn, OEvent, OLabel, Oracle

PROJECT = "p"
EXPERTS = ("ana", "bob", "cy")
BASE = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
STEPS = 70
# One seed per database, each chosen to walk into bugs found this way (with their fix reverted):
# on SQLite a removed label's id given to a new label (I17, step 34) and an example an undo
# settled handed out again and again (I18, step 29); on PostgreSQL the latter (step 14).
SEEDS = {"sqlite": 20, "postgresql": 9}
# The audit picks' random draws (storage.repositories.assignments), seeded too: unseeded, one CI
# run in about ten walked into an example whose only vote was undone, still asked of a second
# expert, handed out before two relabels (I7; PostgreSQL, audit seed 11).
AUDIT_SEEDS = {"sqlite": 0, "postgresql": 11}
REJOIN_SEED = 3


def test_a_random_walk_of_labeling_and_taxonomy_changes_keeps_every_promise(
    ws: Workspace,
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialect = ws.db.dialect.name
    monkeypatch.setattr(assignment_repo, "_audit_rng", random.Random(AUDIT_SEEDS[dialect]))
    walk = Walk(ws, seed=SEEDS[dialect])
    walk.setup(banking_slice[:40], tmp_path / "import.csv")
    walk.go(STEPS)
    report = [f"[{step}] {inv} {detail}" for inv, step, detail in walk.violations]
    assert report == [], "\n".join(report[:5] + ["--- the walk so far:", *walk.trace[-60:]])


def test_a_walk_that_merges_split_parts_back_keeps_every_promise(
    ws: Workspace,
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Splits, then merges of what their parts count as: the split label's examples count as
    the merge's label again (its answer is known), and an undo splits them once more."""
    monkeypatch.setattr(assignment_repo, "_audit_rng", random.Random(0))
    walk = Walk(ws, seed=REJOIN_SEED, rejoins=True)
    walk.setup(banking_slice[:40], tmp_path / "import.csv")
    walk.go(STEPS)
    report = [f"[{step}] {inv} {detail}" for inv, step, detail in walk.violations]
    assert report == [], "\n".join(report[:5] + ["--- the walk so far:", *walk.trace[-60:]])
    rejoined = [line for line in walk.trace if " count again" in line and "split label" in line]
    assert rejoined, "the walk never merged a split's parts back: choose another seed"


class Walk:
    def __init__(self, ws: Workspace, *, seed: int, rejoins: bool = False) -> None:
        self.ws = ws
        self.rng = random.Random(seed)
        self.rejoins = rejoins  # also merge the labels a split's parts count as (it rejoins)
        self.o = Oracle()
        self.trace: list[str] = []
        self.violations: list[tuple[str, int, str]] = []
        self.examples: list[int] = []
        self.texts: dict[int, str] = {}
        self.truth: dict[int, int] = {}  # example -> the label its text has in Banking77
        self.refined: dict[int, int] = {}  # example -> the label chosen once its label split
        self.skipped: set[tuple[int, str]] = set()
        self.on_screen: dict[str, labeling.Task] = {}  # messages left unanswered for a while
        self.last_ann: dict[str, int] = {}
        self.model: dict[str, list[Any]] | None = None  # the active model's classes, label ids
        self.touched: set[int] | None = None  # the examples a step labeled (None: all of them)
        self.step = 0
        self.names = 0

    # --- bookkeeping ---------------------------------------------------------------------------

    def log(self, msg: str) -> None:
        self.trace.append(f"[{self.step}] {msg}")

    def fail(self, inv: str, detail: str) -> None:
        self.violations.append((inv, self.step, detail))
        self.log(f"!! {inv} {detail}")

    def touch(self, example: int) -> None:
        if self.touched is not None:
            self.touched.add(example)

    def fresh(self, stem: str) -> str:
        self.names += 1
        return f"{stem}{self.names}"

    def db_labels(self) -> list[Label]:
        return projects.list_labels(self.ws, project=PROJECT, active_only=False)

    def new_label(self, name: str) -> OLabel:
        lid = int(next(lb.id for lb in self.db_labels() if lb.name == name) or 0)
        if lid in self.o.removed:
            self.fail("I17-id-reuse", f"new label {name!r} got id {lid}, a removed label's")
            self.o.removed.discard(lid)
        self.o.labels[lid] = OLabel(lid, name)
        return self.o.labels[lid]

    def annotation(self, ann_id: int, *, who: str, source: str) -> OAnn:
        with session_scope(self.ws.db, read_only=True) as s:
            row = s.get(Annotation, ann_id)
            assert row is not None
            ann = OAnn(int(ann_id), row.example_id, row.label_id, who, source, row.created_at)
        self.o.anns[ann.id] = ann
        return ann

    def open_assignments(self) -> set[tuple[int, str]]:
        now = utcnow()
        with session_scope(self.ws.db, read_only=True) as s:
            rows = s.exec(select(Assignment).where(Assignment.status == "open")).all()
            return {(a.example_id, a.annotator) for a in rows if a.expires_at > now}

    # --- the walk -------------------------------------------------------------------------------

    def setup(self, rows: list[tuple[str, str]], path: Path) -> None:
        projects.create_project(self.ws, name=PROJECT, labels=BASE)
        projects.update_settings(
            self.ws, project=PROJECT, multi_label_share=0.5, multi_label_k=2, review_share=0.0
        )
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((text, label if i < 6 else "") for i, (text, label) in enumerate(rows))
        projects.import_file(self.ws, project=PROJECT, path=path)
        for lb in self.db_labels():
            self.o.labels[int(lb.id or 0)] = OLabel(int(lb.id or 0), lb.name)
        by_name = {lb.name: lb.id for lb in self.o.labels.values()}
        truth = dict(rows)
        with session_scope(self.ws.db, read_only=True) as s:
            for ex in s.exec(select(Example).order_by(Example.id)).all():  # type: ignore[arg-type]
                self.examples.append(int(ex.id or 0))
                self.texts[int(ex.id or 0)] = ex.text
                self.truth[int(ex.id or 0)] = by_name[truth[ex.text]]
            for a in s.exec(select(Annotation)).all():
                self.o.anns[int(a.id or 0)] = OAnn(
                    int(a.id or 0), a.example_id, a.label_id, a.annotator, a.source, a.created_at
                )
        training.rescore_project(self.ws, PROJECT)

    def go(self, steps: int) -> None:
        moves: list[tuple[Callable[[], None], int]] = [
            (self.label, 55),
            (self.change_taxonomy, 22),
            (self.undo_label, 7),
            (self.adjudicate, 5),
            (self.train, 4),
        ]
        self.check()
        for self.step in range(1, steps + 1):
            move = self.rng.choices([m for m, _ in moves], [w for _, w in moves])[0]
            try:
                move()
            except Exception as exc:  # noqa: BLE001 (a crash is a finding, with its trace)
                self.fail("I15-op", f"{move.__name__} crashed: {exc!r}\n{traceback.format_exc()}")
            self.check()

    # --- labeling -------------------------------------------------------------------------------

    def intended(self, example: int) -> int:
        """What an expert means for the example in today's taxonomy, a fifth of them noisy."""
        o, active = self.o, [lb.id for lb in self.o.active()]
        refined = self.refined.get(example)
        counts = refined in o.labels and o.resolve(refined) is not None  # type: ignore[arg-type]
        now = o.resolve(refined if counts else self.truth[example])  # type: ignore[arg-type]
        if now is None:  # its label was split or retired: the expert picks one of today's
            now = self.refined[example] = self.rng.choice(active)
        return self.rng.choice(active) if self.rng.random() < 0.2 else now

    def label(self) -> None:
        who = self.rng.choice(EXPERTS)
        task = self.on_screen.pop(who, None)
        stale = task is not None
        if task is None:
            task = self.claim(who)
            if task is None:
                return
            if self.rng.random() < 0.3:  # the message waits on screen while things change
                self.on_screen[who] = task
                return
        if self.rng.random() < 0.08:
            try:
                labeling.skip(self.ws, project=PROJECT, example_id=task.example_id, annotator=who)
                self.skipped.add((task.example_id, who))
                self.log(f"{who} skips #{task.example_id}")
            except StaleActionError as exc:
                self.log(f"{who}'s skip of #{task.example_id} refused: {exc}")
            return
        if stale and self.rng.random() < 0.7:
            choice = self.rng.choice(task.labels)  # whatever the old message offered
        else:
            want = self.intended(task.example_id)
            choice = next((c for c in task.labels if c.id == want), self.rng.choice(task.labels))
        self.click(who, task.example_id, int(choice.id or 0), stale=stale)

    def claim(self, who: str) -> labeling.Task | None:
        o = self.o
        waiting, held = o.waiting(self.examples), self.open_assignments()
        task = labeling.next_task(self.ws, project=PROJECT, annotator=who)
        if task is None:
            return None
        ex, fresh = task.example_id, (task.example_id, who) not in held
        self.log(f"{who} gets #{ex} earlier={[(e.label, e.into) for e in task.earlier]}")
        counted = [a for a in o.live(ex) if a.annotator == who and o.resolve(a.label) is not None]
        if counted and fresh:
            self.fail("I8-no-own-counted", f"{who} handed #{ex}, which their vote decides")
        with session_scope(self.ws.db, read_only=True) as s:
            audit = s.get(Assignment, task.assignment_id).purpose == "audit"  # type: ignore[union-attr]
            request = assignment_repo.multi_label_request(session=s, example_id=ex)
        if fresh and not o.live(ex) and not audit:
            others_hold = {e for e, w in held if w != who}
            free = [e for e in waiting if (e, who) not in self.skipped and e not in others_hold
                    and not any(a.annotator == who and o.resolve(a.label) is not None
                                for a in o.live(e))]  # fmt: skip
            if free:
                self.fail("I7-relabel-first", f"{who} got new #{ex}; relabels {free} were free")
        if o.agreed(ex) is not None and (
            request is None
            or any(a.annotator == who and o.resolve(a.label) is not None for a in o.live(ex))
        ):
            self.fail("I18-task-labelable", f"{who} handed #{ex}, which counts as "
                      f"{o.agreed_name(ex)!r} and asks no more opinions")  # fmt: skip
        for earlier in task.earlier:
            label = next(lb for lb in o.labels.values() if lb.name == earlier.label)
            if earlier.into != o.split_parts(label.id):
                self.fail("I19-earlier", f"#{ex}: {earlier.label!r} became {earlier.into}, "
                          f"oracle {o.split_parts(label.id)}")  # fmt: skip
        return task

    def click(self, who: str, ex: int, label_id: int, *, stale: bool) -> None:
        o = self.o
        self.touch(ex)
        before = len(o.anns)
        name = f"label {label_id}"
        counts = None if label_id in o.removed else o.resolve(label_id)
        try:  # the button carries the label's id, and the click stores it by id (bot.flow)
            result = labeling.submit_label(
                self.ws, project=PROJECT, example_id=ex, label=label_id, annotator=who,
                source="slack", key=f"{who}:{uuid.uuid4().hex}",
            )  # fmt: skip
        except LabelGone as exc:
            if label_id not in o.removed:
                self.fail("I14-click", f"label {label_id} is gone: {exc}")
            if self.count_annotations() != before:
                self.fail("I14-click", f"removed label {label_id} refused but stored")
            self.log(f"{who} clicks removed label {label_id} on #{ex}: {exc}")
            return
        except StaleActionError as exc:
            self.log(f"{who} clicks {name!r} on #{ex}: refused, {exc}")
            if self.count_annotations() != before:
                self.fail("I14-click", f"{name!r} on #{ex} refused but stored")
            if counts is not None and "already labeled" not in str(exc):
                self.fail("I14-click", f"{name!r}, which counts, refused: {exc}")
            return
        ann = self.annotation(result.annotation_id, who=who, source="slack")
        self.last_ann[who] = ann.id
        self.log(f"{who} labels #{ex} {name!r}{' (stale button)' if stale else ''}")
        if counts is None:
            self.fail("I14-click", f"{name!r}, which counts for nothing, stored on #{ex}")
        elif result.counts_as != o.labels[counts].name:
            self.fail("I14-click", f"{name!r} counts as {result.counts_as!r}, oracle "
                      f"{o.labels[counts].name!r}")  # fmt: skip
        if ann.label != label_id:
            self.fail("I14-click", f"clicked label {label_id} stored as {ann.label}")

    def undo_label(self) -> None:
        who = self.rng.choice(EXPERTS)
        ann = self.last_ann.pop(who, None)
        if ann is None:
            return
        try:
            labeling.undo(self.ws, annotation_id=ann, annotator=who)
        except StaleActionError as exc:
            self.log(f"{who}'s undo of their label {ann} refused: {exc}")
            return
        self.o.anns[ann].retracted = True
        self.touch(self.o.anns[ann].example)
        self.log(f"{who} undoes their label {ann}")

    def adjudicate(self) -> None:
        disputed = consensus.disagreements(self.ws, PROJECT)
        pick = (self.rng.choice(disputed).example_id if disputed and self.rng.random() < 0.7
                else self.rng.choice(self.examples))  # fmt: skip
        label = self.rng.choice(self.o.active())
        result = consensus.adjudicate(
            self.ws, project=PROJECT, example_id=pick, label=label.name, actor="admin"
        )
        self.annotation(result.annotation_id, who="admin", source="adjudication")
        self.touch(pick)
        self.log(f"admin settles #{pick} as {label.name!r}")

    # --- taxonomy changes -----------------------------------------------------------------------

    def change(self, kind: str, call: Any, apply: Any, refused: str | None = None) -> None:
        """One change: the call, and (when it goes through) the oracle's version of it."""
        o = self.o
        snapshot = o.snapshot_state()
        agreed_before = {e: o.agreed(e) for e in self.examples}
        waiting_before = o.waiting(self.examples)
        actor, reason = self.rng.choice(["admin", "ana"]), f"because {self.rng.randint(0, 99)}"
        try:
            done = call(actor, reason)
        except LabelbotError as exc:
            if refused is None:
                self.fail("I15-op", f"{kind} refused: {type(exc).__name__}: {exc}")
            self.log(f"{kind} refused ({refused}): {exc}")
            o.labels = snapshot
            return
        if refused is not None:
            self.fail("I15-op", f"{kind} went through ({done.summary}), expected: {refused}")
        self.touched = None  # a change may send any example back to the queue, or settle it
        entry = taxonomy.label_history(self.ws, project=PROJECT)[-1]
        event = OEvent(entry.id, entry.kind, actor, reason, snapshot)
        mapped = apply(event) or set()
        event.created = [i for i in o.labels if i not in snapshot]
        o.events.append(event)
        for lb in o.labels.values():  # when a label stopped counting
            was_counting = lb.id not in snapshot or snapshot[lb.id].active
            if not lb.active and lb.to is None and was_counting:
                lb.stale_at = entry.created_at
        requeued = len(o.waiting(self.examples) - waiting_before)
        if done.requeued != requeued:
            self.fail("I13-counts", f"{done.summary}: requeued {done.requeued}, oracle {requeued}")
        if mapped:
            want = sum(1 for e in self.examples if agreed_before[e] is not None
                       and snapshot[agreed_before[e]].name in mapped)  # type: ignore[index]  # fmt: skip
            if done.mapped != want:
                self.fail("I13-counts", f"{done.summary}: mapped {done.mapped}, oracle {want}")
        self.log(f"{actor}: {done.summary} (#{entry.id})")
        if self.model is not None:  # the model answers in today's names at once
            self.check_predictions()

    def change_taxonomy(self) -> None:
        kinds = ["add", "add", "rename", "rename_case", "rename_freed", "describe", "merge_new",
                 "merge_first", "merge_second", "split", "retire_map", "retire", "undo", "undo",
                 "undo"]  # fmt: skip
        kinds += ["merge_parts", "merge_parts", "split"] if self.rejoins else []
        kind = self.rng.choice(kinds)
        if kind == "undo":
            self.undo_change()
        elif kind == "add":
            self.add()
        elif kind.startswith("rename"):
            self.rename(kind)
        elif kind == "describe":
            label = self.rng.choice(self.o.active())
            text = f"guidelines {self.rng.randint(0, 99)}"
            self.change("describe", lambda a, r: taxonomy.describe_label(
                self.ws, project=PROJECT, label=label.name, description=text, actor=a, reason=r
            ), lambda event: None)  # fmt: skip
        elif kind.startswith("merge"):
            self.merge(kind)
        elif kind == "split":
            self.split()
        else:
            self.retire(mapped=kind == "retire_map")

    def add(self) -> None:
        name = self.fresh("new")

        def apply(event: OEvent) -> None:
            self.new_label(name)

        self.change("add", lambda a, r: taxonomy.add_labels(
            self.ws, project=PROJECT, names=[name], actor=a, reason=r
        ), apply)  # fmt: skip

    def rename(self, kind: str) -> None:
        o, label = self.o, self.rng.choice(self.o.active())
        old = label.name
        if kind == "rename_case":
            new = old.swapcase() if old.swapcase() != old else old + "X"
        elif kind == "rename_freed":  # a name an earlier rename gave up, no label's as it is
            # (one that looks like a label's, say change_pin after a rename to CHANGE_PIN, is
            # still refused: names are compared as the product compares them, below)
            exact = {lb.name for lb in o.labels.values()}
            freed = [e.old_name for e in o.events if e.kind == "rename" and e.undone_by is None
                     and e.old_name not in exact]  # fmt: skip
            new = str(self.rng.choice(freed)) if freed else self.fresh("ren")
        else:
            new = self.fresh("ren")
        # taken: another label (active or retired) has the name or one that looks like it (the
        # product's label_fold: case, width, joiners); the label itself may change its case
        taken = {label_fold(lb.name) for lb in o.labels.values() if lb.id != label.id}

        def apply(event: OEvent) -> None:
            o.labels[label.id].name, event.old_name = new, old

        self.change("rename", lambda a, r: taxonomy.rename_label(
            self.ws, project=PROJECT, label=old, new_name=new, actor=a, reason=r
        ), apply, "name taken" if label_fold(new) in taken else None)  # fmt: skip

    def merge(self, kind: str) -> None:
        o = self.o
        if len(o.active()) < 2:
            return
        a_, b_ = self.rng.sample(o.active(), 2)
        if kind == "merge_parts":  # the two labels a split's parts count as: it rejoins
            pairs = []
            for lb in o.labels.values():
                if lb.active or lb.to is not None or not lb.split_into:
                    continue
                now = [o.resolve(p) for p in lb.split_into]
                if None not in now and len(set(now)) == 2:
                    pairs.append(sorted({int(i or 0) for i in now}))
            if pairs:
                first, second = self.rng.choice(pairs)
                a_, b_ = o.labels[first], o.labels[second]
        into = {"merge_new": self.fresh("merged"), "merge_first": a_.name,
                "merge_parts": a_.name, "merge_second": b_.name}[kind]  # fmt: skip

        def apply(event: OEvent) -> set[str]:
            target = next((lb for lb in o.labels.values() if lb.name == into), None)
            target = target or self.new_label(into)
            moved = [lb for lb in (a_, b_) if lb.id != target.id]
            for lb in moved:
                o.labels[lb.id].active, o.labels[lb.id].to = False, target.id
            return {lb.name for lb in moved}

        self.change("merge", lambda a, r: taxonomy.merge_labels(
            self.ws, project=PROJECT, labels=[a_.name, b_.name], into=into, actor=a, reason=r
        ), apply)  # fmt: skip

    def split(self) -> None:
        o, label = self.o, self.rng.choice(self.o.active())
        parts = [self.fresh(label.name[:6] + "_"), self.fresh(label.name[:6] + "_")]

        def apply(event: OEvent) -> None:
            ids = [self.new_label(name).id for name in parts]
            o.labels[label.id].active, o.labels[label.id].to = False, None
            o.labels[label.id].split_into, event.split = ids, label.id

        self.change("split", lambda a, r: taxonomy.split_label(
            self.ws, project=PROJECT, label=label.name, into=parts, actor=a, reason=r
        ), apply)  # fmt: skip

    def retire(self, *, mapped: bool) -> None:
        o, label = self.o, self.rng.choice(self.o.active())
        others = [lb for lb in o.active() if lb.id != label.id]
        target = self.rng.choice(others) if mapped and others else None

        def apply(event: OEvent) -> set[str]:
            o.labels[label.id].active = False
            o.labels[label.id].to = target.id if target else None
            return {label.name} if target else set()

        self.change("retire", lambda a, r: taxonomy.retire_label(
            self.ws, project=PROJECT, label=label.name, map_to=target.name if target else None,
            actor=a, reason=r,
        ), apply, None if others else "the last label")  # fmt: skip

    def undo_change(self) -> None:
        """Undo the latest change standing. The README's expected state: the labels as before
        it; the labels it created removed when unused, a split's used parts counting as the
        label they came from; refused when a created label (not a split's part) was used."""
        o = self.o
        target = next((e for e in reversed(o.events) if e.kind != "undo" and e.undone_by is None),
                      None)  # fmt: skip
        if target is None:
            return
        state = {i: OLabel(**vars(lb)) for i, lb in target.snapshot.items()}
        for i, lb in state.items():  # when a label stopped counting is history: kept
            lb.stale_at = o.labels[i].stale_at if i in o.labels else lb.stale_at
        created = [i for i in target.created if i in o.labels]
        for i, lb in o.labels.items():  # labels a later (undone) change left behind stay
            if i not in state and i not in created:
                state[i] = OLabel(**vars(lb))
        refused, removed = None, []
        for i in created:
            if not o.used(i, {**state, **{c: o.labels[c] for c in created}}):
                removed.append(i)
            elif target.kind == "split":
                state[i] = OLabel(**{**vars(o.labels[i]), "active": False, "to": target.split})
            else:
                refused = f"created label {o.labels[i].name} used"
        names = [label_fold(lb.name) for lb in state.values()]  # look-alikes collide too
        if len(set(names)) != len(names) and refused is None:
            refused = "a name collision"

        def apply(event: OEvent) -> None:
            for i, lb in state.items():
                if i in o.labels and lb.active and not o.labels[i].active:
                    lb.stale_at = None  # it counts again
            o.labels = state
            o.removed.update(removed)
            target.undone_by = event.id

        self.change("undo", lambda a, r: taxonomy.undo_last(
            self.ws, project=PROJECT, actor=a, reason=r
        ), apply, refused)  # fmt: skip

    # --- models ---------------------------------------------------------------------------------

    def train(self) -> None:
        try:
            run = training.train_project(self.ws, PROJECT)
        except InvalidInputError as exc:  # too few labels yet
            self.log(f"training refused: {exc}")
            return
        active = [lb.name for lb in self.db_labels() if lb.active]
        if list(run.classes) != active or set(run.classes) != {lb.name for lb in self.o.active()}:
            self.fail("I10-model-classes", f"classes {run.classes}, active labels {active}")
        self.model = {"classes": list(run.classes), "label_ids": list(run.label_ids or [])}
        self.log(f"trained v{run.version}: {run.classes}")
        self.check_predictions()

    def prediction_names(self) -> set[str]:
        """The names a prediction may use: each class's label now, or the class's own name
        when its label was split or retired since the model was trained."""
        assert self.model is not None
        out = set()
        for name, lid in zip(self.model["classes"], self.model["label_ids"], strict=True):
            now = self.o.resolve(lid) if lid in self.o.labels else None
            out.add(self.o.labels[now].name if now is not None else name)
        return out

    def check_predictions(self) -> None:
        o = self.o
        texts = [self.texts[e] for e in self.rng.sample(self.examples, 2)]
        texts += ["I need to change my PIN please", "how old must I be to open an account"]
        got = predicting.predict_texts(self.ws, PROJECT, texts)
        allowed = self.prediction_names()
        loaded = training.active_model(self.ws, PROJECT)
        assert loaded is not None
        run, model = loaded
        # a new text: the raw model's answer followed through the oracle's history (merged
        # classes add up); a text of the project gets its stored (out-of-fold) prediction
        # (carried onto today's labels before the unseen share is spread, as the product does:
        # merged never-labeled classes must not add their shares up into a guess)
        targets = [o.resolve(i) if i in o.labels else None for i in run.label_ids or []]
        names = [
            o.labels[t].name if t is not None else run.classes[j] for j, t in enumerate(targets)
        ]
        columns = list(dict.fromkeys(names))
        onto = np.zeros((len(names), len(columns)))
        for j, name in enumerate(names):
            onto[j, columns.index(name)] = 1.0
        probs = model.predict_proba(self.ws.embed(texts[2:], persist=False), onto=onto)
        for answer, row in zip(got[2:], probs, strict=True):
            sums = {name: float(p) for name, p in zip(columns, row, strict=True)}
            want = max(sums, key=lambda k: sums[k])
            if answer.label != want and abs(sums.get(answer.label, 0.0) - sums[want]) > 1e-6:
                self.fail("I11-predict", f"{answer.text!r}: {answer.label!r}, oracle {want!r}")
        for answer in got:
            for name in [answer.label, *(n for n, _ in answer.top)]:
                if name not in allowed:
                    self.fail("I11-predict", f"{name!r} is none of {sorted(allowed)}")

    # --- the invariants after every step --------------------------------------------------------

    def count_annotations(self) -> int:
        with session_scope(self.ws.db, read_only=True) as s:
            return len(s.exec(select(Annotation.id)).all())

    def check(self) -> None:
        self.check_storage()
        labels = self.check_export()
        pool = training.load_pool(self.ws, PROJECT)
        active = [lb.name for lb in self.db_labels() if lb.active]
        if pool.classes != active or set(pool.classes) != {lb.name for lb in self.o.active()}:
            self.fail("I9-pool", f"classes {pool.classes}, active labels {active}")
        for i, ex in enumerate(pool.example_ids):
            y = int(pool.y[i])
            if (pool.classes[y] if y >= 0 else None) != labels.get(int(ex)):
                self.fail("I9-pool", f"#{ex}: y {y}, export {labels.get(int(ex))!r}")
        self.check_history()

    def check_storage(self) -> None:
        o = self.o
        with session_scope(self.ws.db, read_only=True) as s:
            rows = {int(a.id or 0): a for a in s.exec(select(Annotation)).all()}
            labels = {int(lb.id or 0): lb for lb in s.exec(select(Label)).all()}
            for ann in o.anns.values():
                row = rows.get(ann.id)
                stored = row and (row.example_id, row.label_id, row.annotator, row.source,
                                  row.created_at, row.retracted_at is not None)  # fmt: skip
                if stored != (ann.example, ann.label, ann.annotator, ann.source,
                              ann.created_at, ann.retracted):  # fmt: skip
                    self.fail("I1-annotations-kept", f"annotation {ann.id}: {stored}")
            if set(rows) - set(o.anns):
                self.fail("I1-annotations-kept", f"unexpected {sorted(set(rows) - set(o.anns))}")
            for lid in set(o.labels) - set(labels):
                self.fail("I1-annotations-kept", f"label {lid} was deleted")
            for lid in o.removed & set(labels):
                self.fail("I16-undo-state", f"label {lid} should have been removed")
            for lid, lb in o.labels.items():
                db = labels.get(lid)
                if db is None:
                    continue
                counts = db.id if db.active else db.mapped_to_id
                if (db.name, db.active, counts) != (lb.name, lb.active, o.resolve(lid)):
                    self.fail("I2-taxonomy", f"label {lid}: {(db.name, db.active, counts)}, "
                              f"oracle {(lb.name, lb.active, o.resolve(lid))}")  # fmt: skip
            project_id = labels[next(iter(o.labels))].project_id
            # I6: an example waits in the queue exactly when nothing is agreed: how many wait,
            # and each example the step touched (every one after a taxonomy change)
            free = assignment_repo.count_free_examples(session=s, project_id=project_id)
            if free != sum(1 for ex in self.examples if o.agreed(ex) is None):
                self.fail("I6-queue", f"{free} examples wait in the queue, oracle another count")
            for ex in self.examples if self.touched is None else sorted(self.touched):
                has = assignment_repo.has_label(session=s, project_id=project_id, example_id=ex)
                if has != (o.agreed(ex) is not None):
                    self.fail("I6-queue", f"#{ex}: has_label {has}; {o.describe_votes(ex)}")
        self.touched = set()

    def check_export(self) -> dict[int, str | None]:
        """I3-I5 and the export's predictions; returns each example's export label."""
        o = self.o
        active = {lb.name for lb in o.active()}
        allowed = (self.prediction_names() if self.model else set()) | active
        by_text = {text: ex for ex, text in self.texts.items()}
        records = exporting.export_records(self.ws, PROJECT)
        if len(records) != len(self.examples):
            self.fail("I3-export-label", f"{len(records)} rows for {len(self.examples)} examples")
        out = {}
        for record in records:
            ex = by_text[record["text"]]
            out[ex] = record["label"]
            if record["label"] != o.agreed_name(ex):
                self.fail("I3-export-label", f"#{ex}: {record['label']!r}, oracle "
                          f"{o.agreed_name(ex)!r}; {o.describe_votes(ex)}")  # fmt: skip
            if record["label"] is not None and record["label"] not in active:
                self.fail("I4-export-current", f"#{ex}: {record['label']!r} is retired")
            clicked = sorted((o.labels[a.label].name, a.annotator, a.source) for a in o.live(ex))
            shown = sorted((a["label"], a["annotator"], a["source"]) for a in record["annotations"])
            if clicked != shown:
                self.fail("I5-export-clicked", f"#{ex}: {shown}, oracle {clicked}")
            prediction = record.get("prediction")
            if self.model and prediction and prediction["label"] not in allowed:
                self.fail("I11-predict", f"export #{ex}: {prediction['label']!r}")
        return out

    def check_history(self) -> None:
        history = taxonomy.label_history(self.ws, project=PROJECT)
        got = [(h.id, h.kind, h.actor, h.reason, h.undone_by) for h in history]
        want = [(e.id, e.kind, e.actor, e.reason, e.undone_by) for e in self.o.events]
        if got != want:
            self.fail("I12-history", f"{got[-3:]}, oracle {want[-3:]}")
        times = [h.created_at for h in history]
        if times != sorted(times) or not all(h.summary for h in history):
            self.fail("I12-history", "out of order, or a change without a summary")
