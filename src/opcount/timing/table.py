"""The printed roofline table: per module, estimated time, share, bound and intensity.

Pure functions of a ``by_module`` frame that carries the estimate's columns (see
:func:`roofline_modules`); numbers are scaled to units only here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from ..errors import OpCountError
from ..reports.format import format_bytes, format_compact, format_share, render_table
from ..reports.table import module_label, tree_levels
from .roofline import COMPUTE, MEMORY, NETWORK, NONE, Ceilings

_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_seconds(seconds: float, digits: int = 3) -> str:
    """``0.00123`` -> ``"1.230 ms"``; 0 -> ``"0 s"``; below a nanosecond in ``ns`` anyway."""
    if seconds == 0:
        return "0 s"
    for scale, unit in _UNITS:
        if abs(seconds) >= scale:
            return f"{seconds / scale:.{digits}f} {unit}"
    return f"{seconds / 1e-9:.{digits}f} ns"


def module_bound(compute_s: float, memory_s: float, network_s: float = 0.0) -> str:
    """The bound of a module: the kind of row that took most of its estimated time."""
    largest = max(compute_s, memory_s, network_s)
    if largest == 0:
        return NONE
    if compute_s == largest:
        return COMPUTE
    return MEMORY if memory_s == largest else NETWORK


def intensity(flops: int, moved: int) -> float:
    """FLOPs per byte moved; NaN when nothing moved."""
    return flops / moved if moved else math.nan


def format_intensity(value: float) -> str:
    """``12.345`` -> ``"12.3"``; NaN (nothing moved) -> ``"-"``."""
    return "-" if math.isnan(value) else f"{value:.1f}"


def roofline_table(frame: pd.DataFrame, ceiling: Ceilings, depth: int | None) -> str:
    """The module table of a roofline: ``frame`` is ``by_module`` with ``est_time_s``,
    ``est_time_share`` and the split ``compute_s``/``memory_s``/``network_s`` columns."""
    names = [str(m) for m in frame["module"]]
    levels = tree_levels(names)
    headers = ["module", "type", "est. time", "time %", "bound", "FLOP/B", "FLOPs", "moved"]
    rows: list[Sequence[str]] = []
    for level, record in zip(levels, frame.to_dict("records")):
        if depth is not None and level > depth:
            continue
        moved = int(record["bytes_read"]) + int(record["bytes_written"])
        rows.append(
            [
                module_label(str(record["module"]), level),
                str(record["module_type"]),
                format_seconds(float(record["est_time_s"])),
                format_share(float(record["est_time_share"])),
                module_bound(
                    float(record["compute_s"]),
                    float(record["memory_s"]),
                    float(record.get("network_s", 0.0)),
                ),
                format_intensity(intensity(int(record["flops"]), moved)),
                format_compact(int(record["flops"]), "FLOPs"),
                format_bytes(moved),
            ]
        )
    return render_table(headers, rows, "<<>>>>>>")


def header_lines(ceiling: Ceilings, total_s: float, dtypes: Sequence[str]) -> list[str]:
    """What the estimate assumes: the device, its bandwidth and the peaks the rows used."""
    lines = [f"roofline on {ceiling.name}: estimated {format_seconds(total_s)} in all"]
    if ceiling.peak_flops is not None:
        peaks = f"peak {format_compact(int(ceiling.peak_flops), 'FLOP/s')} for every op"
    else:
        parts = []
        for dtype in dtypes:
            try:
                matrix, vector = ceiling.peak(dtype, True), ceiling.peak(dtype, False)
            except OpCountError:  # a dtype the device lists no peak for: no row of it had FLOPs
                continue
            parts.append(
                f"{dtype} {format_compact(int(matrix), 'FLOP/s')} matrix, "
                f"{format_compact(int(vector), 'FLOP/s')} vector"
            )
        peaks = "; ".join(parts) if parts else "no op with FLOPs"
    lines.append(f"  memory {format_bytes(int(ceiling.bandwidth))}/s; {peaks}")
    return lines
