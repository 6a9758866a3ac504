"""What the database refuses, and names it cannot hold, become one-line InvalidInputErrors."""

from __future__ import annotations

import unicodedata

import pytest

from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.repositories import projects


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_values_postgres_refuses_are_invalid_input(db) -> None:  # type: ignore[no-untyped-def]
    """The safety net for input that slipped past validation: SQLite stores these silently,
    PostgreSQL refuses them at INSERT time with a DataError that quoted the whole statement."""
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
    too_long = "C" * 80
    with pytest.raises(InvalidInputError) as caught, session_scope(db) as s:
        projects.get_project(session=s, name="p").channel_id = too_long
    message = str(caught.value)
    assert message == (
        "the database refused a value: value too long for type character varying(64)"
    )
    with (
        pytest.raises(InvalidInputError, match=r"Token \"NaN\" is invalid"),
        session_scope(db) as s,
    ):
        projects.update_project_settings(session=s, project_id=project.id, score=float("nan"))
    with pytest.raises(InvalidInputError, match="NUL"), session_scope(db) as s:
        projects.get_project(session=s, name="p").description = "nul\x00byte"
    with session_scope(db) as s:  # each was rolled back; the session still works
        found = projects.get_project(session=s, name="p")
        assert (found.channel_id, found.description, found.settings) == (None, "", {})


def test_a_project_name_with_a_trailing_newline_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="invalid project name"), session_scope(db) as s:
        projects.create_project(session=s, name="nl\n", labels=["a", "b"])


def test_label_names_are_the_same_in_either_unicode_form(db) -> None:  # type: ignore[no-untyped-def]
    nfd, nfc = "e\u0301t\u00e9", unicodedata.normalize("NFC", "e\u0301t\u00e9")
    with pytest.raises(InvalidInputError, match="duplicate label names"), session_scope(db) as s:
        projects.create_project(session=s, name="p", labels=[nfd, nfc])
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=[nfd, "b"])
        assert [lb.name for lb in projects.list_labels(session=s, project_id=project.id)] == [
            nfc,
            "b",
        ]
        # looked up in either form too (an import's label column, a CLI argument)
        assert projects.get_label(session=s, project_id=project.id, name=nfd).name == nfc
        assert projects.get_label(session=s, project_id=project.id, name=" b ").name == "b"
