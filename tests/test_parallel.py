"""The shared host pool keeps order, runs work on several threads and lets errors through."""

from __future__ import annotations

import threading
import time

import pytest

from labeler import parallel


def test_results_come_back_in_input_order():
    def slow_square(i: int) -> int:
        time.sleep(0.002 * (10 - i))  # later items finish first
        return i * i

    assert parallel.map_images(slow_square, range(10)) == [i * i for i in range(10)]


def test_a_batch_runs_on_pool_threads_and_one_item_runs_inline(monkeypatch):
    monkeypatch.setattr(parallel, "WORKERS", 4)
    names = parallel.map_images(lambda _: threading.current_thread().name, range(6))
    assert all(n.startswith("labeler-host") for n in names)
    assert parallel.map_images(lambda _: threading.current_thread().name, [0]) == [threading.current_thread().name]


def test_an_error_in_one_item_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(parallel, "WORKERS", 4)

    def fail_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("item 3")
        return i

    with pytest.raises(ValueError, match="item 3"):
        parallel.map_images(fail_on_three, range(6))


def test_the_memory_budget_lets_no_more_than_its_total_run_at_once():
    budget = parallel.MemoryBudget(100)
    inside = []
    peak = []
    lock = threading.Lock()
    release = threading.Event()

    def work(n: int) -> None:
        with budget.hold(n):
            with lock:
                inside.append(n)
                peak.append(sum(inside))
            release.wait(5)
            with lock:
                inside.remove(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in (60, 60, 30, 500)]
    for t in threads:
        t.start()
    while budget.used == 0:
        time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert max(peak) <= 500 and all(p <= 100 or p == 500 for p in peak)  # the oversized one ran alone
    assert budget.used == 0
