"""`labelbot project set` and `labelbot digest` as a person runs them (typer's runner, SQLite)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from engine import projects


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, str(result.output)


def test_an_en_dash_schedule_is_weekdays_and_a_bad_one_changes_nothing(cli_env) -> None:  # type: ignore[no-untyped-def]
    """A schedule of "mon–fri" from a phone or a word processor was stored as typed and fired
    on Mondays only; "mon-fri!" was taken. Now the first is mon-fri, and the second is refused with
    nothing stored, the other options given with it included."""
    assert _run("project", "create", "p", "--labels", "a,b")[0] == 0
    code, out = _run("project", "set", "p", "--digest-cron", "0 9 * * mon–fri")
    assert code == 0, out
    assert "digest_cron = 0 9 * * mon-fri" in out.splitlines()
    code, out = _run(
        "project", "set", "p", "--retrain-every", "30", "--digest-cron", "0 9 * * mon-fri!"
    )
    assert code == 2, out
    assert "day of the week 'mon-fri!'" in out
    code, out = _run("project", "set", "p")
    assert "digest_cron = 0 9 * * mon-fri" in out.splitlines()
    assert "retrain_every = 20 (default)" in out.splitlines()


def test_the_cli_digest_counts_people_off_the_leaderboard_unnamed(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`/label leaderboard off` kept a name out of the channel's digest, but `labelbot digest`
    printed it ("by U0SHY (2), U0KEEN (1)"); now it counts those labels as the channel does."""
    from bot.cli.common import workspace
    from engine import labeling, rhythm

    assert _run("project", "create", "p", "--labels", "a,b")[0] == 0
    texts = tmp_path / "p.csv"
    texts.write_text("text\n" + "".join(f"text {i}\n" for i in range(6)), encoding="utf-8")
    ws = workspace()
    projects.import_file(ws, project="p", path=texts, embed=False)
    rhythm.update_rhythm(ws, user="U0SHY", leaderboard=False)
    for who in ("U0SHY", "U0SHY", "U0KEEN"):
        task = labeling.next_task(ws, project="p", annotator=who)
        assert task is not None
        labeling.submit_label(
            ws, project="p", example_id=task.example_id, label="a", annotator=who,
            source="cli", key=f"{who}:{task.example_id}",
        )  # fmt: skip
    ws.close()
    code, out = _run("digest", "p", "--out", str(tmp_path / "d.png"))
    assert code == 0, out
    assert "p: 3 new labels" in out
    assert "by U0KEEN (1), 2 by others off the leaderboard" in out.splitlines(), out
    assert "U0SHY" not in out

    ws = workspace()
    rhythm.update_rhythm(ws, user="U0KEEN", leaderboard=False)
    ws.close()
    code, out = _run("digest", "p", "--out", str(tmp_path / "d.png"))
    assert "3 by people off the leaderboard" in out.splitlines(), out
    assert "U0SHY" not in out and "U0KEEN" not in out
