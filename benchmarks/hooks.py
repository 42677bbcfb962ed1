"""Per-module-call hook cost: one forward through a chain of modules that run no aten op, so
only module tracking (global forward pre/post hooks and what they do per call) is on the clock.

Each counter sees each module once, as in counting one forward pass. Two inputs: one without
grad (torch's trackers then hook nothing: their cheapest case) and one requiring grad (as in
training, where they register gradient hooks per call). Timed in CPU time of this thread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.module_tracker import ModuleTracker

from .timing import Result, interleaved
from .variants import opcount_counter

NAME = "hooks"

TRACKERS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "plain": nullcontext,
    "opcount": opcount_counter,
    "FlopCounterMode": lambda: FlopCounterMode(display=False),
    "torch ModuleTracker": ModuleTracker,
}


class Passthrough(nn.Module):
    """Returns its input: a module call with no aten op inside."""

    def forward(self, x: Tensor) -> Tensor:
        return x


def run(quick: bool) -> list[Result]:
    modules, repeats = (200, 5) if quick else (2000, 21)
    model = nn.Sequential(*(Passthrough() for _ in range(modules)))
    results = []
    for grad in (False, True):
        x = torch.randn(4, requires_grad=grad)
        label = "input requires grad" if grad else "input without grad"

        def case(factory: Callable[[], AbstractContextManager[Any]]) -> Callable[[], None]:
            def go() -> None:
                with factory():
                    model(x)  # noqa: B023  (each case is run before x changes)

            return go

        cases = {name: case(factory) for name, factory in TRACKERS.items()}
        medians = interleaved(cases, repeats, clock=time.thread_time)
        plain = medians["plain"]
        cost = {name: (seconds - plain) / modules * 1e6 for name, seconds in medians.items()}
        results.append(
            Result(NAME, f"plain module call, {label}", plain / modules * 1e6, "us/call")
        )
        for name in ("opcount", "FlopCounterMode", "torch ModuleTracker"):
            results.append(
                Result(
                    NAME,
                    f"{name}: added per module call, {label}",
                    cost[name],
                    "us/call",
                    medians[name] / plain,
                )
            )
        share = cost["opcount"] / min(cost["FlopCounterMode"], cost["torch ModuleTracker"])
        results.append(
            Result(
                NAME,
                f"opcount added / cheaper torch tracker added, {label}",
                share,
                "x",
                None,
                "<= 0.33x",
                share <= 1 / 3,
            )
        )
    results.append(_first_report(model, repeats))
    return results


def _first_report(model: nn.Module, repeats: int) -> Result:
    """The first ``by_module()`` after counting, per module call: module calls are named then,
    not in the hooks, so this is where that work went (off the user's hot path)."""
    x = torch.randn(4)
    modules = len(model) + 1
    samples = []
    for _ in range(repeats):
        with opcount_counter() as counter:
            model(x)
        start = time.thread_time()
        counter.by_module()
        samples.append(time.thread_time() - start)
    return Result(
        NAME,
        "opcount: first by_module() afterwards, per module call (names the calls)",
        statistics.median(samples) / modules * 1e6,
        "us/call",
    )
