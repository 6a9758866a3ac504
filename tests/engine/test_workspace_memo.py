"""The workspace memo keeps what it holds within a byte budget as well as a count: a blend
model holds its pool's label-spreading distributions (and, read from its file, a copy of the
pool's vectors), so 64 models of a large project held gigabytes in a long-running worker or
`labelbot serve`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from engine import predicting, training
from engine import workspace as workspace_module
from engine.classifier import Model, PoolGraph
from engine.workspace import Memo, Workspace, footprint
from tests.helpers import label_next, load_slice

MB = 1 << 20


def _block(mb: int) -> np.ndarray:
    return np.zeros(mb * MB, dtype=np.uint8)


def test_the_oldest_entries_go_once_the_arrays_exceed_the_budget() -> None:
    memo = Memo(max_bytes=10 * MB)
    for i in range(4):
        memo[("model", i)] = _block(3)
    assert list(memo) == [("model", 1), ("model", 2), ("model", 3)]  # 9 MB kept, not 12
    memo[("model", 1)] = memo[("model", 1)]  # set again: the newest
    assert memo.get(("model", 2)) is not None  # read: the newest too (the graph read each retrain)
    memo["other"] = _block(3)
    assert list(memo) == [("model", 1), ("model", 2), "other"]  # 3 went, not 2
    assert memo.get("gone", 7) == 7
    memo["big"] = _block(25)  # larger than the budget alone: it stays, and only it
    assert list(memo) == ["big"] and memo.nbytes == 25 * MB


def test_arrays_are_counted_once_and_through_what_holds_them() -> None:
    pool = np.ones((1000, 384), dtype=np.float32)  # 1.5 MB
    adj = sparse.random(1000, 1000, density=0.01, format="csr", dtype=np.float32)
    graph = PoolGraph(pool=pool, k=10, norm_adj=adj)
    spread = np.ones((1000, 8), dtype=np.float32)
    weight, bias = np.ones((384, 8), dtype=np.float32), np.ones(8, dtype=np.float32)
    model = Model(kind="blend", n_classes=8, weight=weight, bias=bias, pool=pool, spread=spread)
    adj_bytes = adj.data.nbytes + adj.indices.nbytes + adj.indptr.nbytes
    assert footprint([graph]) == pool.nbytes + adj_bytes
    # the model trained in this process shares the graph's pool: its vectors count once
    shared = pool.nbytes + adj_bytes + spread.nbytes + weight.nbytes + bias.nbytes
    assert footprint([graph, model]) == shared
    assert footprint([(graph, "x"), {"m": model}, pool[:10]]) == shared  # a view is its base
    assert footprint([pool.copy()]) == pool.nbytes


def test_retrains_keep_the_memo_within_its_bytes_and_predict_answers(
    ws: Workspace,
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    first = training.train_project(ws, "bank", seed=0)
    graph = next(v for k, v in ws.memo.items() if k[0] == "graph")
    budget = footprint([graph, ws.memo[("model", first.id)]]) + 1  # the graph and a model
    monkeypatch.setattr(workspace_module, "MEMO_BYTES", budget)
    ws.memo = dict(ws.memo)  # as training assigns it: a memo with today's bounds
    runs = [training.train_project(ws, "bank", seed=i) for i in range(1, 5)]
    assert len(ws.memo) == 1 or ws.memo.nbytes <= budget, (ws.memo.nbytes, budget, list(ws.memo))
    assert ("model", runs[-1].id) in ws.memo  # the newest stays
    assert ("model", first.id) not in ws.memo  # before, all five models stayed
    # an evicted model is read from its file again when asked for
    ws.memo = {}
    answer = predicting.answer(ws, "bank", ["my card still has not arrived"])
    assert answer.predictions[0].label in set(truth.values())
