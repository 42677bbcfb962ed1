"""OpCounter: the public context manager that counts every aten op of a real run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import pandas as pd
from torch import nn

from . import report
from .decisions import DecisionTable, merge_overrides
from .errors import OpCountError, UnsupportedOpError
from .format import format_compute, format_params, render_table
from .formulas import REGISTRY
from .formulas.costs import using_costs
from .formulas.registry import OpKey
from .mode import CountingMode
from .params import count_params
from .tracker import ModuleTracker


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
            runs, e.g. ``{"gelu": 8}`` (see ``opcount.DEFAULT_COSTS``).
        strict: raise :class:`~opcount.UnsupportedOpError` on exit if any op had no formula.
        warn: emit one warning per run listing ops without a formula.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        formulas: Mapping[OpKey, Any] | None = None,
        costs: Mapping[str, int] | None = None,
        strict: bool = False,
        warn: bool = True,
    ) -> None:
        if model is not None and not isinstance(model, nn.Module):
            raise OpCountError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.strict = strict
        self.warn = warn
        self._registry = merge_overrides(REGISTRY, formulas)
        self._costs = dict(costs) if costs else None
        with using_costs(self._costs):  # validate now, not at the first op
            pass
        self._exit_stack: ExitStack | None = None
        self._mode: CountingMode | None = None
        self._tracker: ModuleTracker | None = None
        self._decisions: DecisionTable | None = None
        self._active = False
        self._rows: pd.DataFrame | None = None

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> OpCounter:
        if self._active:
            raise OpCountError("this OpCounter is already counting; use a second OpCounter")
        self._decisions = DecisionTable(self._registry)
        self._tracker = ModuleTracker(self.model)
        self._mode = CountingMode(self._decisions, self._tracker)
        self._rows = None
        with ExitStack() as stack:
            stack.enter_context(using_costs(self._costs))
            self._tracker.attach()
            stack.callback(self._tracker.detach)
            stack.enter_context(self._mode)
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
        return self._mode

    def to_dataframe(self) -> pd.DataFrame:
        """One row per aten op call (see the README for the columns)."""
        mode = self._require_run()
        if self._rows is None or len(self._rows) != len(mode.events):
            assert self._decisions is not None
            self._rows = report.rows_frame(mode.events, self._decisions.ops, mode.tracker.frames)
        return self._rows.copy()

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the rows to ``path``; :func:`opcount.read_csv` reads them back exactly."""
        self.to_dataframe().to_csv(path, index=False)

    # -- totals ------------------------------------------------------------------------------

    @property
    def total_flops(self) -> int:
        """FLOPs of every op counted, forward and backward."""
        return sum(self._require_run().events.flops)

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of matmul, convolution and attention ops."""
        return sum(self._require_run().events.macs)

    @property
    def complete(self) -> bool:
        """False when some op had no formula, so the totals are a lower bound."""
        return 2 not in self._require_run().events.statuses

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

    def by_module(self, depth: int | None = None, phase: str | None = None) -> pd.DataFrame:
        """Per module: inclusive and ``self_`` FLOPs/MACs, per phase and in total."""
        mode = self._require_run()
        return report.by_module(self.to_dataframe(), mode.tracker.frames, depth, phase)

    def by_op(self) -> pd.DataFrame:
        """Per aten op: calls, FLOPs, MACs and bytes."""
        return report.by_op(self.to_dataframe())

    def unsupported_ops(self) -> pd.DataFrame:
        """Ops that had no formula, with call counts and the modules that ran them."""
        mode = self._require_run()
        return report.unsupported_ops(self.to_dataframe(), mode.formula_errors)

    # -- printing ----------------------------------------------------------------------------

    def __str__(self) -> str:
        if self._mode is None:
            return "OpCounter (nothing counted yet)"
        table = self.by_module(depth=1)
        rows = []
        columns = ["module", "depth", "module_type", "forward_macs", "forward_flops"]
        for name, depth, module_type, macs, flops, backward in zip(
            *(table[c] for c in columns), table["backward_flops"]
        ):
            rows.append(
                [
                    "  " * int(depth) + (str(name) or "(root)"),
                    str(module_type),
                    format_compute(int(macs), "MACs"),
                    format_compute(int(flops), "FLOPs"),
                    format_compute(int(backward), "FLOPs"),
                ]
            )
        body = render_table(
            ["module", "type", "forward MACs", "forward FLOPs", "backward FLOPs"], rows, "<<>>>"
        )
        lines = [
            f"total: {format_compute(self.total_macs, 'MACs')}, "
            f"{format_compute(self.total_flops, 'FLOPs')} "
            f"({len(self._mode.events)} aten op calls)",
        ]
        if self.model is not None:
            lines.append(f"parameters: {format_params(self.num_params)}")
        lines += ["", body]
        unsupported = self.unsupported_ops()
        if not unsupported.empty:
            names = ", ".join(f"{o} x{c}" for o, c in zip(unsupported["op"], unsupported["calls"]))
            lines += ["", f"not counted (no formula yet; totals are a lower bound): {names}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        if self._mode is None:
            return "OpCounter()"
        return (
            f"OpCounter(total_macs={self.total_macs}, total_flops={self.total_flops}, "
            f"ops={len(self._mode.events)})"
        )
