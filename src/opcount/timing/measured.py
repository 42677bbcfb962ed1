"""Measured time as a column: each call's kernel seconds from the timed mode's clock."""

from __future__ import annotations

import numpy as np

from ..engine.timed_mode import CallClock


def seconds(clock: CallClock, calls: int) -> np.ndarray:
    """Seconds of the first ``calls`` op calls (the rows built), CUDA events read now."""
    starts, ends = clock.spans()
    begin = np.fromiter(starts[:calls], dtype=np.int64, count=calls)
    end = np.fromiter(ends[:calls], dtype=np.int64, count=calls)
    values: np.ndarray = (end - begin) / 1e9
    return values
