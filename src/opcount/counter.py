"""OpCounter: the public context manager that counts every aten op of a real run."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import pandas as pd
from torch import nn

from .devices import device_spec
from .devices import peak_flops as spec_peak
from .engine.decisions import DecisionTable, merge_overrides
from .engine.events import UNSUPPORTED
from .engine.mode import CountingMode
from .engine.optimizer_phase import OptimizerPhase
from .engine.symbolic import settle_rows
from .engine.timed_mode import TimedCountingMode
from .engine.tracker import ModuleTracker
from .errors import OpCountError, UnsupportedOpError, check_bool, check_count
from .formulas import REGISTRY
from .formulas.costs import cost_table
from .formulas.registry import OpKey
from .generation import summary as generation
from .regions import RegionLog
from .regions import attach as attach_regions
from .regions import detach as detach_regions
from .reports import calls as call_reports
from .reports import export, frames, table
from .reports.model_flops import hardware_flops, matmul_dtype, model_flops
from .reports.params import count_params, params_by_module
from .timing import measured
from .timing.run import DeviceLike, TimedRun


class OpCounter:
    """Count FLOPs, MACs and bytes of every aten op run inside the ``with`` block.

    >>> with OpCounter() as c:                       # doctest: +SKIP
    ...     model(x).sum().backward()
    >>> c.total_macs, c.to_dataframe()               # doctest: +SKIP

    Args:
        model: optional; names modules called outside their parent by their name in ``model``
            and adds parameter counts.
        formulas: per-counter formulas, ``{op: fn}`` or ``{op: (fn, category)}``, overriding
            the built-in ones; ``fn(args, kwargs, out) -> (flops, macs)``.
        costs: per-element FLOP costs overriding entries of the cost table for this counter's
            runs, e.g. ``{"gelu": 8}`` (see ``opcount.DEFAULT_COSTS``); a counter nested in
            another counts with its own costs.
        strict: raise :class:`~opcount.UnsupportedOpError` on exit if any op had no formula.
        warn: emit one warning per run listing ops without a formula.
        record_shapes: keep the input and output shapes of each module call (as tuples of
            ints) for the printed table.
        timing: measure each op's own time into a ``time_s`` column (CPU: wall time of the
            kernel call; CUDA: events around it, read when a report is first built).
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        formulas: Mapping[OpKey, Any] | None = None,
        costs: Mapping[str, int] | None = None,
        strict: bool = False,
        warn: bool = True,
        record_shapes: bool = True,
        timing: bool = False,
    ) -> None:
        if model is not None and not isinstance(model, nn.Module):
            raise OpCountError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.strict = check_bool("strict", strict)
        self.warn = check_bool("warn", warn)
        self.record_shapes = check_bool("record_shapes", record_shapes)
        self.timing = check_bool("timing", timing)
        self._registry = merge_overrides(REGISTRY, formulas)
        self._costs = cost_table(costs)  # checked now, not at the first op
        self._exit_stack: ExitStack | None = None
        self._mode: CountingMode | None = None
        self._tracker: ModuleTracker | None = None
        self._decisions: DecisionTable | None = None
        self._active = False
        self._rows: pd.DataFrame | None = None
        self._regions: RegionLog | None = None
        self._settled = 0  # rows whose symbolic costs settle_rows has made ints

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> OpCounter:
        if self._active:
            raise OpCountError("this OpCounter is already counting; use a second OpCounter")
        self._decisions = DecisionTable(self._registry)
        self._tracker = ModuleTracker(self.model, record_shapes=self.record_shapes)
        mode_class = TimedCountingMode if self.timing else CountingMode
        self._mode = mode_class(self._decisions, self._tracker, self._costs)
        self._settled = 0
        self._rows = None
        self._regions = RegionLog(self._mode.events.row_ids)
        with ExitStack() as stack:
            self._tracker.attach()
            stack.callback(self._tracker.detach)
            attach_regions(self._regions)  # boundaries only: no work per op
            stack.callback(detach_regions, self._regions)
            optimizer_phase = OptimizerPhase(self._tracker)
            optimizer_phase.attach()
            stack.callback(optimizer_phase.detach)
            stack.enter_context(self._mode)
            # in a distributed run, count each rank's local shards (DTensor)
            from .distributed.local import rank_mode

            ranked = rank_mode(self._mode)
            if ranked is not None:
                stack.enter_context(ranked)
            self._exit_stack = stack.pop_all()
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._exit_stack is not None
        try:
            self._exit_stack.__exit__(exc_type, exc, traceback)
        finally:
            self._exit_stack = None
            self._active = False
        if exc_type is None:
            self._report_unsupported()

    def _report_unsupported(self) -> None:
        if self.complete:
            return  # the common case: no DataFrame built on exit
        table = self.unsupported_ops()
        if table.empty:
            return
        listing = ", ".join(f"{op} x{calls}" for op, calls in zip(table["op"], table["calls"]))
        message = (
            f"{len(table)} op(s) have no formula and were counted as 0, so the totals are a "
            f"lower bound: {listing}. See OpCounter.unsupported_ops()."
        )
        if self.strict:
            raise UnsupportedOpError(message)
        if self.warn:
            warnings.warn(message, stacklevel=3)

    # -- rows --------------------------------------------------------------------------------

    def _require_run(self) -> CountingMode:
        if self._mode is None:
            raise OpCountError(
                "nothing counted yet: run your model inside `with OpCounter() as c:`"
            )
        mode = self._mode
        if self._settled < len(mode.events.rows):  # rows with symbolic sizes become ints
            self._settled = settle_rows(mode.events, mode.formula_errors, self._settled)
        return mode

    def to_dataframe(self) -> pd.DataFrame:
        """One row per aten op call (see the README for the columns)."""
        mode = self._require_run()
        if self._rows is None or len(self._rows) != len(mode.events):
            assert self._decisions is not None
            marks = self._regions.marks if self._regions is not None else ()
            self._rows = frames.rows_frame(
                mode.events, self._decisions.ops, mode.tracker.frames, marks
            )
            if isinstance(mode, TimedCountingMode):
                self._rows["time_s"] = measured.seconds(mode.clock, len(self._rows))
        return frames.handed_out(self._rows)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the rows to ``path``; :func:`opcount.read_csv` reads them back exactly."""
        frames.write_csv(self.to_dataframe(), path)

    # -- totals ------------------------------------------------------------------------------

    @property
    def total_flops(self) -> int:
        """FLOPs of every op counted, forward and backward."""
        return self._require_run().events.total("flops")

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of matmul, convolution and attention ops."""
        return self._require_run().events.total("macs")

    @property
    def total_comm_bytes(self) -> int:
        """Bytes this rank's collectives sent (the ``comm_bytes`` column's sum)."""
        return self._require_run().events.total("comm_bytes")

    @property
    def model_flops(self) -> int:
        """2 x the MACs the model's math needs for forward and backward: no activation-checkpoint
        recompute, no recomputation inside fused kernels (MFU's numerator)."""
        return model_flops(self.to_dataframe())

    @property
    def hardware_flops(self) -> int:
        """2 x the MACs that ran in forward, backward and recompute, in-kernel recomputation
        included (HFU's numerator)."""
        return hardware_flops(self.to_dataframe())

    @property
    def complete(self) -> bool:
        """False when some op had no formula, so the totals are a lower bound."""
        return not self._require_run().events.has_status(UNSUPPORTED)

    @property
    def num_params(self) -> int:
        """Distinct parameters of the model given to ``OpCounter(model)``."""
        if self.model is None:
            raise OpCountError("num_params needs the model: use OpCounter(model)")
        return count_params(self.model)

    @property
    def tracking_problems(self) -> list[str]:
        """Inconsistencies the module tracker saw (recorded instead of raised)."""
        return list(self._tracker.problems) if self._tracker is not None else []

    # -- aggregates --------------------------------------------------------------------------

    def by_module(
        self,
        depth: int | None = None,
        phase: str | None = None,
        *,
        device: DeviceLike | None = None,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> pd.DataFrame:
        """Per module: inclusive and ``self_`` FLOPs/MACs/bytes, per phase and in total, calls,
        share of the total, input/output shapes of the first call and, with
        ``OpCounter(model)``, parameters (see :func:`opcount.params_by_module`).

        With ``timing=True``: ``time_s`` columns (measured); with a ``device`` (or
        ``peak_flops=``/``bandwidth=``, as :meth:`roofline` takes them): ``est_time_s``
        columns, each in total, ``self_``, per phase and as a share."""
        check_count("depth", depth, none=True)
        mode = self._require_run()
        tracker = mode.tracker
        shapes = None
        if self.record_shapes:
            shapes = frames.module_shapes(
                tracker.frames,
                tracker.input_shapes,
                tracker.output_shapes,
                tracker.shape_table.shapes,
            )
        params = params_by_module(self.model) if self.model is not None else None
        frame = frames.by_module(
            self.to_dataframe(), tracker.frames, depth, phase, params=params, shapes=shapes
        )
        return self._timed_run().add_module_times(frame, phase, device, peak_flops, bandwidth)

    def by_op(self) -> pd.DataFrame:
        """Per aten op: calls, FLOPs, MACs and bytes."""
        return frames.by_op(self.to_dataframe())

    def unsupported_ops(self) -> pd.DataFrame:
        """Ops that had no formula, with call counts and the modules that ran them."""
        mode = self._require_run()
        return frames.unsupported_ops(self.to_dataframe(), mode.formula_errors)

    def by_category(self) -> pd.DataFrame:
        """Per op category (matmul, conv, attention, norm, ...): calls and costs."""
        return frames.by_category(self.to_dataframe())

    def by_phase(self) -> pd.DataFrame:
        """Per phase that ran (forward, backward, recompute, optimizer): calls and costs."""
        return frames.by_phase(self.to_dataframe())

    def by_dtype(self) -> pd.DataFrame:
        """Per dtype: calls and costs (integer arithmetic in ``int_ops``)."""
        return frames.by_dtype(self.to_dataframe())

    def by_module_and_op(self) -> pd.DataFrame:
        """Per (module, aten op): each module's own ops, not its children's."""
        return frames.by_module_and_op(self.to_dataframe())

    def by_region(self) -> pd.DataFrame:
        """Per ``opcount.region`` path (``""``: outside every region): calls and costs."""
        return frames.by_region(self.to_dataframe())

    def _frame_ids(self) -> Any:
        import numpy as np

        frame_ids = self._require_run().events.frames
        return np.fromiter(frame_ids, dtype=np.int64, count=len(frame_ids))

    def by_call(self, module: str = "") -> pd.DataFrame:
        """One row per call of ``module`` (the root ``""`` by default): ``call``, ``phase``,
        ``input_shapes``, ``ops`` and the inclusive FLOPs, MACs and bytes of every op the call
        ran or (backward) caused. For a ``generate()`` run call 0 is the prefill and each
        later call a decode step."""
        tracker = self._require_run().tracker
        rows = self.to_dataframe()
        shapes = {
            frame: tuple(tuple(s) for s in tracker.shape_table.shapes[code])
            for frame, code in tracker.input_shapes.items()
        }
        return call_reports.by_call(
            rows, self._frame_ids(), tracker.frames, tracker.parents, module, shapes
        )

    def generation_steps(self, module: str = "") -> pd.DataFrame:
        """One row per call of the root module of a generation (step 0 the prefill, then the
        decode steps): tokens, context length, FLOPs, MACs, bytes and the bytes attention
        read from the KV cache (``kv_cache_bytes``; see the README's Generation section)."""
        tracker = self._require_run().tracker
        return generation.generation_steps(
            self.to_dataframe(), self._frame_ids(), tracker.frames, tracker.parents, module
        )

    def generation_summary(self, module: str = "") -> pd.DataFrame:
        """Prefill against decode: totals, first, last and mean decode step, and decode per
        generated token, from :meth:`generation_steps`."""
        return generation.generation_summary(self.generation_steps(module))

    def uncalled_modules(self) -> pd.DataFrame:
        """Modules of the model that never ran forward (containers such as ``ModuleList``,
        which have no forward of their own, are left out)."""
        mode = self._require_run()
        if self.model is None:
            raise OpCountError("uncalled_modules needs the model: use OpCounter(model)")
        paths = list(self.model.named_modules(remove_duplicate=False))
        ids = {name: id(module) for name, module in paths}
        called = {ids[f[0]] for f in mode.tracker.frames if f[0] in ids}
        return frames.uncalled_modules(
            params_by_module(self.model), [id(m) for _, m in paths], called
        )

    # -- exports -----------------------------------------------------------------------------

    def _totals(self) -> dict[str, Any]:
        """Run totals for the report header and exports: per phase, bytes, params."""
        rows = self.to_dataframe()
        phases = {
            str(p): {"macs": int(g["macs"].sum()), "flops": int(g["flops"].sum())}
            for p, g in rows.groupby("phase", sort=False)
            if len(g)
        }
        totals: dict[str, Any] = {
            "phases": phases,
            "macs": self.total_macs,
            "flops": self.total_flops,
            "ops": len(rows),
            "bytes_read": int(rows["bytes_read"].sum()),
            "bytes_written": int(rows["bytes_written"].sum()),
            "complete": self.complete,
        }
        if "optimizer" in phases:  # a whole training step: say what MFU and HFU count
            totals["model_flops"] = model_flops(rows)
            totals["hardware_flops"] = hardware_flops(rows)
        if self.model is not None:
            totals["params"] = count_params(self.model)
            totals["trainable_params"] = count_params(self.model, trainable_only=True)
            totals["param_bytes"] = sum(
                p.numel() * p.element_size()
                for p in self.model.parameters()
                if not isinstance(p, nn.UninitializedParameter)
            )
        return totals

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str | None:
        """The rows as JSON with a schema version; written to ``path``, or returned without
        one. :func:`opcount.read_json` reads them back exactly."""
        text = export.rows_to_json(self.to_dataframe(), self._totals())
        if path is None:
            return text
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return None

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write the rows to Parquet (needs pyarrow); :func:`opcount.read_parquet` reads them."""
        export.write_parquet(self.to_dataframe(), path)

    def to_latex(self, depth: int = 1, phase: str | None = "forward", digits: int = 2) -> str:
        """A booktabs LaTeX table of params, MACs and FLOPs per module down to tree level
        ``depth`` (levels count the modules that ran: a ``ModuleList``'s blocks are level 1)."""
        check_count("depth", depth)
        check_count("digits", digits)
        frame = self.by_module(phase=phase)
        return export.paper_table(frame, "latex", depth=depth, phase=phase, digits=digits)

    def to_markdown(self, depth: int = 1, phase: str | None = "forward", digits: int = 2) -> str:
        """A Markdown table of params, MACs and FLOPs per module down to ``depth``."""
        check_count("depth", depth)
        check_count("digits", digits)
        frame = self.by_module(phase=phase)
        return export.paper_table(frame, "markdown", depth=depth, phase=phase, digits=digits)

    def to_html(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        title: str | None = None,
        device: DeviceLike | None = None,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> str | None:
        """One self-contained HTML page (nothing fetched, works from ``file://``): totals and
        completeness, the module tree as a zoomable icicle, the per-op and per-category tables
        and a roofline. The roofline is drawn with a ``device`` (its estimate, :meth:`roofline`,
        gives every row ``est_time_s``; the roofs are its dense matrix peak for the run's matmul
        dtype and its bandwidth, unless ``peak_flops``/``bandwidth`` say otherwise) or with
        measured times (roofs ``peak_flops`` and ``bandwidth``, or else the ops' envelope).
        Written to ``path``, or returned without one."""
        from .reports import html

        rows = self.to_dataframe()
        if device is not None:
            spec = device_spec(device)
            rows = self.roofline(spec, peak_flops=peak_flops, bandwidth=bandwidth)
            if peak_flops is None:
                peak_flops = spec_peak(spec, matmul_dtype(rows) or "float32")
            if bandwidth is None:
                bandwidth = spec.bandwidth
        page = html.run_page(
            rows,
            self._totals(),
            unsupported=self.unsupported_ops(),
            modules=self.by_module() if self.record_shapes else None,
            model=self.model,
            title=title,
            peak_flops=peak_flops,
            bandwidth=bandwidth,
        )
        if path is None:
            return page
        html.write_page(page, path)
        return None

    # -- printing ----------------------------------------------------------------------------

    def _table_parts(
        self, depth: int | None, columns: Sequence[str] | None
    ) -> tuple[list[str], list[dict[str, Any]], list[str], dict[str, Any], dict[str, Any]]:
        """Summary lines, module records, columns, footer totals and run totals of a table."""
        frame = self.by_module()
        if depth is not None:
            # tree levels, not name depth: the blocks of a ModuleList (which never runs) are
            # one level below their model
            levels = table.tree_levels([str(m) for m in frame["module"]])
            frame = frame[[level <= depth for level in levels]]
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        totals = self._totals()
        if columns is None:
            columns = table.default_columns(
                params=self.model is not None,
                shapes=self.record_shapes,
                backward="backward" in totals["phases"],
                recompute="recompute" in totals["phases"],
                comm=self.total_comm_bytes > 0,
                optimizer="optimizer" in totals["phases"],
            )
        footer: dict[str, Any] = {"macs": totals["macs"], "flops": totals["flops"]}
        for phase, values in totals["phases"].items():
            footer[f"{phase}_macs"], footer[f"{phase}_flops"] = values["macs"], values["flops"]
        footer.update(
            flops_share=1.0 if totals["flops"] else None,
            bytes_read=totals["bytes_read"],
            bytes_written=totals["bytes_written"],
            params=totals.get("params"),
            comm_bytes=self.total_comm_bytes,
        )
        return table.summary_lines(totals), records, list(columns), footer, totals

    def _unsupported_pairs(self) -> list[tuple[str, int]]:
        frame = self.unsupported_ops()
        return [(str(o), int(c)) for o, c in zip(frame["op"], frame["calls"])]

    def table(
        self,
        depth: int | None = 2,
        columns: Sequence[str] | None = None,
        width: int | None = 100,
    ) -> str:
        """The printed report: totals, the module tree down to level ``depth`` and notes.

        Levels count the modules that ran, so the blocks of a ``ModuleList`` (which has no
        forward of its own) are one level below their model.

        ``columns`` picks from ``opcount.reports.table.TABLE_COLUMNS`` (``"type"``, ``"input"``,
        ``"output"``, ``"kernel"``, ``"params"``, ``"macs"``, ``"flops"``, ``"backward_flops"``,
        ``"share"``, ...); columns that do not fit in ``width`` characters are left out and
        named below the table (``width=None``: no limit).
        """
        check_count("depth", depth, none=True)
        check_count("width", width, minimum=1, none=True)
        summary, records, columns, footer, _ = self._table_parts(depth, columns)
        text = table.module_table(records, columns, footer, width)
        notes = table.note_lines(
            text.dropped, self._unsupported_pairs(), self.tracking_problems, width
        )
        return table.render_report(summary, text.text, notes)

    def __str__(self) -> str:
        if self._mode is None:
            return "OpCounter (nothing counted yet)"
        return self.table()

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the same report as an HTML table with every column."""
        if self._mode is None:
            return "<p>OpCounter (nothing counted yet)</p>"
        summary, records, columns, footer, _ = self._table_parts(2, None)
        notes = table.note_lines([], self._unsupported_pairs(), self.tracking_problems, None)
        return table.render_html(summary, records, columns, footer, notes)

    def __repr__(self) -> str:
        if self._mode is None:
            return "OpCounter()"
        return (
            f"OpCounter(total_macs={self.total_macs}, total_flops={self.total_flops}, "
            f"ops={len(self._mode.events)})"
        )

    # -- time --------------------------------------------------------------------------------

    def _timed_run(self) -> TimedRun:
        mode = self._require_run()
        return TimedRun(self.to_dataframe, mode)

    def roofline(
        self,
        device: DeviceLike | None = None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
        network_bandwidth: float | None = None,
    ) -> pd.DataFrame:
        """The rows with ``est_time_s = max(flops / peak, bytes / bandwidth)``, ``intensity``
        (FLOPs per byte moved) and ``bound`` (``compute``, ``memory``, ``network`` or ``none``).

        ``device`` names an entry of ``opcount.DEVICES`` (``"h100-sxm"``), ``"auto"`` (this
        CUDA device) or is a ``DeviceSpec``; matmul, conv and attention rows use its matrix
        peak for their dtype, every other row the vector peak. ``peak_flops`` (one FLOP/s for
        every row) and ``bandwidth`` (bytes/s) override it, or describe a device without an
        entry. Free rows take 0; comm rows take ``comm_bytes / network_bandwidth``, or 0
        without one.
        """
        return self._timed_run().roofline(
            device,
            peak_flops=peak_flops,
            bandwidth=bandwidth,
            network_bandwidth=network_bandwidth,
        )

    def estimated_time(
        self,
        device: DeviceLike | None = None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
        network_bandwidth: float | None = None,
    ) -> float:
        """The run's estimated seconds on ``device``: the sum of :meth:`roofline`'s
        ``est_time_s`` (ops one after another, none overlapping), correctly rounded
        (``math.fsum``)."""
        rows = self.roofline(
            device,
            peak_flops=peak_flops,
            bandwidth=bandwidth,
            network_bandwidth=network_bandwidth,
        )
        return math.fsum(rows["est_time_s"].tolist())

    def roofline_table(
        self,
        device: DeviceLike | None = None,
        *,
        depth: int | None = 2,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> str:
        """The printed roofline on ``device``: per module down to tree level ``depth``, the
        estimated time, its share of the run's, the bound (the kind of op that took most of
        it) and the intensity (FLOPs per byte moved), with the ceilings it assumed."""
        return self._timed_run().roofline_report(
            self.by_module(), depth, device, peak_flops, bandwidth
        )

    def to_chrome_trace(
        self,
        path: str | os.PathLike[str],
        device: DeviceLike | None = None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> None:
        """Write the run as a Trace Event Format JSON file (chrome://tracing, ui.perfetto.dev):
        a track per phase, module calls as nested slices, ops inside them with their costs.
        Timestamps are measured with ``timing=True``; otherwise ops are laid out back to back
        by their roofline estimate on ``device``, which is then required."""
        self._timed_run().write_trace(path, device, peak_flops=peak_flops, bandwidth=bandwidth)

    def plot_roofline(
        self,
        device: DeviceLike | None = None,
        *,
        peak_flops: float | None = None,
        bandwidth: float | None = None,
    ) -> Any:
        """A roofline chart (needs matplotlib): ops as points of intensity against FLOP/s
        (measured with ``timing=True``, else estimated) under ``device``'s ceilings; returns
        the matplotlib ``Figure``."""
        return self._timed_run().plot(device, peak_flops=peak_flops, bandwidth=bandwidth)
