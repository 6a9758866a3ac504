"""`labelbot serve` under load gives back what it takes: slow export downloads cannot take every
database connection from Slack, and a download's connection comes back when it ends, however
it ends (bench/serve_load.py measures the same, with more clients).

Each download here reads through a socket with a small receive buffer, as a slow link would: the
server's writes then block, and the export holds its connection, as the README says.
"""

from __future__ import annotations

import csv
import gc
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import bot.api as http_api
from engine import projects
from tests.bot.conftest import API_TOKEN, PROJECT, Bot

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
BIG = "big"
# 2,000 examples of ~6 KB: a 12 MB export, more than the kernel buffers between two sockets on
# loopback hold for a client that reads nothing (a 4 MB send buffer at most)
PAD = " and a few more words to make the export large" * 130
POOL = 15  # SQLAlchemy's QueuePool: 5 connections and 10 more (storage.db.make_engine)


@pytest.fixture
def big(bot: Bot, tmp_path: Path) -> str:
    """A project whose export is too large to sit in socket buffers."""
    projects.create_project(bot.ws, name=BIG, labels=["a", "b"])
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([f"text {i}{PAD}"] for i in range(2000))
    projects.import_file(bot.ws, project=BIG, path=path, embed=False)
    return BIG


@pytest.fixture
def no_cycle_collection() -> Iterator[None]:
    """Only reference counting frees objects: what waits for the cycle collector stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _slow_download(url: str) -> socket.socket:
    """GET the big export on a socket that reads nothing yet (a 4 KB receive buffer)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect((host, int(port)))
    request = (
        f"GET /api/projects/{BIG}/export HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_TOKEN}\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


def _status(sock: socket.socket) -> int:
    """The status of the answer on ``sock`` (reads its first bytes)."""
    return int(sock.recv(1024).split(b" ", 2)[1])


def _checked_out(bot: Bot) -> int:
    return int(bot.ws.db.pool.checkedout())  # type: ignore[attr-defined]


def _until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_slow_export_downloads_leave_database_connections_for_slack(
    bot: Bot, bank: dict[str, str], big: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one more download than the pool has connections: before, 15 of them took the whole pool,
    # the 16th failed with a 500 after the pool's 30 s wait, and so did every Slack click
    monkeypatch.setattr(http_api, "EXPORT_WAIT_S", 2.0)
    downloads = [_slow_download(bot.url) for _ in range(POOL + 1)]
    try:
        statuses = sorted(_status(sock) for sock in downloads)
        # the first EXPORT_SLOTS stream; the others waited EXPORT_WAIT_S for a slot: 503
        assert statuses == [200] * http_api.EXPORT_SLOTS + [503] * (
            POOL + 1 - http_api.EXPORT_SLOTS
        )
        assert _checked_out(bot) <= http_api.EXPORT_SLOTS
        # Slack still gets its answers while the downloads hang
        user = "U0LOADED"
        assert bot.slack.command(user, PROJECT).status_code == 200
        message = bot.api.wait_for_new_message(bot.api.dm_channel(user), "0", timeout=45)
        assert message.get("blocks"), message
        busy = httpx.get(f"{bot.url}/api/projects/{big}/export", headers=AUTH, timeout=30)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
        assert busy.json()["detail"] == http_api.EXPORTS_BUSY.format(slots=http_api.EXPORT_SLOTS)
    finally:
        for sock in downloads:
            sock.close()
    bot.settle()
    assert _until(lambda: _checked_out(bot) == 0), _checked_out(bot)


def test_a_download_given_up_mid_body_returns_its_connection_at_once(
    bot: Bot, big: str, no_cycle_collection: None
) -> None:
    for _ in range(3):
        with (
            httpx.Client(base_url=bot.url, timeout=30) as client,
            client.stream("GET", f"/api/projects/{big}/export", headers=AUTH) as response,
        ):
            assert response.status_code == 200
            next(response.iter_raw(4096))  # one piece, then the client hangs up
    # before, each stayed checked out (in its read transaction) until the cycle collector ran
    assert _until(lambda: _checked_out(bot) == 0), _checked_out(bot)
    # and the slots are free again: a whole export still downloads
    whole = httpx.get(f"{bot.url}/api/projects/{big}/export", headers=AUTH, timeout=60)
    assert whole.status_code == 200 and whole.text.count("\n") == 2000


def test_a_download_that_stops_reading_is_cut_off_and_frees_its_slot(
    bot: Bot, big: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_api, "EXPORT_SEND_TIMEOUT_S", 1.0)
    monkeypatch.setattr(http_api, "EXPORT_WAIT_S", 20.0)
    stuck = [_slow_download(bot.url) for _ in range(http_api.EXPORT_SLOTS)]
    try:
        assert [_status(sock) for sock in stuck] == [200] * http_api.EXPORT_SLOTS
        # every slot is held by a client that reads nothing: they are cut off, and the next
        # download gets a slot instead of a 503 once EXPORT_WAIT_S has passed
        after = httpx.get(f"{bot.url}/api/projects/{big}/export", headers=AUTH, timeout=60)
        assert after.status_code == 200 and after.text.count("\n") == 2000
    finally:
        for sock in stuck:
            sock.close()
    assert _until(lambda: _checked_out(bot) == 0), _checked_out(bot)


def test_head_of_an_export_answers_what_a_get_would_now_and_takes_no_slot(
    bot: Bot, big: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Downloads that read nothing hold the slots. While one is free, a HEAD answers 200 and
    leaves it to the next download; with none free, the GET's 503 at once (not after the GET's
    wait for a slot: before, a 200 that promised a download the GET then refused)."""
    monkeypatch.setattr(http_api, "EXPORT_WAIT_S", 20.0)
    url = f"{bot.url}/api/projects/{big}/export"
    slots = http_api.EXPORT_SLOTS
    held = [_slow_download(bot.url) for _ in range(slots - 1)]
    try:
        assert [_status(sock) for sock in held] == [200] * (slots - 1)
        for _ in range(slots):  # a HEAD that took the last slot would leave the next none
            assert httpx.head(url, headers=AUTH, timeout=10).status_code == 200
        held.append(_slow_download(bot.url))
        assert _status(held[-1]) == 200
        started = time.monotonic()
        head = httpx.head(url, headers=AUTH, timeout=30)
        assert time.monotonic() - started < 10  # not the GET's 20 s
        assert head.status_code == 503 and head.headers["retry-after"] == "30"
        monkeypatch.setattr(http_api, "EXPORT_WAIT_S", 0.05)
        get = httpx.get(url, headers=AUTH, timeout=10)  # the GET's refusal, after its wait
        assert get.status_code == 503 and get.headers["retry-after"] == "30"
        assert get.json()["detail"] == http_api.EXPORTS_BUSY.format(slots=slots)
        assert head.headers["content-length"] == get.headers["content-length"]  # its detail
        held.pop().close()  # one download given up: its slot comes back, and the HEAD says so
        assert _until(lambda: httpx.head(url, headers=AUTH, timeout=10).status_code == 200)
    finally:
        for sock in held:
            sock.close()
    assert _until(lambda: _checked_out(bot) == 0), _checked_out(bot)


def test_retrains_keep_the_workspace_memo_bounded_and_predict_answers(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import training
    from engine import workspace as workspace_module
    from tests.bot.conftest import train_bank

    monkeypatch.setattr(workspace_module, "MEMO_LIMIT", 3)
    bot.ws.memo = {}  # as training and project deletion assign it: still bounded
    train_bank(bot, bank)
    runs = [training.train_project(bot.ws, PROJECT, seed=i) for i in range(4)]
    # before, every model trained stayed in the memo for the life of the process
    assert len(bot.ws.memo) <= 3, list(bot.ws.memo)
    assert ("model", runs[-1].id) in bot.ws.memo  # the newest stays
    answer = httpx.post(
        f"{bot.url}/api/projects/{PROJECT}/predict",
        json={"texts": ["my card still has not arrived"]},
        headers=AUTH,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] in bank.values()
