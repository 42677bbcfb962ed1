"""The roofline estimate of each row: ``max(flops / peak, bytes / bandwidth)`` on a device.

The peak depends on the row: the dense matrix (tensor-core) peak of the row's dtype for matmul,
conv and attention, the vector peak for every other category; the bandwidth is the device's.
Rows that take no time by definition (free ops; anything with no FLOPs and no bytes) take 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..devices import DeviceLike, DeviceSpec, device_spec
from ..devices import peak_flops as table_peak
from ..errors import OpCountError

MATRIX_CATEGORIES = frozenset({"matmul", "conv", "attention"})
"""Categories timed against the matrix (tensor-core) peak; the rest use the vector peak."""

ROOFLINE_COLUMNS = ("est_time_s", "intensity", "bound")
"""The columns :func:`roofline_frame` adds to the rows."""

COMPUTE, MEMORY, NETWORK, NONE = "compute", "memory", "network", "none"
"""Values of ``bound``: which term set the row's time (``none``: the row takes 0)."""

# Row dtypes without a peak of their own: complex work is float work on each component, and a
# row whose first tensor is not floating point (``where`` with a bool condition first) but does
# count FLOPs computes in float32.
_PEAK_DTYPE = {"complex32": "float16", "complex64": "float32", "complex128": "float64"}
_FLOAT_PREFIXES = ("float", "bfloat")


@dataclass(frozen=True)
class Ceilings:
    """What bounds a row's time: the device (None when described by numbers only), a peak
    FLOP/s overriding every per-dtype peak, the memory and network bandwidths in bytes/s."""

    name: str
    spec: DeviceSpec | None
    bandwidth: float
    peak_flops: float | None = None
    network_bandwidth: float | None = None

    def peak(self, dtype: str, matrix: bool) -> float:
        """The peak FLOP/s of work in ``dtype`` (a row's dtype name), matrix or vector."""
        if self.peak_flops is not None:
            return self.peak_flops
        assert self.spec is not None  # ceilings() gives either a peak or a spec
        key = _PEAK_DTYPE.get(dtype, dtype if dtype.startswith(_FLOAT_PREFIXES) else "float32")
        return table_peak(self.spec, key, matrix=matrix)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OpCountError(f"{name} must be a number (per second), got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise OpCountError(f"{name} must be positive and finite, got {value!r}")
    return number


def ceilings(
    device: DeviceLike | None = None,
    *,
    peak_flops: float | None = None,
    bandwidth: float | None = None,
    network_bandwidth: float | None = None,
) -> Ceilings:
    """The ceilings of ``device`` (a name of ``opcount.DEVICES``, ``"auto"`` or a
    :class:`~opcount.devices.DeviceSpec`), with ``peak_flops`` (one FLOP/s for every row) and
    ``bandwidth`` (bytes/s) overriding it; without a device, both numbers are needed."""
    peak = None if peak_flops is None else _positive("peak_flops", peak_flops)
    memory = None if bandwidth is None else _positive("bandwidth", bandwidth)
    network = (
        None if network_bandwidth is None else _positive("network_bandwidth", network_bandwidth)
    )
    if device is None:
        if peak is None or memory is None:
            raise OpCountError(
                "a roofline needs a device (e.g. 'h100-sxm', see opcount.DEVICES) or both "
                f"peak_flops= and bandwidth= (got peak_flops={peak_flops!r}, "
                f"bandwidth={bandwidth!r})"
            )
        return Ceilings("custom", None, memory, peak, network)
    spec = device_spec(device)
    return Ceilings(spec.name, spec, spec.bandwidth if memory is None else memory, peak, network)


def roofline_frame(rows: pd.DataFrame, ceiling: Ceilings) -> pd.DataFrame:
    """``rows`` with :data:`ROOFLINE_COLUMNS` added: the estimated seconds of each row,
    ``intensity`` (FLOPs per byte read or written; NaN for a row that moves no bytes) and
    ``bound``.

    Communication rows (category ``comm``, when the rows have ``comm_bytes``) take
    ``comm_bytes / network_bandwidth`` where a network bandwidth is given, else 0 (left out).
    """
    frame = rows.copy()
    n = len(frame)
    flops = frame["flops"].to_numpy(dtype=np.float64)
    moved = frame["bytes_read"].to_numpy(dtype=np.float64) + frame["bytes_written"].to_numpy(
        dtype=np.float64
    )
    peaks = np.ones(n)  # only rows with FLOPs divide by a peak
    categories = frame["category"].to_numpy(dtype=object)
    dtypes = frame["dtype"].to_numpy(dtype=object)
    counted = flops > 0
    matrix = np.fromiter((c in MATRIX_CATEGORIES for c in categories), dtype=bool, count=n)
    looked_up: dict[tuple[str, bool], float] = {}
    for index in np.flatnonzero(counted):
        key = (str(dtypes[index]), bool(matrix[index]))
        peak = looked_up.get(key)
        if peak is None:
            peak = looked_up[key] = ceiling.peak(*key)
        peaks[index] = peak
    compute = np.where(counted, flops / peaks, 0.0)
    memory = moved / ceiling.bandwidth
    time = np.maximum(compute, memory)
    bound = np.where(time == 0, NONE, np.where(compute >= memory, COMPUTE, MEMORY)).astype(object)
    if "comm_bytes" in frame.columns:
        comm = (categories == "comm") & (frame["comm_bytes"].to_numpy() > 0)
        if ceiling.network_bandwidth is None:
            time = np.where(comm, 0.0, time)
            bound[comm] = NONE
        else:
            sent = frame["comm_bytes"].to_numpy(dtype=np.float64)
            time = np.where(comm, sent / ceiling.network_bandwidth, time)
            bound[comm] = NETWORK
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(moved > 0, flops / np.where(moved > 0, moved, 1.0), np.nan)
    frame["est_time_s"] = time
    frame["intensity"] = intensity
    frame["bound"] = pd.Series(bound, index=frame.index, dtype=frame["op"].dtype)
    return frame
