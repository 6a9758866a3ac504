"""No label name holds a comma, whatever names it (lists of labels are comma-separated): the
engine refuses one in every taxonomy operation that names a label, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from engine import projects, taxonomy
from storage.errors import InvalidInputError

COMMA = "a label name cannot contain a comma: 'x,y' (lists of labels are comma-separated)"


def test_every_operation_that_names_a_label_refuses_a_comma(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["a", "b", "c"])
    common = {"ws": ws, "project": "p", "actor": "me", "rescore": False}
    attempts = [
        lambda: taxonomy.add_labels(names=["ok", "x,y"], **common),
        lambda: taxonomy.rename_label(label="a", new_name="x,y", **common),
        lambda: taxonomy.merge_labels(labels=["a", "b"], into="x,y", **common),
        lambda: taxonomy.split_label(label="c", into=["x,y", "z"], **common),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInputError) as caught:
            attempt()
        assert str(caught.value) == COMMA
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == ["a", "b", "c"]
    assert taxonomy.label_history(ws, project="p") == []

    taxonomy.rename_label(label="a", new_name="  x   y ", **common)  # spaces tidied, as before
    assert [lb.name for lb in projects.list_labels(ws, project="p")][0] == "x y"


def test_a_project_is_not_created_with_a_label_holding_a_comma(ws) -> None:  # type: ignore[no-untyped-def]
    """Creating a project (and the engine's plain add) goes through the same rule: nothing is
    stored when one of its labels holds a comma."""
    with pytest.raises(InvalidInputError) as caught:
        projects.create_project(ws, name="q", labels=["a", "x,y"])
    assert str(caught.value) == COMMA
    assert [p.name for p in projects.list_projects(ws)] == []
    projects.create_project(ws, name="q", labels=["a", "  b  c "])
    assert [lb.name for lb in projects.list_labels(ws, project="q")] == ["a", "b c"]
    with pytest.raises(InvalidInputError):
        projects.add_labels(ws, project="q", names=["x,y"])
    assert [lb.name for lb in projects.list_labels(ws, project="q")] == ["a", "b c"]
