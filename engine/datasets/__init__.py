"""Bundled public data sets (Banking77, CLINC150) for the demo and benchmarks; see each README."""

from __future__ import annotations

import csv
from pathlib import Path

from storage.errors import NotFoundError

DATASETS_DIR = Path(__file__).parent
NAMES = ("banking77", "clinc150")


def dataset_path(name: str, split: str) -> Path:
    """Path of a bundled split (``train`` or ``test``) of data set ``name``."""
    path = DATASETS_DIR / name / f"{split}.csv"
    if not path.is_file():
        raise NotFoundError(
            f"no bundled data set {name!r} split {split!r} (have: {', '.join(NAMES)})"
        )
    return path


def load_split(path: Path, *, drop_labels: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(texts, labels) of a ``text,label`` CSV, leaving out rows whose label is in drop_labels."""
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] in drop_labels:
                continue
            texts.append(row["text"])
            labels.append(row["label"])
    return texts, labels
