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
        if status == FREE:
            read = written = 0
        else:
            read = 0
            for t in inputs:
                read += _distinct_bytes(t)
            written = 0
            if isinstance(out, Tensor):
                written = _distinct_bytes(out)
            elif isinstance(out, (tuple, list)):
                for t in out:
                    if isinstance(t, Tensor):
                        written += _distinct_bytes(t)
        events.op_ids.append(op_id)
        events.statuses.append(status)
        events.flops.append(flops)
        events.macs.append(macs)
        events.int_ops.append(int_ops)
        events.bytes_read.append(read)
        events.bytes_written.append(written)
        events.frames.append(frame)
        events.phases.append(phase)
        events.fwd_seqs.append(fwd_seq)
        events.dtypes.append(first.dtype if first is not None else None)
        events.devices.append(first.device if first is not None else None)
        events.shapes.append(tuple(t.shape for t in inputs))


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
        return int(t.numel()) * t.element_size()
