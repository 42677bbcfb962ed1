"""The ``region`` column from a counter's region boundaries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["region_codes"]


def region_codes(marks: Sequence[tuple[int, str]], n: int) -> tuple[list[str], np.ndarray]:
    """``(names, codes)`` with ``names[codes[seq]]`` the region of op ``seq``, from boundaries
    ``(seq, path)`` in the order they were made (the last boundary at a seq wins)."""
    marks = [(0, ""), *marks]  # ops before the first boundary ran outside every region
    index: dict[str, int] = {}
    starts = np.fromiter((s for s, _ in marks), dtype=np.int64, count=len(marks))
    mark_codes = np.fromiter(
        (index.setdefault(p, len(index)) for _, p in marks), dtype=np.int64, count=len(marks)
    )
    # each op takes the last boundary at or before its seq (side="right": the later of two
    # boundaries at one seq, a region left and another entered between two ops)
    last = np.searchsorted(starts, np.arange(n, dtype=np.int64), side="right") - 1
    return list(index), mark_codes[last]
