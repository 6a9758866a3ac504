"""A file name the system refuses to look up (longer than a name may be, a loop of symbolic
links) is one line naming it, for the file read (`import`, `predict`) as for the --out written
(`export`, `predict`): Path.is_dir() raises ENAMETOOLONG, and that was a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.exporting import replacing
from engine.importing import read_file
from storage.errors import InvalidInputError

TOO_LONG = "a" * 300 + ".csv"


def test_reading_a_name_too_long_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / TOO_LONG
    with pytest.raises(InvalidInputError) as caught:
        read_file(path)
    assert str(caught.value) == f"{path}: cannot read it: File name too long"


def test_writing_a_name_too_long_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / TOO_LONG
    with pytest.raises(InvalidInputError) as caught, replacing(path):
        pass
    assert str(caught.value) == f"{path}: cannot write here (file name too long)"
    assert list(tmp_path.iterdir()) == []


def test_a_loop_of_links_is_named_as_such_not_as_missing(tmp_path: Path) -> None:
    (tmp_path / "one.csv").symlink_to(tmp_path / "two.csv")
    (tmp_path / "two.csv").symlink_to(tmp_path / "one.csv")
    with pytest.raises(InvalidInputError) as caught:
        read_file(tmp_path / "one.csv")
    assert str(caught.value) == (
        f"{tmp_path / 'one.csv'}: cannot read it: Too many levels of symbolic links"
    )


def test_what_was_refused_before_is_refused_as_before(tmp_path: Path) -> None:
    for path, said in [
        (tmp_path / "none.csv", "no such file"),
        (tmp_path, "is a directory; give a file in it"),
        (Path("/dev/null"), "not a regular file"),
    ]:
        with pytest.raises(InvalidInputError) as caught:
            read_file(path)
        assert str(caught.value) == f"{path}: {said}"
    folder = pytest.raises(InvalidInputError, match="is a folder; name a file to write")
    with folder, replacing(tmp_path):
        pass
