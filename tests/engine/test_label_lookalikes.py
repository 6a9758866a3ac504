"""Label names that differ only in characters that show nothing, on SQLite and PostgreSQL: a
variation selector ("😀" and "😀" + U+FE0F draw alike), a ZWJ or ZWNJ between letters. A name
keeps them (emoji sequences and Persian words need them), but a second name that differs from
a label's only in them is refused wherever a name is given, as a change of case is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import projects, taxonomy
from storage.db import session_scope
from storage.errors import ConflictError, InvalidInputError
from storage.models import Label
from storage.repositories import projects as projects_repo

SMILE, SMILE_EMOJI = "\U0001f600", "\U0001f600\ufe0f"  # U+FE0F: the emoji style
THUMBS_TEXT, THUMBS = "\U0001f44d\ufe0e", "\U0001f44d"  # U+FE0E: the text style
UNSEEN = "a joiner or variation selector, which does not show"

ALIKE = [
    (SMILE, SMILE_EMOJI),
    (THUMBS_TEXT, THUMBS),
    ("AB", "A\u200cB"),  # ZWNJ
    ("AB", "A\u200dB"),  # ZWJ
    ("\u845b", "\u845b\U000e0100"),  # an ideographic variation selector
    ("late fee", "late\u200d fee"),  # the joiner gone, the space stays one space
]


@pytest.mark.parametrize(("name", "alike"), ALIKE)
def test_a_name_that_differs_only_in_a_joiner_or_variation_selector_is_refused(
    ws: Any, name: str, alike: str
) -> None:
    projects.create_project(ws, name="p", labels=[name, "b", "c"])
    common = {"ws": ws, "project": "p", "actor": "me", "rescore": False}
    attempts = [
        lambda: taxonomy.add_labels(names=[alike], **common),
        lambda: taxonomy.rename_label(label="b", new_name=alike, **common),
        lambda: taxonomy.merge_labels(labels=["b", "c"], into=alike, **common),
        lambda: taxonomy.split_label(label="c", into=[alike, "z"], **common),
    ]
    for attempt in attempts:
        with pytest.raises(ConflictError) as refused:
            attempt()
        assert f"label {alike!r} already exists ({name!r}: it differs only in {UNSEEN})" in str(
            refused.value
        )
    with pytest.raises(InvalidInputError, match="duplicate label names"):
        projects.create_project(ws, name="q", labels=[name, alike])
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == [name, "b", "c"]
    assert taxonomy.label_history(ws, project="p") == []
    # the label may still take the other form of its own name, which is stored as given
    taxonomy.rename_label(label=name, new_name=alike, **common)
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == [alike, "b", "c"]


def test_a_retired_label_keeps_its_name_from_a_name_that_only_adds_a_joiner(ws: Any) -> None:
    projects.create_project(ws, name="p", labels=["NDA", "Lease"])
    taxonomy.retire_label(ws, project="p", label="NDA", actor="me", rescore=False)
    with pytest.raises(ConflictError, match="a retired label has the name 'N\\\\u200dDA'"):
        taxonomy.add_labels(ws, project="p", names=["N\u200dDA"], actor="me", rescore=False)


def test_case_width_and_a_variation_selector_together_are_named(ws: Any) -> None:
    projects.create_project(ws, name="p", labels=["\u2764\ufe0f Lease"])
    with pytest.raises(ConflictError) as refused:
        taxonomy.add_labels(ws, project="p", names=["\u2764 LEASE"], actor="me", rescore=False)
    assert "differs only in case, width and a joiner or variation selector" in str(refused.value)


@pytest.mark.parametrize("name", ["\u200d", "\ufe0f", "\u200c\ufe0f \u200d"])
def test_a_name_of_only_joiners_or_variation_selectors_is_refused(ws: Any, name: str) -> None:
    projects.create_project(ws, name="p", labels=["a", "b"])
    with pytest.raises(InvalidInputError, match="a label name cannot be empty: .* show nothing"):
        taxonomy.add_labels(ws, project="p", names=[name], actor="me", rescore=False)
    with pytest.raises(InvalidInputError, match="a label name cannot be empty"):
        taxonomy.rename_label(ws, project="p", label="a", new_name=name, actor="me")
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == ["a", "b"]


def test_joiners_that_words_and_emoji_need_still_make_distinct_labels(ws: Any) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    names = ["می\u200cخواهم", f"{family} family", SMILE_EMOJI, "\u845b\U000e0100"]
    projects.create_project(ws, name="p", labels=names)
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == names  # kept as given


def test_labels_alike_from_before_the_rule_still_work(ws: Any, tmp_path: Path) -> None:
    """A database may hold two labels the rule now calls alike: the fold is computed from the
    names, never stored, so each is still found by its own name, either may be renamed apart
    (and an undo does not make them alike again), and a third alike is refused."""
    projects.create_project(ws, name="p", labels=[SMILE, "b"])
    with session_scope(ws.db) as session:
        project = projects_repo.get_project(session=session, name="p")
        session.add(Label(project_id=project.id, name=SMILE_EMOJI, position=2))
    common = {"ws": ws, "project": "p", "actor": "me", "rescore": False}

    path = tmp_path / "votes.csv"
    path.write_text(f"text,label\none,{SMILE}\ntwo,{SMILE_EMOJI}\n", encoding="utf-8")
    assert projects.import_file(ws, project="p", path=path, embed=False).annotations == 2
    with pytest.raises(ConflictError, match="already exists"):
        taxonomy.add_labels(names=[f"{SMILE}\ufe0e"], **common)
    with pytest.raises(ConflictError, match="already exists"):  # still alike the other one
        taxonomy.rename_label(label=SMILE_EMOJI, new_name=f"{SMILE}\ufe0e", **common)
    taxonomy.rename_label(label=SMILE_EMOJI, new_name="grin", **common)
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == [SMILE, "b", "grin"]
    with pytest.raises(ConflictError, match="cannot rename 'grin' back"):  # apart, they stay so
        taxonomy.undo_last(ws, project="p", actor="me")
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == [SMILE, "b", "grin"]


def test_an_import_naming_a_label_with_a_joiner_it_lacks_names_the_label(
    ws: Any, tmp_path: Path
) -> None:
    projects.create_project(ws, name="p", labels=["AB", "c"])
    path = tmp_path / "votes.csv"
    path.write_text("text,label\none,AB\ntwo,A\u200cB\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r":3: unknown label '.*': did you mean 'AB'") as e:
        projects.import_file(ws, project="p", path=path, embed=False)
    assert "differs only in a joiner or variation selector, which does not show" in str(e.value)
