"""The dispatch mode with measured time: :class:`~.mode.CountingMode` that also times each op.

Chosen at construction (``OpCounter(timing=True)``), so the default handler stays as it is. The
handler below is the default one with the lines marked ``# timing`` added around the kernel call
(tests/test_timing_measured.py checks that, line by line): on CPU (and meta) it keeps the wall
time of the kernel call, on CUDA a pair of events recorded around it on the op's stream, read
when a report first asks (:meth:`CallClock.spans`), never a synchronize per op. Times are kept
per call, so a call that reuses an equal earlier call's row still has its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter_ns
from typing import Any

import torch
from torch import Tensor
from torch._ops import OpOverload

from ..formulas.costs import DEFAULT_COSTS
from .decisions import DecisionTable
from .mode import CountingMode, _device_type
from .row_memo import MEMO_LIMIT
from .tracker import FORWARD, ModuleTracker, graph_task_id

_get_sequence_nr = torch._C._autograd._get_sequence_nr

_CudaPair = tuple[Any, Any, Any]
"""``(start event, end event, stream)`` of one op run on a CUDA device."""


class CallClock:
    """Per op call, when its kernel started and ended (ns on ``perf_counter_ns``'s clock).

    A CUDA call first keeps its pair of events; :meth:`spans` turns them into times on the
    same clock: each device's first event is taken to fire at the wall time its call started,
    and every later event of that device is placed by its elapsed time from that first one.
    """

    __slots__ = ("_pending", "_references", "cuda", "ends_ns", "starts_ns")

    def __init__(self) -> None:
        self.starts_ns: list[int] = []
        self.ends_ns: list[int] = []
        self.cuda = torch.cuda.is_available()  # only then can a tensor be on a CUDA device
        self._pending: list[tuple[int, _CudaPair]] = []  # (call, events) not read yet
        self._references: dict[Any, tuple[Any, int]] = {}  # device -> (first event, wall ns)

    def __len__(self) -> int:
        return len(self.starts_ns)

    def cuda_start(self, args: Sequence[Any], kwargs: Mapping[str, Any] | None) -> _CudaPair | None:
        """Record a start event on the op's stream if the op runs on a CUDA device."""
        device = _cuda_device(args, kwargs)
        if device is None:
            return None
        stream = torch.cuda.current_stream(device)
        start = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        return start, torch.cuda.Event(enable_timing=True), stream

    def stop(self, start_ns: int, pair: _CudaPair | None) -> None:
        """The kernel call that began at ``start_ns`` returned: keep its span."""
        end_ns = perf_counter_ns()
        if pair is not None:
            pair[1].record(pair[2])
            self._pending.append((len(self.starts_ns), pair))
        self.starts_ns.append(start_ns)
        self.ends_ns.append(end_ns)

    @property
    def timed_cuda(self) -> bool:
        """Whether any call read so far ran on a CUDA device (and was timed by events)."""
        return bool(self._references)

    def spans(self) -> tuple[list[int], list[int]]:
        """``(starts_ns, ends_ns)`` of every call so far, CUDA events read now (one
        synchronize per device that ran an op since the last read)."""
        pending, self._pending = self._pending, []
        for device in {pair[2].device for _, pair in pending}:
            torch.cuda.synchronize(device)
        for call, (start, end, stream) in pending:
            reference = self._references.get(stream.device)
            if reference is None:
                reference = self._references[stream.device] = (start, self.starts_ns[call])
            first, wall_ns = reference
            begin = wall_ns + round(first.elapsed_time(start) * 1e6)  # elapsed_time: ms
            self.starts_ns[call] = begin
            self.ends_ns[call] = begin + round(start.elapsed_time(end) * 1e6)
        return self.starts_ns, self.ends_ns


def _cuda_device(args: Sequence[Any], kwargs: Mapping[str, Any] | None) -> torch.device | None:
    """The CUDA device an op runs on: its first tensor's, or a factory op's ``device=``."""
    if _device_type(args) == "cuda":
        for value in args:
            if isinstance(value, Tensor):
                return value.device
            if isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, Tensor):
                        return item.device
    if kwargs:
        device = kwargs.get("device")
        if isinstance(device, torch.device) and device.type == "cuda":
            return device
    return None


class TimedCountingMode(CountingMode):
    """Records every op as :class:`~.mode.CountingMode` does, and times each kernel call."""

    def __init__(
        self,
        decisions: DecisionTable,
        tracker: ModuleTracker,
        costs: Mapping[str, int] = DEFAULT_COSTS,
    ) -> None:
        super().__init__(decisions, tracker, costs)
        self.clock = CallClock()

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
        clock = self.clock  # timing
        pair = clock.cuda_start(args, kwargs) if clock.cuda else None  # timing
        start = perf_counter_ns()  # timing
        out = func(*args, **kwargs) if kwargs else func(*args)
        clock.stop(start, pair)  # timing

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
