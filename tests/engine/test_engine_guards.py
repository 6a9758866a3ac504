"""Guards the CLI audit asked of the engine itself: a mistyped classifier kind records no model
run, and an output path the OS refuses in a folder that exists is not called "no such folder"."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import projects, training
from engine.exporting import replacing
from storage.errors import InvalidInputError


def test_a_mistyped_classifier_kind_records_no_run(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["A", "B"])
    with pytest.raises(InvalidInputError, match="unknown classifier kind 'blnd'"):
        training.train_project(ws, "p", kind="blnd")
    assert training.list_versions(ws, "p") == []


def test_an_output_path_refused_in_an_existing_folder_says_why() -> None:
    with pytest.raises(InvalidInputError) as refused, replacing(Path("/proc/labelbot.csv")):
        pass
    assert "cannot write here" in str(refused.value)
    assert "no such folder" not in str(refused.value)
