"""Channel and admin ids are checked where they are stored: a name ("#general", "@walter") is
refused with a clear error and nothing changes; Slack's mention forms give their ids."""

from __future__ import annotations

import pytest

from engine import project_settings, projects
from storage.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("C0123ABCD", "C0123ABCD"), ("<#C0123|general>", "C0123"), ("<#G42>", "G42"),
     (" D1 ", "D1")],
)  # fmt: skip
def test_channel_ids_and_mentions_give_the_id(text: str, expected: str) -> None:
    assert projects.as_channel_id(text) == expected


@pytest.mark.parametrize("text", ["#general", "general", "c0123", "<#C1|a", "", "C0 1"])
def test_channel_names_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a Slack channel id"):
        projects.as_channel_id(text)


def test_admins_are_checked_and_mentions_read(ws) -> None:  # type: ignore[no-untyped-def]
    checked = project_settings.check_settings({"admins": ["<@U01|ann>", "W02", "<@U03>"]})
    assert checked["admins"] == ["U01", "W02", "U03"]
    for wrong in ("@walter", "walter", "U01|ann", "<!here>"):
        with pytest.raises(InvalidInputError, match="is not a Slack user id"):
            project_settings.check_settings({"admins": ["U01", wrong]})


def test_a_channel_name_changes_nothing(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="'#legal' is not a Slack channel id"):
        projects.create_project(ws, name="contracts", labels=["NDA", "Lease"], channel_id="#legal")
    assert projects.list_projects(ws) == []
    projects.create_project(ws, name="contracts", labels=["NDA", "Lease"], channel_id="<#C9|x>")
    with pytest.raises(InvalidInputError, match="not a Slack channel id"):
        projects.set_channel(ws, project="contracts", channel_id="#legal")
    assert projects.get_project(ws, "contracts").channel_id == "C9"
    projects.set_channel(ws, project="contracts", channel_id=None)
    assert projects.get_project(ws, "contracts").channel_id is None
