"""The shared timing helper: interleaved runs, medians, and the result rows every family returns."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One measured line of the benchmark table."""

    family: str
    name: str
    value: float
    unit: str
    ratio: float | None = None
    """Against the uninstrumented run (or the baseline the name states); None where none."""
    target: str = ""
    met: bool | None = None
    """Whether ``target`` was met; None where there is no target."""


def under_limit(
    family: str, name: str, value: float, unit: str, limit: float, *, judged: bool
) -> Result:
    """A line whose target is ``value < limit``; judged only on a full run (quick runs use
    smaller sizes, where the issue's targets do not apply)."""
    if not judged:
        return Result(family, name, value, unit)
    return Result(family, name, value, unit, None, f"< {limit:g} {unit}", value < limit)


def interleaved(
    cases: Mapping[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds of one call of each case, the cases run in turn ``repeats`` times.

    The order rotates every round so no case always runs first (after a collection) or last;
    ``gc.collect()`` before each call keeps one case's garbage off the next one's clock.
    ``clock`` is wall time by default; single-threaded micro-benchmarks pass
    ``time.thread_time`` (CPU time of this thread), which other processes on a shared machine
    disturb far less.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = clock()
            cases[name]()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}
