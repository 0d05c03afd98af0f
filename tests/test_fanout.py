"""apiflag.fanout: how a night's work is cut into parts, and parts run here in order.

(On a cluster the parts are Dask tasks: tests/test_cluster.py runs them there.)
"""

from __future__ import annotations

import os

from apiflag.fanout import PARTS_PER_WORKER, Where, run_parts, spans, where


def test_spans_cover_the_items_once_in_order_and_keep_every_worker_busy() -> None:
    assert spans(0, 2, 64) == []
    for total in (1, 4, 9, 63, 64, 65, 1000):
        for workers, most in ((1, 64), (2, 64), (2, 5), (8, 500_000)):
            parts = spans(total, workers, most)
            assert [i for r in parts for i in r] == list(range(total))
            assert all(0 < len(r) <= most for r in parts)
            if workers == 1:  # one worker: as few parts as the cap allows
                assert len(parts) == -(-total // most)
            else:  # enough parts for every worker, as long as there are items
                assert len(parts) >= min(total, workers * PARTS_PER_WORKER, -(-total // most))
    assert [len(r) for r in spans(9, 2, 500_000)] == [2, 2, 2, 2, 1]


def _square_plus(offset: int, x: int) -> tuple[int, int]:
    return x * x + offset, os.getpid()


def test_outside_a_cluster_parts_run_here_or_in_a_pool_and_come_back_in_order() -> None:
    assert where(2) == Where(cluster=False, workers=2)
    items = list(range(12))
    here = list(run_parts(_square_plus, items, Where(False, 1), name="t", shared=3))
    assert [v for v, _ in here] == [x * x + 3 for x in items]
    assert {pid for _, pid in here} == {os.getpid()}
    pooled = list(run_parts(_square_plus, items, Where(False, 2), name="t", shared=3))
    assert [v for v, _ in pooled] == [x * x + 3 for x in items]
    assert os.getpid() not in {pid for _, pid in pooled}
