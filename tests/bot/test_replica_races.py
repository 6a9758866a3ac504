"""Several processes run the scheduler against one database (README: "any number of processes
may run it"): what each posts to Slack must still go out once. Two replicas here are two
`Services` with their own workspace (own connection pool) on one database, racing in two
threads against a local Slack that answers `chat.postMessage` slowly -- on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import disputes, taxonomy_flow
from bot.services import Services, build_services
from engine import consensus, proposing
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import DiscussionThread
from storage.repositories import feedback
from storage.repositories import projects as project_repo
from tests.bot.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import save_found_twice

PROJECT, CHANNEL = "bank", "C0SLOW"
LABELS = ["card_arrival", "age_limit", "atm_support"]
SLOW = 0.5  # seconds per chat.postMessage: one Slack round trip is the race's window


@pytest.fixture
def replicas(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir, encoder
) -> Iterator[tuple[Services, Services]]:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    settings = slack_settings(url, slack_api.api_url, embedding_cache_dir)
    other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
    pair = (build_services(settings, ws=ws), build_services(settings, ws=other))
    yield pair
    for services in pair:
        services.listener_executor.shutdown(wait=True)
        services.dispatch_executor.shutdown(wait=True)
    other.close()


def _together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread, released at the same moment; their results."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work[i]()
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def _project(ws: Workspace, tmp_path: Path) -> None:
    from engine import projects

    projects.create_project(ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([["When will my card arrive?"], ["How old must I be?"], ["ATM?"]])
    projects.import_file(ws, project=PROJECT, path=path, embed=False)


# --- taxonomy proposals ----------------------------------------------------------------------


def _propose(ws: Workspace, kind: str, labels: list[str]) -> int:
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=PROJECT)
        assert found.id is not None
        row, _ = save_found_twice(
            session=session, project_id=found.id, kind=kind, labels=labels,
            key=proposing.key_text([kind, *labels]), score=0.8, evidence={},
            evidence_strength=1.0, message=f"{kind} {' and '.join(labels)}",
        )  # fmt: skip
        return int(row.id or 0)


def test_two_replicas_post_each_proposal_once(
    ws: Workspace, replicas: tuple[Services, Services], slack_api: FakeSlackAPI, tmp_path: Path
) -> None:
    _project(ws, tmp_path)
    ids = [_propose(ws, "merge", LABELS[:2]), _propose(ws, "rare", LABELS[2:])]
    slack_api.slow_down("chat.postMessage", SLOW, channel=CHANNEL)
    a, b = replicas
    counts = _together(
        lambda: taxonomy_flow.post_all_proposals(a), lambda: taxonomy_flow.post_all_proposals(b)
    )
    assert sum(counts) == 2
    posted = slack_api.messages(CHANNEL)
    assert len(posted) == 2  # one message per proposal, not one per replica
    recorded = {proposing.get_proposal(ws, pid).message_ts for pid in ids}
    assert recorded == {m["ts"] for m in posted}  # no orphan message with live buttons
    assert taxonomy_flow.post_all_proposals(b) == 0


def test_a_failed_proposal_post_releases_the_claim_for_the_next_round(
    ws: Workspace, replicas: tuple[Services, Services], slack_api: FakeSlackAPI, tmp_path: Path
) -> None:
    from slack_sdk.errors import SlackApiError

    _project(ws, tmp_path)
    pid = _propose(ws, "merge", LABELS[:2])
    a, b = replicas
    slack_api.fail_next("chat.postMessage", error="fatal_error")
    with pytest.raises(SlackApiError):
        taxonomy_flow.post_proposals(a, project=PROJECT)
    assert proposing.get_proposal(ws, pid).message_ts is None
    assert taxonomy_flow.post_proposals(b, project=PROJECT) == 1  # not locked out by a's failure
    (message,) = slack_api.messages(CHANNEL)
    assert proposing.get_proposal(ws, pid).message_ts == message["ts"]


# --- disagreement threads --------------------------------------------------------------------


def _disagree(ws: Workspace) -> int:
    """Two experts label the first example differently; its id."""
    import sqlalchemy as sa

    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=PROJECT)
        assert found.id is not None
        labels = project_repo.list_labels(session=session, project_id=found.id)
        first = int(session.execute(sa.text("SELECT min(id) FROM examples")).scalar_one())
        for user, label in (("U0ANA", labels[0]), ("U0BOB", labels[1])):
            feedback.add_annotation(
                session=session, example_id=first, label_id=int(label.id or 0), annotator=user,
                source="slack", key=f"test:{user}:{first}",
            )  # fmt: skip
    assert [d.example_id for d in consensus.disagreements(ws, PROJECT)] == [first]
    return first


def _threads(ws: Workspace) -> int:
    import sqlalchemy as sa

    with session_scope(ws.db, read_only=True) as session:
        query = sa.select(sa.func.count()).select_from(DiscussionThread)
        return int(session.execute(query).scalar_one())


def test_two_replicas_open_one_disagreement_thread(
    ws: Workspace,
    replicas: tuple[Services, Services],
    slack_api: FakeSlackAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each process has its own in-memory locks: this process's must not stand in for the
    # other replica's (the bot used to rely on one).
    import contextlib

    monkeypatch.setattr(disputes, "_opening", contextlib.nullcontext(), raising=False)
    _project(ws, tmp_path)
    example = _disagree(ws)
    slack_api.slow_down("chat.postMessage", SLOW, channel=CHANNEL)
    a, b = replicas
    opened = _together(
        lambda: disputes.post_all_disputes(a),  # one replica's scheduler job
        lambda: disputes.open_if_disputed(b, project=PROJECT, example_id=example),  # a click
    )
    assert int(opened[0]) + int(opened[1]) == 1
    assert len(slack_api.messages(CHANNEL)) == 1
    assert _threads(ws) == 1
    assert disputes.post_all_disputes(b) == 0 and disputes.post_all_disputes(a) == 0


def test_a_failed_thread_post_is_retried_by_the_next_round(
    ws: Workspace, replicas: tuple[Services, Services], slack_api: FakeSlackAPI, tmp_path: Path
) -> None:
    _project(ws, tmp_path)
    example = _disagree(ws)
    a, b = replicas
    slack_api.fail_next("chat.postMessage", error="fatal_error")
    assert not disputes.open_if_disputed(a, project=PROJECT, example_id=example)  # logged
    assert _threads(ws) == 0
    assert disputes.post_all_disputes(b) == 1  # the claim was released
    assert len(slack_api.messages(CHANNEL)) == 1 and _threads(ws) == 1


# --- deliveries to one expert ----------------------------------------------------------------


def _live_cards(slack_api: FakeSlackAPI, user: str) -> list[str]:
    """The DM messages to ``user`` that still carry an example's buttons."""
    dm = slack_api.dm_channel(user)
    return [m["ts"] for m in slack_api.messages(dm) if "'actions'" in str(m.get("blocks"))]


