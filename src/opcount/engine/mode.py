"""The private dispatch mode: sees every aten op, runs it unchanged, and records one row.

This is the hot path: it runs once per aten op of the user's model, so it does only what the row
needs, with everything that depends on the overload alone (formula, category, composite or not,
where the tensor arguments sit) decided once per overload in :mod:`.decisions`. A call equal to
an earlier one takes that call's row (:mod:`.row_memo`); only the others are measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode

from ..formulas.costs import DEFAULT_COSTS, activate
from .decisions import Decision, DecisionTable
from .events import COUNTED, FREE, UNSUPPORTED, EventStore, Row
from .row_memo import MEMO_LIMIT
from .tracker import FORWARD, ModuleTracker, graph_task_id

_INTEGER_DTYPES = frozenset(
    d
    for d in vars(torch).values()
    if isinstance(d, torch.dtype) and not d.is_floating_point and not d.is_complex
)

_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
"""Handed to formulas for calls without keyword arguments: no dict allocated per op."""

_get_sequence_nr = torch._C._autograd._get_sequence_nr


class CountingMode(TorchDispatchMode):
    """Records every op it sees into ``events``; never alters arguments or results."""

    def __init__(
        self,
        decisions: DecisionTable,
        tracker: ModuleTracker,
        costs: Mapping[str, int] = DEFAULT_COSTS,
    ) -> None:
        super().__init__()
        _disable_dynamo_directly()
        self.decisions = decisions
        self.tracker = tracker
        self.events = EventStore()
        self.formula_errors: dict[int, str] = {}
        self._cached = decisions.cache.get  # bound once: this lookup runs once per op
        self.costs = costs  # the cost table every formula call here reads
        self._memo: dict[tuple[Any, ...], int] = {}  # row_key -> row id
        self._reuse = MEMO_LIMIT > 0  # 0: every call measured (no keys made)

    def __torch_dispatch__(
        self,
        func: OpOverload,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        # torch wraps this method in torch._dynamo.disable (about a microsecond per op), which
        # keeps torch.compile from tracing into the counter's own code; that is kept on purpose
        # (installed without torch's lazy shim: _disable_dynamo_directly).
        decision = self._cached(id(func))
        if decision is None:
            decision = self.decisions.get(func)
        op_id, status, _, composite, _, _, _, _, key_of = decision
        if composite and (composite is True or _device_type(args) in composite):
            # Under inference_mode composites (linear, conv2d, matmul, ...) arrive whole; run
            # their decomposition through this mode so their parts are counted as in grad mode.
            with self:
                result = func.decompose(*args, **(kwargs or {}))
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs) if kwargs else func(*args)

        # Recording: this runs once per aten op. Nothing here may raise into the user's code,
        # and the columns are appended only once the whole row is known, so they stay aligned.
        events = self.events
        seq = len(events.row_ids)
        tracker = self.tracker
        try:
            if graph_task_id() != -1:
                frame, phase, fwd_seq = tracker.backward_frame(seq)
            else:
                stack = tracker._stack
                frame = stack[-1][1] if stack else 0
                phase, fwd_seq = FORWARD, -1
                seq_nr = _get_sequence_nr()
                if seq_nr != tracker._last_seq_nr:
                    tracker.note_nodes(seq_nr, frame, seq)  # this op made an autograd node

            row_id = key = None
            if key_of is not None and self._reuse:  # an equal earlier call lends its row
                try:
                    key = key_of(op_id, args, kwargs, out)
                    if key is not None:
                        row_id = self._memo.get(key)
                except (TypeError, RuntimeError, NotImplementedError):
                    key = None  # unhashable (symbolic sizes), or a tensor without strides
            if row_id is None:
                row = self._measure(decision, args, kwargs, out, seq)
                row_id = events.add_row(row)
                formula_failed = row[1] != status  # (then it is tried again at every call)
                if key is not None and not formula_failed and len(self._memo) < MEMO_LIMIT:
                    self._memo[key] = row_id
        except Exception as error:  # recording must never break the user's run
            row_id, frame, phase, fwd_seq = self._not_recorded(op_id, seq, error)
        events.row_ids.append(row_id)
        events.frames.append(frame)
        events.phases.append(phase)
        events.fwd_seqs.append(fwd_seq)
        return out

    def _not_recorded(self, op_id: int, seq: int, error: Exception) -> tuple[int, int, int, int]:
        """Row id, frame, phase and forward seq of a call whose recording raised: an
        unsupported row without costs, the error kept as its reason (rare: off the hot path)."""
        self.tracker.problems.append(
            f"op {seq} ({self.decisions.ops[op_id].op}) could not be recorded: {error!r}"
        )
        self.formula_errors[seq] = f"not recorded: {type(error).__name__}: {error}"
        shape_code = self.events.shape_table.code(())
        row_id = self.events.add_row(
            (op_id, UNSUPPORTED, 0, 0, 0, 0, 0, None, None, shape_code, 0, 0)
        )
        return row_id, 0, FORWARD, -1

    def _measure(
        self,
        decision: Decision,
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None,
        out: Any,
        seq: int,
    ) -> Row:
        """The :data:`~.events.Row` of one call: the formula, the bytes and the interned input
        shapes."""
        status, fn, out_names, positions, kw_names, getter = (
            decision.status,
            decision.fn,
            decision.out_names,
            decision.positions,
            decision.kw_names,
            decision.getter,
        )
        inputs: Sequence[Tensor]
        if getter is not None:  # tensor slots without defaults: always passed
            # (None for a missing Tensor?, and a Python number can stand in for a
            # Tensor: ``x + 1.0`` is add.Tensor)
            if isinstance(getter, int):
                value = args[getter]
                inputs = (value,) if isinstance(value, Tensor) else ()
            else:
                inputs = getter(args)
                for value in inputs:
                    if not isinstance(value, Tensor):
                        inputs = [v for v in inputs if isinstance(v, Tensor)]
                        break
        else:
            inputs = _inputs(args, kwargs, out_names, positions, kw_names)
        if inputs:
            first = inputs[0]
        elif isinstance(out, Tensor):
            first = out
        else:
            first = None
        dtype = device = None
        if first is not None:
            dtype, device = first.dtype, first.device

        flops = macs = int_ops = comm_bytes = recompute_macs = 0
        if status == COUNTED:
            previous = activate(self.costs)  # this counter's costs, even inside another's
            try:
                cost = fn(args, kwargs or _NO_KWARGS, out)  # type: ignore[misc]
                flops, macs = cost
            except Exception as error:  # a formula must never break the user's run
                status = UNSUPPORTED
                self.formula_errors[seq] = f"{type(error).__name__}: {error}"
            else:
                if type(cost) is not tuple:  # a CostWith: a collective's or a recomputing kernel's
                    comm_bytes = int(getattr(cost, "comm_bytes", 0))
                    recompute_macs = int(getattr(cost, "recompute_macs", 0))
                if dtype in _INTEGER_DTYPES and not _any_float(inputs, out):
                    # integer arithmetic is counted, but kept apart from floating-point
                    # FLOPs; an op with a float operand or result anywhere (`where` with
                    # a bool condition first) is floating-point work
                    int_ops, flops = flops, 0
            finally:
                activate(previous)

        shape_list: list[Any] = []
        read = written = 0
        moves_data = status != FREE  # views and allocations move no data: shapes only
        for t in inputs:
            try:
                shape_list.append(t.shape)
            except RuntimeError:  # nested tensors have no single shape
                shape_list.append(_shape(t))
            if moves_data:
                try:
                    read += t.nbytes if t.is_contiguous() else _distinct_bytes(t)
                except (RuntimeError, NotImplementedError):  # nested, sparse, symbolic
                    read += _distinct_bytes(t)
        if moves_data:
            if isinstance(out, Tensor):
                try:
                    written = out.nbytes if out.is_contiguous() else _distinct_bytes(out)
                except (RuntimeError, NotImplementedError):
                    written = _distinct_bytes(out)
            elif isinstance(out, (tuple, list)):
                for t in out:
                    if isinstance(t, Tensor):
                        written += _distinct_bytes(t)
            if type(read) is not int or type(written) is not int:
                read, written = _as_int(read), _as_int(written)  # symbolic sizes
        shapes = tuple(shape_list)
        shape_table = self.events.shape_table
        try:
            shape_code = shape_table.index.get(shapes)
        except TypeError:  # symbolic sizes (SymInt) do not hash: keep their text
            shapes = _symbolic_shapes(shapes)
            shape_code = shape_table.index.get(shapes)
        if shape_code is None:
            shape_code = shape_table.add(shapes)
        op_id = decision.op_id
        return (
            op_id, status, flops, macs, int_ops, read, written, dtype, device, shape_code,
            comm_bytes, recompute_macs,
        )  # fmt: skip


def _disable_dynamo_directly() -> None:
    """Give :class:`CountingMode` its ``torch._dynamo.disable`` wrapper itself.

    torch wraps every mode's handler in ``torch._disable_dynamo``, a lazy shim that imports
    dynamo on the first call and then, on every op, looks up and calls the real
    ``torch._dynamo.disable`` wrapper. Installing that wrapper once (dynamo is imported by the
    first op anyway) keeps the behaviour (torch.compile never traces into the counter) and
    spares every op the shim's frame, about half a microsecond.
    """
    handler = CountingMode.__dict__["__torch_dispatch__"]
    original = getattr(handler, "__wrapped__", None)
    if original is None or getattr(handler, "_torchdynamo_disable", False):
        return  # done already, or this torch wraps no handler
    import torch._dynamo

    CountingMode.__torch_dispatch__ = torch._dynamo.disable(original, recursive=True)  # type: ignore[method-assign]


def _shape(t: Tensor) -> tuple[Any, ...]:
    """``t.shape``, or for a nested tensor its per-sequence sizes' common prefix."""
    try:
        return tuple(t.shape)
    except RuntimeError:
        return ("nested", int(t.size(0)))


