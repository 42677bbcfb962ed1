"""The private dispatch mode: sees every aten op, runs it unchanged, and records one row.

This is the hot path: it runs once per aten op of the user's model, so it does only what the row
needs, with everything that depends on the overload alone cached in :mod:`.decisions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode

from .decisions import DecisionTable
from .events import COUNTED, FREE, UNSUPPORTED, EventStore
from .tracker import FORWARD, ModuleTracker, in_backward

_INTEGER_DTYPES = frozenset(
    d
    for d in vars(torch).values()
    if isinstance(d, torch.dtype) and not d.is_floating_point and not d.is_complex
)


class CountingMode(TorchDispatchMode):
    """Records every op it sees into ``events``; never alters arguments or results."""

    def __init__(self, decisions: DecisionTable, tracker: ModuleTracker) -> None:
        super().__init__()
        self.decisions = decisions
        self.tracker = tracker
        self.events = EventStore()
        self.formula_errors: dict[int, str] = {}

    def __torch_dispatch__(
        self,
        func: OpOverload,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        if kwargs is None:
            kwargs = {}
        decision = self.decisions.get(func)
        if decision.composite:
            # Under inference_mode composites (linear, conv2d, matmul, ...) arrive whole; run
            # their decomposition through this mode so their parts are counted as in grad mode.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        self._record(
            decision.op_id, decision.status, decision.fn, decision.out_names, args, kwargs, out
        )
        return out

    def _record(
        self,
        op_id: int,
        status: int,
        fn: Any,
        out_names: frozenset[str],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        out: Any,
    ) -> None:
        events = self.events
        seq = len(events.op_ids)
        try:
            row = self._measure(seq, status, fn, out_names, args, kwargs, out)
        except Exception as error:  # recording must never break the user's run
            self.tracker.problems.append(
                f"op {seq} ({self.decisions.ops[op_id].op}) could not be recorded: {error!r}"
            )
            self.formula_errors[seq] = f"not recorded: {type(error).__name__}: {error}"
            row = (UNSUPPORTED, 0, 0, 0, 0, 0, 0, FORWARD, -1, None, None, ())
        # appends only after everything is measured, so the columns stay aligned
        events.op_ids.append(op_id)
        events.statuses.append(row[0])
        events.flops.append(row[1])
        events.macs.append(row[2])
        events.int_ops.append(row[3])
        events.bytes_read.append(row[4])
        events.bytes_written.append(row[5])
        events.frames.append(row[6])
        events.phases.append(row[7])
        events.fwd_seqs.append(row[8])
        events.dtypes.append(row[9])
        events.devices.append(row[10])
        events.shapes.append(row[11])

    def _measure(
        self,
        seq: int,
        status: int,
        fn: Any,
        out_names: frozenset[str],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        out: Any,
    ) -> tuple[Any, ...]:
        """Every column of one row, in :meth:`_record`'s order."""
        tracker = self.tracker
        if in_backward():
            frame, phase, fwd_seq = tracker.backward_frame(seq)
        else:
            frame, phase, fwd_seq = tracker.current_forward_frame(seq), FORWARD, -1

        inputs = _tensors(args)
        if kwargs:
            for name, value in kwargs.items():
                if name not in out_names and isinstance(value, Tensor):
                    inputs.append(value)
        if inputs:
            first = inputs[0]
        elif isinstance(out, Tensor):
            first = out
        else:
            first = None
        flops = macs = int_ops = 0
        if status == COUNTED:
            try:
                flops, macs = fn(args, kwargs, out)
            except Exception as error:  # a formula must never break the user's run
                status = UNSUPPORTED
                self.formula_errors[seq] = f"{type(error).__name__}: {error}"
            else:
                if first is not None and first.dtype in _INTEGER_DTYPES:
                    # integer arithmetic is counted, but kept apart from floating-point FLOPs
                    int_ops, flops = flops, 0
        read = written = 0
        if status != FREE:
            for t in inputs:
                read += _distinct_bytes(t)
            if isinstance(out, Tensor):
                written = _distinct_bytes(out)
            elif isinstance(out, (tuple, list)):
                for t in out:
                    if isinstance(t, Tensor):
                        written += _distinct_bytes(t)
        shapes: tuple[Any, ...]
        try:
            shapes = tuple(t.shape for t in inputs)
        except RuntimeError:  # nested tensors have no single shape
            shapes = tuple(_shape(t) for t in inputs)
        dtype = device = None
        if first is not None:
            dtype, device = first.dtype, first.device
        return (
            status,
            flops,
            macs,
            int_ops,
            read,
            written,
            frame,
            phase,
            fwd_seq,
            dtype,
            device,
            shapes,
        )


def _shape(t: Tensor) -> tuple[Any, ...]:
    """``t.shape``, or for a nested tensor its per-sequence sizes' common prefix."""
    try:
        return tuple(t.shape)
    except RuntimeError:
        return ("nested", int(t.size(0)))


def _tensors(args: Sequence[Any]) -> list[Tensor]:
    """Tensors among an aten call's positional arguments (one level of lists, as aten has)."""
    found = []
    for value in args:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor):
                    found.append(item)
    return found


def _distinct_bytes(t: Tensor) -> int:
    """Bytes of the distinct elements ``t`` covers: an expanded (stride 0) dim counts once."""
    try:
        if t.is_contiguous():
            return int(t.numel()) * t.element_size()
        count = 1
        for size, stride in zip(t.shape, t.stride()):
            if stride != 0:
                count *= int(size)
        return count * t.element_size()
    except (RuntimeError, NotImplementedError):  # sparse, nested: no strides
        try:
            return int(t.numel()) * t.element_size()
        except (RuntimeError, NotImplementedError):
            return 0
