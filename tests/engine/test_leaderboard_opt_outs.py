"""Who turned the leaderboard off, read at once for everyone (the digest names nobody in it),
on SQLite and PostgreSQL."""

from __future__ import annotations

from engine import rhythm
from engine.workspace import Workspace


def test_opt_outs_are_those_who_turned_the_leaderboard_off(ws: Workspace) -> None:
    assert rhythm.leaderboard_opt_outs(ws) == set()
    rhythm.update_rhythm(ws, user="U1", leaderboard=False)
    rhythm.update_rhythm(ws, user="U2", leaderboard=True)
    rhythm.update_rhythm(ws, user="U3", tz="Europe/Berlin")  # met, never opted out
    assert rhythm.leaderboard_opt_outs(ws) == {"U1"}
    rhythm.update_rhythm(ws, user="U1", leaderboard=True)
    assert rhythm.leaderboard_opt_outs(ws) == set()
