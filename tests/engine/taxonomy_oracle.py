"""An independent model of the README's taxonomy rules, for tests/engine/test_taxonomy_fuzz.py.

It is computed differently from labelbot on purpose: labels form chains of "merged or mapped
into" pointers that are never resolved (storage keeps ``mapped_to_id`` resolved), each change
keeps a snapshot of the labels before it (undo restores it), every annotation is recorded, and
the agreed label is recomputed from the README's wording.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class OLabel:
    id: int
    name: str
    active: bool = True
    to: int | None = None  # the label it was merged or mapped into (a chain, never resolved)
    stale_at: datetime | None = None  # when a split or an unmapped retire stopped it counting
    split_into: list[int] | None = None  # its parts, when it was split itself


@dataclass
class OAnn:
    id: int
    example: int
    label: int  # the label clicked
    annotator: str
    source: str
    created_at: datetime
    retracted: bool = False


@dataclass
class OEvent:
    id: int
    kind: str
    actor: str
    reason: str
    snapshot: dict[int, OLabel]  # the labels before the change
    created: list[int] = field(default_factory=list)  # the labels it created
    split: int | None = None  # the label a split split
    undone_by: int | None = None
    old_name: str | None = None  # a rename's


class Oracle:
    def __init__(self) -> None:
        self.labels: dict[int, OLabel] = {}
        self.removed: set[int] = set()  # ids of the labels undos removed
        self.anns: dict[int, OAnn] = {}
        self.events: list[OEvent] = []

    def resolve(self, label_id: int) -> int | None:
        """The active label ``label_id`` counts as now, walking its chain; None: it waits. A
        split label whose parts all count as one label counts as it (merged back together)."""
        seen: set[int] = set()
        cur: int | None = label_id
        while cur is not None:
            if self.labels[cur].active:
                return cur
            assert cur not in seen, f"the oracle's labels form a cycle at {cur}"
            seen.add(cur)
            label = self.labels[cur]
            if label.to is None and label.split_into:
                parts = {self.resolve(p) if p in self.labels else None for p in label.split_into}
                return parts.pop() if len(parts) == 1 else None
            cur = label.to
        return None

    def terminal(self, label_id: int) -> int:
        """The last label of ``label_id``'s chain (the one that stopped counting, if any)."""
        cur = label_id
        while not self.labels[cur].active and self.labels[cur].to is not None:
            cur = self.labels[cur].to  # type: ignore[assignment]
        return cur

    def active(self) -> list[OLabel]:
        return [lb for lb in self.labels.values() if lb.active]

    def live(self, example: int) -> list[OAnn]:
        rows = [a for a in self.anns.values() if a.example == example and not a.retracted]
        return sorted(rows, key=lambda a: a.id)  # in the order given, as the product reads them

    def agreed(self, example: int) -> int | None:
        """An adjudication decides; else the majority of the votes mapped through the history,
        a tie to the latest vote; a split or unmapped-retired winner means "label it again"
        (None). Such votes are set aside once a vote that counts is given after the change."""
        rows = self.live(example)
        now = {a.id: self.resolve(a.label) for a in rows}
        newest = max((a.created_at for a in rows if now[a.id] is not None), default=None)
        kept = []
        for a in rows:
            since = self.labels[self.terminal(a.label)].stale_at
            if now[a.id] is None and newest is not None and since is not None and newest > since:
                continue  # labeled again since the change: the old vote is set aside
            kept.append(a)
        decided = [now[a.id] for a in kept if a.source == "adjudication"]
        if decided:
            return decided[-1]
        votes = [now[a.id] for a in kept]
        if not votes:
            return None
        counts = Counter(votes)
        return next(v for v in reversed(votes) if counts[v] == max(counts.values()))

    def agreed_name(self, example: int) -> str | None:
        got = self.agreed(example)
        return None if got is None else self.labels[got].name

    def waiting(self, examples: list[int]) -> set[int]:
        """The examples labeled once that wait to be labeled again."""
        return {e for e in examples if self.live(e) and self.agreed(e) is None}

    def used(self, label_id: int, state: dict[int, OLabel]) -> bool:
        """Whether anything refers to the label: an annotation (retracted too), a label."""
        if any(a.label == label_id for a in self.anns.values()):
            return True
        return any(lb.to == label_id for lb in state.values() if lb.id != label_id)

    def split_parts(self, label_id: int) -> tuple[str, ...] | None:
        """What a labeling message says a stale vote's label became: the parts of the split at
        the end of its chain (its own, or that of a label it was merged or mapped into) as
        they are called now, down to today's labels (a part merged since by its target's
        name, a part split in turn by its parts', one retired unmapped left out), or None when
        the chain ends in a retire rather than a split, or no part is left (all retired)."""
        parts = self.labels[self.terminal(label_id)].split_into
        if parts is None:
            return None
        out: list[str] = []
        seen: set[int] = set()

        def walk(part: int) -> None:
            if part in seen or part not in self.labels:
                return
            seen.add(part)
            now = self.resolve(part)
            if now is not None:
                if self.labels[now].name not in out:
                    out.append(self.labels[now].name)
                return
            for inner in self.labels[self.terminal(part)].split_into or []:
                walk(inner)

        for part in parts:
            walk(part)
        return tuple(out) or None

    def snapshot_state(self) -> dict[int, OLabel]:
        return copy.deepcopy(self.labels)

    def describe_votes(self, example: int) -> str:
        out = []
        for a in self.live(example):
            now = self.resolve(a.label)
            target: Any = self.labels[now].name if now is not None else None
            out.append(f"{a.annotator}/{a.source}:{self.labels[a.label].name}->{target}")
        return "[" + ", ".join(out) + "]"
