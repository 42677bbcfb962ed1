"""The roofline chart: each op as a point of intensity (FLOPs per byte) against FLOP/s, under
the device's ceilings (memory bandwidth, matrix and vector peak).

matplotlib is optional and imported only when a chart is asked for (object-oriented API, no
pyplot state). Points use measured time where the rows have ``time_s``, else the estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import OpCountError
from ..reports.plot import figure_class
from .roofline import MATRIX_CATEGORIES, Ceilings


def roofline_points(rows: pd.DataFrame) -> pd.DataFrame:
    """The data of :func:`plot_roofline`: per row with FLOPs, bytes and a time, its
    ``intensity``, ``flops_per_s`` (measured where ``time_s`` exists, else estimated), op,
    dtype and whether it runs on the matrix units. ``rows`` carry the roofline columns."""
    column = "time_s" if "time_s" in rows.columns else "est_time_s"
    moved = rows["bytes_read"] + rows["bytes_written"]
    keep = (rows["flops"] > 0) & (moved > 0) & (rows[column] > 0)
    chosen = rows[keep]
    return pd.DataFrame(
        {
            "op": chosen["op"].to_numpy(),
            "dtype": chosen["dtype"].to_numpy(),
            "matrix": chosen["category"].isin(MATRIX_CATEGORIES).to_numpy(),
            "intensity": (chosen["flops"] / moved[keep]).to_numpy(dtype=np.float64),
            "flops_per_s": (chosen["flops"] / chosen[column]).to_numpy(dtype=np.float64),
            "time": column,
        }
    )


def plot_roofline(rows: pd.DataFrame, ceiling: Ceilings) -> Any:
    """Ops as points (intensity, FLOP/s) on log axes under the ceilings of ``ceiling``: the
    memory roof ``bandwidth x intensity`` and the flat matrix and vector peaks of the dtype
    with the most FLOPs. Returns the matplotlib ``Figure``."""
    points = roofline_points(rows)
    figure = figure_class()(figsize=(7, 4.8), layout="constrained")
    axes = figure.subplots()
    axes.set_xscale("log")
    axes.set_yscale("log")
    flops_by_dtype = rows[rows["flops"] > 0].groupby("dtype")["flops"].sum()
    dtype = str(flops_by_dtype.idxmax()) if len(flops_by_dtype) else "float32"
    lows = [float(points["intensity"].min())] if len(points) else []
    highs = [float(points["intensity"].max())] if len(points) else []
    for matrix, style in ((True, "-"), (False, "--")):
        try:
            peak = ceiling.peak(dtype, matrix)
        except OpCountError:  # the device lists no such peak for this dtype
            continue
        knee = peak / ceiling.bandwidth
        lo, hi = min([knee / 100, *lows]), max([knee * 100, *highs])
        xs = np.geomspace(lo, hi, 200)
        kind = "matrix" if matrix else "vector"
        axes.plot(xs, np.minimum(peak, ceiling.bandwidth * xs), style, color="black",
                  label=f"{ceiling.name} {dtype} {kind} peak")  # fmt: skip
    for matrix, color, label in ((True, "#4C72B0", "matmul/conv/attention"),
                                 (False, "#DD8452", "other ops")):  # fmt: skip
        chosen = points[points["matrix"] == matrix]
        if len(chosen):
            axes.scatter(chosen["intensity"], chosen["flops_per_s"], s=12, alpha=0.7,
                         color=color, label=label)  # fmt: skip
    kind = "measured" if len(points) and points["time"].iloc[0] == "time_s" else "estimated"
    axes.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    axes.set_ylabel(f"{kind} FLOP/s")
    axes.set_title(f"Roofline on {ceiling.name}: {len(points)} ops")
    axes.legend(loc="lower right", fontsize="small")
    return figure