def _inputs(
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    out_names: frozenset[str],
    positions: tuple[int, ...] | None,
    kw_names: tuple[str, ...],
) -> list[Tensor]:
    """The input tensors of a call whose schema allows optional or list tensor slots (or is
    unknown, ``positions`` None: then every argument is scanned), ``out=`` tensors excluded."""
    if positions is None:
        inputs = _tensors(args)
        if kwargs:
            for name, value in kwargs.items():
                if name not in out_names and isinstance(value, Tensor):
                    inputs.append(value)
        return inputs
    count = len(args)  # trailing arguments left at their defaults are not passed
    inputs = _tensors([args[index] for index in positions if index < count])
    if kw_names and kwargs:
        for name in kw_names:
            value = kwargs.get(name)
            if isinstance(value, Tensor):
                inputs.append(value)
    return inputs


def _tensors(values: Sequence[Any]) -> list[Tensor]:
    """Tensors among an aten call's arguments (one level of lists, as aten has)."""
    found = []
    for value in values:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor):
                    found.append(item)
    return found


class _SymbolicDim(str):
    """A symbolic size's text (``s0``), printed bare in shape lists, as a plain int is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _symbolic_shapes(shapes: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """``shapes`` with every symbolic size replaced by its text, so the tuple hashes."""
    return tuple(
        tuple(d if isinstance(d, int) else _SymbolicDim(d) for d in shape) for shape in shapes
    )


def _distinct_bytes(t: Tensor) -> int:
    """Bytes of the distinct elements ``t`` covers: an expanded (stride 0) dim counts once."""
    try:
        if t.is_contiguous():
            return int(t.nbytes)
        count = 1
        for size, stride in zip(t.shape, t.stride()):
            if stride != 0:
                count *= int(size)
        return count * t.element_size()
    except (RuntimeError, NotImplementedError):  # sparse, nested: no strides
        try:  # an unbacked size stays symbolic here; settle_rows marks its row
            return _as_int(t.numel() * t.element_size())  # type: ignore[no-any-return]
        except (RuntimeError, NotImplementedError):
            return 0


def _as_int(value: Any) -> Any:
    """A symbolic byte count as an int, or left symbolic where it has none (an unbacked,
    data-dependent size): :func:`.symbolic.settle_rows` marks its row before any report."""
    try:
        return int(value)
    except Exception:  # GuardOnDataDependentSymNode
        return value


def _device_type(args: Sequence[Any]) -> str:
    """Device type of the first tensor argument (only asked of the rare ops that are composite
    on some backends and not on others)."""
    for value in args:
        if isinstance(value, Tensor):
            return value.device.type
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor):
                    return item.device.type
    return "cpu"


def _any_float(inputs: Sequence[Tensor], out: Any) -> bool:
    """Whether any input or output tensor is floating-point or complex (asked only of ops whose
    first tensor is an integer or bool one)."""
    for t in inputs:
        if t.is_floating_point() or t.is_complex():
            return True
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return any(isinstance(t, Tensor) and (t.is_floating_point() or t.is_complex()) for t in outs)
