"""StepMeter: wall time, throughput, MFU and HFU of each step of a running training loop.

A step is counted (an :class:`~opcount.OpCounter` runs for it) only when its signature is new:
the shapes, dtypes and devices of the model's forward inputs, grad mode and ``model.training``.
The signature is read by a forward pre-hook on the root module, present only inside a step and
removed at its first call, which starts the counter right there for a new signature; other
steps run without any dispatch mode and take the figures of the step with their signature.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, fields
from types import TracebackType
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..counter import OpCounter
from ..devices import DeviceLike, device_spec, dtype_key, peak_flops
from ..errors import OpCountError
from ..reports.model_flops import matmul_dtype

__all__ = ["StepMeter", "StepRecord"]


@dataclass(frozen=True)
class StepRecord:
    """One step of a :class:`StepMeter`: its wall time and what it computed.

    ``flops`` is every FLOP the step ran (optimizer included); ``model_flops`` and
    ``hardware_flops`` are :attr:`OpCounter.model_flops` / ``hardware_flops``. ``mfu`` and
    ``hfu`` divide them by ``time_s x peak_flops`` (None without a peak); ``counted`` says
    whether a counter ran in this step (its time then includes the counter's overhead).
    """

    step: int
    time_s: float
    flops: int
    model_flops: int
    hardware_flops: int
    mfu: float | None
    hfu: float | None
    tokens_per_s: float | None
    samples_per_s: float | None
    peak_flops: float | None
    matmul_dtype: str | None
    counted: bool


STEP_COLUMNS = tuple(f.name for f in fields(StepRecord))
"""Columns of :attr:`StepMeter.steps`, in order."""


@dataclass(frozen=True)
class _Figures:
    """What a counted step found, shared by the later steps of its signature."""

    flops: int
    model_flops: int
    hardware_flops: int
    matmul_dtype: str | None
    peak_flops: float | None


_NOTHING = _Figures(0, 0, 0, None, None)  # a step in which the model never ran forward


def _value_signature(value: Any) -> Any:
    """What a forward argument contributes to a step's signature: a tensor's shape, dtype,
    device and grad requirement; a bool, string or None itself; other values their type."""
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), value.dtype, value.device, value.requires_grad)
    if value is None or isinstance(value, (bool, str)):
        return value
    return type(value).__name__


def input_signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The signature of a forward call's arguments, one level into lists, tuples and dicts."""

    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return (type(value).__name__, *(_value_signature(v) for v in value))
        if isinstance(value, dict):
            return ("dict", *((k, _value_signature(v)) for k, v in value.items()))
        return _value_signature(value)

    return (tuple(walk(a) for a in args), tuple((k, walk(v)) for k, v in kwargs.items()))


def _on_cuda(rows: pd.DataFrame) -> bool:
    return bool(rows["device"].str.startswith("cuda").any())


class _Step:
    """The context manager :meth:`StepMeter.step` returns."""

    __slots__ = ("_meter", "_samples", "_tokens")

    def __init__(self, meter: StepMeter, tokens: int | None, samples: int | None) -> None:
        self._meter, self._tokens, self._samples = meter, tokens, samples

    def __enter__(self) -> _Step:
        self._meter._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._meter._end(exc_type, exc, traceback, self._tokens, self._samples)


class StepMeter:
    """Throughput and MFU of a running loop; after a signature's first step it costs a hook
    call and two clock reads per step.

    >>> meter = StepMeter(model, peak="h100-sxm")           # doctest: +SKIP
    >>> for batch in loader:                                # doctest: +SKIP
    ...     with meter.step(tokens=batch.numel()):
    ...         model(batch).loss.backward(); opt.step(); opt.zero_grad()
    >>> meter.last, meter.steps, meter.mfu                  # doctest: +SKIP

    Args:
        model: the root module whose forward starts each step's work.
        peak: a device name of ``opcount.DEVICES``, a ``DeviceSpec`` or ``"auto"`` (the current
            CUDA device); its dense matrix peak for the step's matmul dtype (the dtype of the
            rows with the most MACs; float32 on CUDA with TF32 matmuls allowed counts as tf32)
            is MFU's denominator.
        peak_flops: a peak in FLOP/s, overriding ``peak``.
        recount_every: count a signature again once it was last counted this many steps ago.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        peak: DeviceLike | None = None,
        peak_flops: float | None = None,
        recount_every: int | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise OpCountError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if peak_flops is not None and not (
            isinstance(peak_flops, (int, float)) and peak_flops > 0 and math.isfinite(peak_flops)
        ):
            raise OpCountError(f"peak_flops must be a positive FLOP/s figure, got {peak_flops!r}")
        if recount_every is not None and (type(recount_every) is not int or recount_every < 1):
            raise OpCountError(f"recount_every must be a positive integer, got {recount_every!r}")
        self.model = model
        self.device = device_spec(peak) if peak is not None else None  # unknown names raise now
        self.peak_flops = float(peak_flops) if peak_flops is not None else None
        self.recount_every = recount_every
        self.last_counter: OpCounter | None = None
        """The counter of the last counted step (its rows, by_phase(), ...)."""
        self._records: list[StepRecord] = []
        self._figures: dict[Any, _Figures] = {}
        self._counted_at: dict[Any, int] = {}  # signature -> step it was last counted in
        # the step running now
        self._active = False
        self._handle: RemovableHandle | None = None
        self._signature: Any = None
        self._counter: OpCounter | None = None
        self._start = 0.0
        self._sync = False

    # -- a step ------------------------------------------------------------------------------

    def step(self, tokens: int | None = None, samples: int | None = None) -> _Step:
        """A context manager around one training step; ``tokens`` / ``samples`` it processes
        give ``tokens_per_s`` / ``samples_per_s``."""
        for name, value in (("tokens", tokens), ("samples", samples)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise OpCountError(f"{name} must be a non-negative integer, got {value!r}")
        return _Step(self, tokens, samples)

    def _begin(self) -> None:
        if self._active:
            raise OpCountError("a StepMeter step is already running: steps do not nest")
        self._active = True
        self._signature = None
        self._counter = None
        self._handle = self.model.register_forward_pre_hook(self._first_forward, with_kwargs=True)
        # on CUDA the clock starts and stops with the device idle, so the time is the step's
        self._sync = torch.cuda.is_available() and torch.cuda.is_initialized()
        if self._sync:
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def _first_forward(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        """The root's first forward call of the step: read the signature, count if new."""
        if self._handle is not None:  # later calls of the step (gradient accumulation) are free
            self._handle.remove()
            self._handle = None
        signature = (input_signature(args, kwargs), torch.is_grad_enabled(), module.training)
        self._signature = signature
        last = self._counted_at.get(signature)
        step = len(self._records) + 1
        if last is not None and (self.recount_every is None or step - last < self.recount_every):
            return
        counter = OpCounter(self.model, warn=False, record_shapes=False)
        counter.__enter__()
        self._counter = counter
        # this call's global pre-hooks ran before the counter's were installed: put the root
        # on the counter's module stack as its hook would have (its exit hook pops it)
        tracker = counter._tracker
        assert tracker is not None
        tracker._enter(module, args)

    def _end(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        tokens: int | None,
        samples: int | None,
    ) -> None:
        try:
            if self._sync or (torch.cuda.is_available() and torch.cuda.is_initialized()):
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - self._start
        finally:
            self._active = False
            if self._handle is not None:
                self._handle.remove()
                self._handle = None
            counter, self._counter = self._counter, None
            if counter is not None:
                counter.__exit__(exc_type, exc, traceback)
        if exc_type is not None:
            return  # a step that raised is not recorded; the error goes on to the caller
        step = len(self._records) + 1
        signature = self._signature
        if counter is not None:
            figures = self._figures_of(counter)
            self._figures[signature] = figures
            self._counted_at[signature] = step
            self.last_counter = counter
        else:
            figures = self._figures.get(signature, _NOTHING)
        peak = figures.peak_flops

        def per_second(amount: int | None) -> float | None:
            return amount / elapsed if amount is not None and elapsed > 0 else None

        def utilisation(work: int) -> float | None:
            return work / (elapsed * peak) if peak is not None and elapsed > 0 else None

        self._records.append(
            StepRecord(
                step=step,
                time_s=elapsed,
                flops=figures.flops,
                model_flops=figures.model_flops,
                hardware_flops=figures.hardware_flops,
                mfu=utilisation(figures.model_flops),
                hfu=utilisation(figures.hardware_flops),
                tokens_per_s=per_second(tokens),
                samples_per_s=per_second(samples),
                peak_flops=peak,
                matmul_dtype=figures.matmul_dtype,
                counted=counter is not None,
            )
        )

    def _figures_of(self, counter: OpCounter) -> _Figures:
        rows = counter.to_dataframe()
        dtype = matmul_dtype(rows)
        peak = self.peak_flops
        if peak is None and self.device is not None and dtype is not None:
            key = dtype_key(dtype)
            if (
                key == "float32"
                and _on_cuda(rows)
                and torch.get_float32_matmul_precision() != ("highest")
            ):
                key = "tf32"  # float32 matmuls run on TF32 tensor cores
            peak = peak_flops(self.device, key)
        return _Figures(
            counter.total_flops, counter.model_flops, counter.hardware_flops, dtype, peak
        )

    # -- results -----------------------------------------------------------------------------

    @property
    def last(self) -> StepRecord:
        """The last step's record."""
        if not self._records:
            raise OpCountError("no step measured yet: run one inside `with meter.step():`")
        return self._records[-1]

    @property
    def steps(self) -> pd.DataFrame:
        """One row per step, columns as :class:`StepRecord`'s fields."""
        return pd.DataFrame([asdict(r) for r in self._records], columns=list(STEP_COLUMNS))

    def _median(self, name: str) -> float | None:
        values = [
            getattr(r, name)
            for r in self._records
            if not r.counted and getattr(r, name) is not None
        ]
        return statistics.median(values) if values else None

    @property
    def mfu(self) -> float | None:
        """Median MFU over the steps not counted (counted steps carry the counter's
        overhead); None until one ran with a known peak."""
        return self._median("mfu")

    @property
    def hfu(self) -> float | None:
        """Median HFU over the steps not counted."""
        return self._median("hfu")

    @property
    def tokens_per_s(self) -> float | None:
        """Median tokens per second over the steps not counted."""
        return self._median("tokens_per_s")

    def __repr__(self) -> str:
        mfu = self.mfu
        shown = f"{mfu:.1%}" if mfu is not None else "n/a"
        return f"StepMeter(steps={len(self._records)}, mfu={shown})"
