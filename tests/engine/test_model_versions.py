"""How a model version is written: one rule (engine.training.parse_version), for the CLI and
Slack alike."""

from __future__ import annotations

import pytest

from engine import training
from storage.errors import InvalidInputError


@pytest.mark.parametrize(("text", "version"), [("3", 3), ("v3", 3), ("V12", 12), ("３", 3)])
def test_a_version_is_digits_with_an_optional_v(text: str, version: int) -> None:
    assert training.looks_like_version(text)
    assert training.parse_version(text) == version


@pytest.mark.parametrize("text", ["", "v", "vv3", "²", "3.0", "-1", " 3", "3a", "v 3"])
def test_anything_else_is_no_version(text: str) -> None:
    assert not training.looks_like_version(text)
    with pytest.raises(InvalidInputError) as caught:
        training.parse_version(text)
    assert str(caught.value) == f"{text!r} is not a model version (e.g. 3 or v3)"


def test_a_version_of_ten_digits_is_written_as_one_but_refused() -> None:
    """Ten digits read as a version (so `/label pin 1234567890` is not taken for a project),
    but no database could hold it: the same message."""
    assert training.looks_like_version("v1234567890")
    with pytest.raises(InvalidInputError, match="is not a model version"):
        training.parse_version("v1234567890")
    assert training.parse_version("v999999999") == 999_999_999
