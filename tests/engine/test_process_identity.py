"""Each process is its own lease owner, even where HOST:PID repeats: two containers each run
their process as PID 1, and share the host's name under `docker run --network host`, k8s
`hostNetwork: true` or a fixed compose `hostname:` (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
from types import ModuleType

import pytest

from engine import jobs
from storage.db import session_scope
from storage.repositories import leases


def _replica(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """engine.jobs as a fresh process runs it: its module body executed anew (what is drawn
    once per process is drawn again), in a container that runs it as PID 1 on a host "vm"."""
    monkeypatch.setattr(os, "getpid", lambda: 1)
    monkeypatch.setattr(socket, "gethostname", lambda: "vm")
    spec = importlib.util.spec_from_file_location(name, jobs.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def twins(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The process and thread owners of two such containers."""
    replicas = [_replica(f"replica_{i}", monkeypatch) for i in "ab"]
    return [[r.default_owner(), r.thread_owner()] for r in replicas]


def test_two_containers_with_one_host_name_and_pid_are_distinct_owners(twins) -> None:  # type: ignore[no-untyped-def]
    (process_a, thread_a), (process_b, thread_b) = twins
    assert process_a.startswith("vm:1:") and process_b.startswith("vm:1:")
    assert process_a != process_b
    assert thread_a.startswith(process_a + ":") and thread_b.startswith(process_b + ":")


def test_their_scheduler_leases_exclude_each_other(twins, db) -> None:  # type: ignore[no-untyped-def]
    (process_a, thread_a), (process_b, thread_b) = twins
    with session_scope(db) as s:
        assert leases.try_acquire(
            session=s, name="train:bank", owner=process_a, ttl=jobs.TRAIN_LEASE
        )
        assert leases.try_acquire(
            session=s, name="digest:bank", owner=thread_a, ttl=jobs.TRAIN_LEASE
        )
    with session_scope(db) as s:
        assert not leases.try_acquire(
            session=s, name="train:bank", owner=process_b, ttl=jobs.TRAIN_LEASE
        ), "B took A's training lease as its own"
        assert not leases.try_acquire(
            session=s, name="digest:bank", owner=thread_b, ttl=jobs.TRAIN_LEASE
        )
        assert leases.holder(session=s, name="train:bank") == process_a


def test_thread_owners_build_on_the_process_owner() -> None:
    process = jobs.default_owner()
    assert process == jobs.default_owner()  # drawn once: the scheduler knows its own leases
    host, pid, token = process.split(":")
    assert pid.isdigit() and len(token) == 8
    seen: list[str] = []
    other = threading.Thread(target=lambda: seen.append(jobs.thread_owner()))
    other.start()
    other.join()
    mine = jobs.thread_owner()
    assert seen[0].startswith(process + ":") and mine.startswith(process + ":")
    assert seen[0] != mine  # the claims of two threads of one process exclude each other too
    assert len(process) + 1 + 20 <= 200  # with a thread's id, fits the owner column
