"""Threads kept apart: the global module hooks fire for every thread, but a counter attributes
only the module calls of the thread it counts. Two threads, each with its own model and its own
OpCounter, running at once, give each counter exactly the rows it gives when run alone."""

from __future__ import annotations

import threading

import pandas as pd
import torch
from torch import nn

from opcount import OpCounter

ZERO_GRAD = torch.optim.Optimizer.__dict__["zero_grad"]  # what every run must leave in place
REPEATS = 10  # whole two-thread runs; each counts STEPS forward+backward steps
STEPS = 5


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))


def convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)
    )


MODELS = {"mlp": (mlp, (4, 16)), "conv": (convnet, (2, 3, 8, 8))}


def run(name: str, start: threading.Barrier | None = None) -> pd.DataFrame:
    """The rows of STEPS training steps (forward, backward, optimizer step and zero_grad) of
    model ``name`` under its own counter."""
    build, shape = MODELS[name]
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(*shape)
    if start is not None:
        start.wait()
    with OpCounter(model) as counter:
        for _ in range(STEPS):
            model(x).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    assert not counter.tracking_problems, counter.tracking_problems
    return counter.to_dataframe()


def worker(
    name: str,
    start: threading.Barrier,
    results: dict[str, pd.DataFrame],
    errors: list[BaseException],
) -> None:
    try:
        results[name] = run(name, start)
    except BaseException as error:  # reported by the main thread
        errors.append(error)


def test_two_counters_in_two_threads_give_their_solo_rows() -> None:
    solo = {name: run(name) for name in MODELS}
    assert set(solo["mlp"]["module"]) >= {"0", "1", "2", "<optimizer>"}
    for _ in range(REPEATS):
        start = threading.Barrier(len(MODELS))
        results: dict[str, pd.DataFrame] = {}
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=worker, args=(name, start, results, errors)) for name in MODELS
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        for name, rows in results.items():
            pd.testing.assert_frame_equal(rows, solo[name], check_exact=True)
        # the counters wrapped zero_grad once between them and gave it back
        assert torch.optim.Optimizer.__dict__["zero_grad"] is ZERO_GRAD


def test_another_threads_modules_leave_a_counter_untouched() -> None:
    model, x = mlp(), torch.randn(4, 16)
    started, done = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        while not done.is_set():
            model(x)

    thread = threading.Thread(target=busy)
    thread.start()
    started.wait()
    try:
        with OpCounter() as counter:
            torch.ones(3).sum()
            for _ in range(200):  # give the other thread's module calls time to happen
                torch.ones(3).add_(1)
    finally:
        done.set()
        thread.join()
    rows = counter.to_dataframe()
    assert set(rows["module"]) == {"<outside>"}
    assert not counter.tracking_problems, counter.tracking_problems
