"""What ``OpCounter``'s time methods do with one counted run: the rows and the engine's mode
turned into a roofline, per-module seconds, a trace or a chart."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pandas as pd

from ..devices import DeviceLike
from ..engine.mode import CountingMode
from ..engine.timed_mode import TimedCountingMode
from ..errors import OpCountError
from . import modules, plot, trace
from .roofline import COMPUTE, MEMORY, NETWORK, Ceilings, ceilings, roofline_frame
from .table import header_lines, roofline_table

__all__ = ["DeviceLike", "TimedRun"]


class TimedRun:
    """One counted run's rows (``OpCounter.to_dataframe``, built only when asked for) and the
    mode that recorded them."""

    def __init__(self, rows: Callable[[], pd.DataFrame], mode: CountingMode) -> None:
        self._rows = rows
        self.mode = mode

    @cached_property
    def rows(self) -> pd.DataFrame:
        """The run's rows."""
        return self._rows()

    @property
    def measured(self) -> bool:
        """Whether the run was timed (``OpCounter(timing=True)``)."""
        return isinstance(self.mode, TimedCountingMode)

    def roofline(
        self,
        device: DeviceLike | None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
        network_bandwidth: float | None = None,
    ) -> pd.DataFrame:
        ceiling = ceilings(
            device, peak_flops=peak_flops, bandwidth=bandwidth, network_bandwidth=network_bandwidth
        )
        return roofline_frame(self.rows, ceiling)

    def add_module_times(
        self,
        frame: pd.DataFrame,
        phase: str | None,
        device: DeviceLike | None,
        peak_flops: float | None,
        bandwidth: float | None,
    ) -> pd.DataFrame:
        """``frame`` (a ``by_module`` frame) with ``time_s`` columns when the run was timed and
        ``est_time_s`` columns when a device (or both numbers) is given."""
        wanted = device is not None or peak_flops is not None or bandwidth is not None
        if not self.measured and not wanted:
            return frame
        rows = self.rows if phase is None else self.rows[self.rows["phase"] == phase]
        frames = self.mode.tracker.frames
        if self.measured:
            frame = modules.join_times(frame, modules.module_times(rows, frames, "time_s"))
        if wanted:
            estimate = roofline_frame(
                rows, ceilings(device, peak_flops=peak_flops, bandwidth=bandwidth)
            )
            frame = modules.join_times(frame, modules.module_times(estimate, frames, "est_time_s"))
        return frame

    def roofline_modules(self, ceiling: Ceilings) -> pd.DataFrame:
        """Per-module estimated seconds, split by what bound each row (``compute_s``,
        ``memory_s``, ``network_s``), for the roofline table."""
        estimate = roofline_frame(self.rows, ceiling)
        frames = self.mode.tracker.frames
        times = modules.module_times(estimate, frames, "est_time_s")
        for kind in (COMPUTE, MEMORY, NETWORK):
            split = estimate.assign(
                **{f"{kind}_s": estimate["est_time_s"].where(estimate["bound"] == kind, 0.0)}
            )
            part = modules.module_times(split, frames, f"{kind}_s")
            times[f"{kind}_s"] = times["module"].map(dict(zip(part["module"], part[f"{kind}_s"])))
        return times

    def roofline_report(
        self,
        frame: pd.DataFrame,
        depth: int | None,
        device: DeviceLike | None,
        peak_flops: float | None,
        bandwidth: float | None,
    ) -> str:
        """The printed roofline: what it assumes, then per module (``frame`` is ``by_module``)
        the estimated time, its share, the bound and the intensity."""
        ceiling = ceilings(device, peak_flops=peak_flops, bandwidth=bandwidth)
        times = self.roofline_modules(ceiling)
        joined = frame.merge(times, on="module", how="left").fillna(
            dict.fromkeys(times.columns[1:], 0.0)
        )
        total = float(roofline_frame(self.rows, ceiling)["est_time_s"].sum())
        flops_dtypes = self.rows[self.rows["flops"] > 0]["dtype"]
        dtypes = [str(d) for d in pd.unique(flops_dtypes)]
        lines = header_lines(ceiling, total, dtypes)
        return "\n".join([*lines, roofline_table(joined, ceiling, depth)])

    def write_trace(
        self,
        path: str | os.PathLike[str],
        device: DeviceLike | None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> None:
        """Write the run's Trace Event Format file (see :mod:`.trace`)."""
        wanted = device is not None or peak_flops is not None or bandwidth is not None
        if not self.measured and not wanted:
            raise OpCountError(
                "a trace needs times: count with OpCounter(timing=True), or name a device "
                "(e.g. to_chrome_trace(path, 'h100-sxm')) to lay ops out by their roofline"
            )
        rows = self.rows
        from .. import __version__  # late: the package imports this module while initialising

        metadata: dict[str, Any] = {"producer": f"opcount {__version__}"}
        if wanted:
            ceiling = ceilings(device, peak_flops=peak_flops, bandwidth=bandwidth)
            rows = roofline_frame(rows, ceiling)
            metadata["device"] = ceiling.name
        if self.measured:
            assert isinstance(self.mode, TimedCountingMode)
            starts, ends = self.mode.clock.spans()
            spans = (starts[: len(rows)], ends[: len(rows)])
            metadata["timestamps"] = "measured: each op's kernel call, " + (
                "CUDA events on the op's stream" if self.mode.clock.timed_cuda else "CPU wall time"
            )
        else:
            spans = trace.back_to_back(rows["est_time_s"].tolist())
            metadata["timestamps"] = (
                f"estimated: ops back to back, each taking its roofline estimate plus 1 ns on "
                f"{metadata['device']} (not measured)"
            )
        events = self.mode.events
        tracker = self.mode.tracker
        document = trace.chrome_trace(
            rows, events.frames, tracker.frames, tracker.parent_frames(), spans, metadata
        )
        trace.write_trace(document, path)

    def plot(
        self,
        device: DeviceLike | None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> Any:
        """The roofline chart of :func:`.plot.plot_roofline`."""
        ceiling = ceilings(device, peak_flops=peak_flops, bandwidth=bandwidth)
        return plot.plot_roofline(roofline_frame(self.rows, ceiling), ceiling)