@pytest.mark.parametrize("again", [(False, False), (True, False)], ids=["skip+skip", "label+skip"])
def test_two_deliveries_at_once_post_one_live_card(
    ws: Workspace,
    replicas: tuple[Services, Services],
    slack_api: FakeSlackAPI,
    tmp_path: Path,
    again: tuple[bool, bool],
) -> None:
    """Two requests of one expert land at once, on two replicas (a Skip and `/label`, say):
    each asks for the expert's next example. Both used to find it not yet posted and post it,
    leaving two live copies (a click on the second: "you already labeled this example")."""
    from bot import flow

    _project(ws, tmp_path)
    user = "U0ANA"
    slack_api.slow_down("chat.postMessage", SLOW, channel=user)
    a, b = replicas
    sent = _together(
        lambda: flow.send_next(a, user=user, project=PROJECT, again=again[0]),
        lambda: flow.send_next(b, user=user, project=PROJECT, again=again[1]),
    )
    assert sent == [True, True]  # both requests are answered: an example is on its way
    assert len(_live_cards(slack_api, user)) == 1
    slack_api.slow_down("chat.postMessage", 0)
    assert flow.send_next(a, user=user, project=PROJECT, again=False)  # already on screen
    assert len(_live_cards(slack_api, user)) == 1
