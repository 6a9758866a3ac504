"""`labelbot review NAME --list` shows names and texts as they are: its table cells were
escaped for markup the console does not read, so a label "[p1]" showed as "\\[p1]"."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import reviews
from tests.bot.test_cli_audit_fixes import _ok
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (the fixture)


def test_the_review_list_shows_brackets_as_they_are(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _project("trial", tmp_path, train=False)
    row = reviews.ReviewRow(
        id=1, example_id=2, text="[urgent] the tenant pays", given="[p1]", given_by="[ana]",
        suggested="[lease]", confidence=0.9, status="changed", reviewer="[bob]", outcome="[lease]",
    )  # fmt: skip
    monkeypatch.setattr(reviews, "list_reviews", lambda *a, **k: [row])
    shown = _ok("review", "trial", "--list", "--status", "all")
    assert "\\[" not in shown, shown
    for part in ("[urgent] the tenant pays", "[p1] ([ana])", "[lease] (90%)", "changed: [lease]"):
        assert part in shown, shown
    assert "[bob]" in shown
