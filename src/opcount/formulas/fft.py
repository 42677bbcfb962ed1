"""Fast Fourier transforms: ``_fft_c2c``, ``_fft_r2c``, ``_fft_c2r`` (every ``torch.fft``
function and ``stft``/``istft`` reach these).

A complex transform of ``N`` points costs ``fft * N log2 N`` FLOPs (``fft`` = 5, the standard
radix-2 count: ``N/2 log2 N`` butterflies of one complex multiply (6) and two complex adds (4),
also the convention of FFTW's benchmarks for every ``N``). A transform with real input or output
costs half that. A transform over several dims of sizes ``N_1 ... N_d`` is counted as one of
``N = N_1 ... N_d`` points (the per-dim transforms add up to the same ``N log2 N``). Counts for
an ``N`` that is not a power of two are rounded to the nearest integer. Normalisation
(``norm="ortho"`` or ``"forward"``/``"backward"`` as the direction asks) multiplies every output
element by a real scalar: one multiply per real output value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .registry import Cost, register
from .shapes import arg, prod


def fft_flops(n: int, transforms: int = 1, real: bool = False) -> int:
    """FLOPs of ``transforms`` transforms of ``n`` points: ``fft * n log2 n`` each, half for
    a real-input or real-output transform, rounded to the nearest integer."""
    if n <= 1 or transforms <= 0:
        return 0
    per_transform = cost("fft") * n * _log2(n)
    if real:
        per_transform /= 2
    return transforms * round(per_transform)


def _log2(n: int) -> float:
    """``log2(n)``, exact for powers of two."""
    if n & (n - 1) == 0:
        return float(n.bit_length() - 1)
    return math.log2(n)


def _points(t: Any, dims: Sequence[int]) -> int:
    """Points of one transform over ``dims`` of ``t``."""
    return prod(int(t.shape[d]) for d in dims)


def _normalization_flops(normalization: int, out: Any) -> int:
    """One multiply per real output value unless ``normalization`` is 0 (none)."""
    if not normalization:
        return 0
    values = int(out.numel()) * (2 if out.is_complex() else 1)
    return values * cost("mul")


def _transform_cost(
    t: Any, args: Sequence[Any], kwargs: Mapping[str, Any], out: Any, real: bool
) -> Cost:
    """``(self, dim, normalization, ...)``: the transforms over ``dim`` of the full-size tensor
    ``t`` (the complex or real side, never the one-sided one), then the normalisation."""
    n = _points(t, arg(args, kwargs, 1, "dim"))
    transforms = int(t.numel()) // n if n else 0
    normalization = arg(args, kwargs, 2, "normalization", 0)
    return fft_flops(n, transforms, real=real) + _normalization_flops(normalization, out), 0


@register("_fft_c2c", category="other")
def fft_c2c(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # complex [*] -> complex [*], transformed over dim
    return _transform_cost(args[0], args, kwargs, out, real=False)


@register("_fft_r2c", category="other")
def fft_r2c(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # real [*] -> complex, the last transformed dim halved (onesided) or full
    return _transform_cost(args[0], args, kwargs, out, real=True)


@register("_fft_c2r", category="other")
def fft_c2r(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # complex (one-sided) -> real [*] whose last transformed dim is last_dim_size
    return _transform_cost(out, args, kwargs, out, real=True)
