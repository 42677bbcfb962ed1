"""The instrumented variants every overhead benchmark compares against the plain run."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import opcount.engine.mode
from opcount import OpCounter


class EmptyMode(TorchDispatchMode):
    """The floor of any Python dispatch mode: runs each op and records nothing."""

    def __torch_dispatch__(
        self,
        func: Any,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        return func(*args, **(kwargs or {}))


_graph_task_id = torch._C._current_graph_task_id
_sequence_nr = torch._C._autograd._get_sequence_nr


class RecordingFloorMode(TorchDispatchMode):
    """About the least a counter keeping a row per op adds to :class:`EmptyMode`: the op, each
    input tensor's shape, the first input's dtype and device, and the two reads that attribute
    an op (whether a backward pass runs, and the autograd sequence number that maps a backward
    op to its forward op), one list append per op. No module stack, formula, bytes or key."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[Any, ...]] = []
        self.stack: list[int] = []  # a module stack's top is read per op (no hooks fill it)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        first = None
        shapes = []
        for value in args:
            if isinstance(value, Tensor):
                if first is None:
                    first = value
                shapes.append(value.shape)
        stack = self.stack
        place = (_graph_task_id(), stack[-1] if stack else 0, _sequence_nr())
        if first is None:
            self.rows.append((func, (), None, None, place))
        else:
            self.rows.append((func, tuple(shapes), first.dtype, first.device, place))
        return out


@contextmanager
def opcount_counter() -> Iterator[OpCounter]:
    """``OpCounter()`` as a user writes it (default options), without its unsupported-op
    warning, which is about coverage and would only clutter the benchmark output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter() as counter:
            yield counter


@contextmanager
def opcount_measuring_every_call() -> Iterator[OpCounter]:
    """:func:`opcount_counter` with row reuse off: every call measured, as in a run whose
    calls never repeat (opcount reuses the row of a call equal to an earlier one)."""
    limit = opcount.engine.mode.MEMO_LIMIT
    opcount.engine.mode.MEMO_LIMIT = 0
    try:
        with opcount_counter() as counter:
            yield counter
    finally:
        opcount.engine.mode.MEMO_LIMIT = limit


@contextmanager
def opcount_timing() -> Iterator[OpCounter]:
    """:func:`opcount_counter` with ``timing=True``: each op's kernel call timed too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(timing=True) as counter:
            yield counter


VARIANTS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "plain": nullcontext,
    "empty mode": EmptyMode,
    "opcount": opcount_counter,
    "FlopCounterMode": lambda: FlopCounterMode(display=False),
    "opcount, no reuse": opcount_measuring_every_call,
    "recording floor": RecordingFloorMode,
    "opcount, timing=True": opcount_timing,
}
"""Name -> context manager factory; ``plain`` is the uninstrumented run."""

DEFAULT_VARIANTS = ("plain", "empty mode", "opcount", "FlopCounterMode")
"""The variants every overhead family compares."""


def instrumented(
    work: Callable[[], object], names: Sequence[str] = DEFAULT_VARIANTS
) -> dict[str, Callable[[], None]]:
    """One zero-argument case per variant: ``work()`` run inside that variant's context."""

    def case(factory: Callable[[], AbstractContextManager[Any]]) -> Callable[[], None]:
        def run() -> None:
            with factory():
                work()

        return run

    return {name: case(VARIANTS[name]) for name in names}
