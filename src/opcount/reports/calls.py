"""Per-call view: one row per call of a module, with the inclusive costs of that call.

Each op belongs to the frame (module call) it ran in, or, for a backward op, to the frame of the
forward op whose autograd node ran it; a call's ops are those of its frame and of every frame
nested below it, found through the tracker's parent of each frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..engine.tracker import PHASES
from ..errors import OpCountError

__all__ = ["CALL_METRICS", "by_call", "call_owners"]

CALL_METRICS = ("flops", "macs", "bytes_read", "bytes_written")
"""The summed columns of :func:`by_call`; ``comm_bytes`` and ``time_s`` join when rows have them."""

_OPTIONAL_METRICS = ("comm_bytes", "time_s")


def call_owners(
    frames: Sequence[tuple[str, str, int, int]], parents: Sequence[int], module: str
) -> tuple[list[int], np.ndarray]:
    """``(calls, owner)``: the frames that are calls of ``module`` (not of a backward phase),
    and per frame the call it is nested in (itself for those calls; -1 outside every one)."""
    calls = [f for f, (fqn, _t, _c, phase) in enumerate(frames) if fqn == module and phase != 1]
    if not calls:
        names = sorted({fqn for fqn, *_ in frames[2:]}, key=lambda n: (n.count("."), n))
        shown = ", ".join(repr(n) for n in names[:8]) + (", ..." if len(names) > 8 else "")
        raise OpCountError(f"module {module!r} never ran; modules that ran: {shown or 'none'}")
    owner = np.full(len(frames), -1, dtype=np.int64)
    targets = set(calls)
    for frame in range(len(frames)):
        if frame in targets:
            owner[frame] = frame
            continue
        parent = parents[frame] if frame < len(parents) else -1
        # a call in another phase than its caller (a recompute inside a forward) is its own
        if parent >= 0 and frames[parent][3] == frames[frame][3]:
            owner[frame] = owner[parent]
    return calls, owner


def by_call(
    rows: pd.DataFrame,
    frame_ids: np.ndarray,
    frames: Sequence[tuple[str, str, int, int]],
    parents: Sequence[int],
    module: str = "",
    input_shapes: Mapping[int, Any] | None = None,
) -> pd.DataFrame:
    """One row per call of ``module``: ``call``, ``phase`` (of the call: forward or recompute),
    ``input_shapes`` (of its positional arguments, when recorded), ``ops`` and the inclusive
    :data:`CALL_METRICS` of every op attributed to the call, its backward ops included.

    ``frame_ids`` gives each row's frame; ``input_shapes`` maps a frame to its shapes.
    """
    calls, owner = call_owners(frames, parents, module)
    row_owner = owner[frame_ids] if len(frame_ids) else np.zeros(0, dtype=np.int64)
    metrics = [*CALL_METRICS, *(m for m in _OPTIONAL_METRICS if m in rows.columns)]
    inside = row_owner >= 0
    sums = rows.loc[inside, metrics].groupby(row_owner[inside], sort=False).sum()
    counts = pd.Series(row_owner[inside]).value_counts()
    shapes = input_shapes or {}
    records = []
    for frame in calls:
        _fqn, _type, call, phase = frames[frame]
        record: dict[str, Any] = {
            "call": call,
            "phase": PHASES[phase],
            "input_shapes": shapes.get(frame, ()),
            "ops": int(counts.get(frame, 0)),
        }
        for metric in metrics:
            value: Any = sums.at[frame, metric] if frame in sums.index else 0
            record[metric] = value if metric == "time_s" else int(value)
        records.append(record)
    columns = ["call", "phase", "input_shapes", "ops", *metrics]
    return pd.DataFrame.from_records(records, columns=columns)
