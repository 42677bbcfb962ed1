"""The run as a trace in the Trace Event Format (JSON), for chrome://tracing and ui.perfetto.dev.

One process, one track (thread) per phase. On each track, module calls are nested complete
(``"X"``) slices named by their call path, and ops are slices inside the innermost module call
that ran them, with the row's costs as args. A module call's slice spans from the start of its
first op to the end of its last op on that track, so slices nest exactly as the call tree does.
Timestamps are either measured (``OpCounter(timing=True)``) or laid out back to back from the
roofline estimate (:func:`back_to_back`); ``otherData`` says which.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..engine.tracker import OUTSIDE, PHASES, UNATTRIBUTED

PID = 1
"""The trace's one process: the run."""

_ARG_COLUMNS: tuple[tuple[str, type], ...] = (
    ("seq", int),
    ("op", str),
    ("overload", str),
    ("category", str),
    ("status", str),
    ("flops", int),
    ("macs", int),
    ("bytes_read", int),
    ("bytes_written", int),
    ("module", str),
    ("dtype", str),
    ("shapes", str),
)
_OPTIONAL_ARGS: tuple[tuple[str, type], ...] = (
    ("est_time_s", float),
    ("bound", str),
    ("time_s", float),
)


def back_to_back(seconds: Sequence[float]) -> tuple[list[int], list[int]]:
    """``(starts_ns, ends_ns)`` of calls laid out one after another, each taking its seconds
    plus one nanosecond.

    The extra nanosecond gives ops the estimate prices at 0 (views, allocations) or below a
    nanosecond a slice a viewer can draw inside their module (a viewer ends a slice where the
    next one starts, so a zero-length op at a module's end would be drawn outside it). Times
    are rounded from the running sum, not summed from rounded durations, so nothing drifts:
    op ``i`` starts at ``round(sum of the seconds before it, in ns) + i``."""
    ends = np.cumsum(np.asarray(seconds, dtype=np.float64)) * 1e9
    ends_ns = [round(float(e)) + i + 1 for i, e in enumerate(ends)]
    return [0, *ends_ns[:-1]], ends_ns


def _chains(
    frames: Sequence[tuple[str, str, int, int]], parents: Sequence[int]
) -> list[tuple[int, ...]]:
    """Per frame, the module calls it ran inside, outermost first, itself last; () for the
    pseudo frames (ops outside every module, backward ops of nodes made before the run)."""
    chains: list[tuple[int, ...]] = []
    for frame, (fqn, _type, _call, phase) in enumerate(frames):
        if fqn in (OUTSIDE, UNATTRIBUTED) and frame < 2:
            chains.append(())
            continue
        parent = parents[frame]
        if parent >= 0 and frames[parent][3] == phase and chains[parent]:
            chains.append((*chains[parent], frame))
        else:
            chains.append((frame,))
    return chains


def _micros(ns: int) -> float:
    """Trace timestamps are microseconds; nanoseconds give three exact decimals."""
    return ns / 1000


def chrome_trace(
    rows: pd.DataFrame,
    call_frames: Sequence[int],
    frames: Sequence[tuple[str, str, int, int]],
    parents: Sequence[int],
    spans_ns: tuple[Sequence[int], Sequence[int]],
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """The trace as a JSON object: ``rows`` are the run's rows in ``seq`` order, ``call_frames``
    each call's module frame, ``frames``/``parents`` the tracker's frame table and each frame's
    caller, ``spans_ns`` each call's start and end in ns (any origin)."""
    starts, ends = spans_ns
    origin = min(starts) if len(starts) else 0
    chains = _chains(frames, parents)
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": PID, "tid": 0, "name": "process_name", "args": {"name": "opcount"}}
    ]
    for tid, phase in enumerate(PHASES, start=1):
        if (rows["phase"] == phase).any():
            events.append(
                {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": phase}}
            )
            events.append(
                {"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index",
                 "args": {"sort_index": tid}}
            )  # fmt: skip
    tids = {phase: tid for tid, phase in enumerate(PHASES, start=1)}
    # per track: the open module slices, innermost last, and where its last op ended
    open_slices: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    last_end: dict[int, int] = {}

    def close(tid: int, keep: int) -> None:
        stack = open_slices[tid]
        while len(stack) > keep:
            _frame, event = stack.pop()
            event["dur"] = _micros(last_end[tid] - event["_start"])
            del event["_start"]

    columns = [(name, kind, rows[name].tolist()) for name, kind in _ARG_COLUMNS]
    columns += [(n, k, rows[n].tolist()) for n, k in _OPTIONAL_ARGS if n in rows.columns]
    phases = rows["phase"].tolist()
    for index in range(len(rows)):
        tid = tids[phases[index]]
        start, end = starts[index] - origin, ends[index] - origin
        chain = chains[call_frames[index]]
        stack = open_slices.setdefault(tid, [])
        common = 0
        while common < len(stack) and common < len(chain) and stack[common][0] == chain[common]:
            common += 1
        if common < len(stack):
            close(tid, common)
        for frame in chain[common:]:
            fqn, module_type, call, _phase = frames[frame]
            event = {
                "ph": "X", "cat": "module", "name": fqn or "(root)", "pid": PID, "tid": tid,
                "ts": _micros(start), "_start": start,
                "args": {"module": fqn, "module_type": module_type, "call": call},
            }  # fmt: skip
            events.append(event)
            stack.append((frame, event))
        args = {name: _plain(kind, values[index]) for name, kind, values in columns}
        events.append(
            {"ph": "X", "cat": "op", "name": str(args["op"]), "pid": PID, "tid": tid,
             "ts": _micros(start), "dur": _micros(end - start), "args": args}
        )  # fmt: skip
        last_end[tid] = end
    for tid in open_slices:
        close(tid, 0)
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": dict(metadata)}


def _plain(kind: type, value: Any) -> Any:
    """A JSON value of an arg: ints exact, NaN (no bytes moved) as null."""
    if kind is float:
        number = float(value)
        return None if math.isnan(number) else number
    return kind(value)


def write_trace(trace: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``trace`` as JSON (strict: no NaN or Infinity, which the format's readers refuse)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(trace, handle, allow_nan=False, separators=(",", ":"))
