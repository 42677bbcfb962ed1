"""Pooling: max/avg, 1d/2d/3d, adaptive, fractional, unpooling, every backend, and backward.

Every output reads a window of the input. A window clipped by padding (or by ``ceil_mode``)
reads only its real elements, so the elements read are counted exactly and separably: along each
spatial dim ``d``, ``reads_d = sum over outputs o of #{k < kernel : 0 <= o*stride - pad + k*dil
< size}``, and a pooling reads ``leading * prod_d(reads_d)`` elements (``leading`` = batch and
channels). Adaptive pooling's window for output ``o`` of ``out`` over ``size`` is
``[floor(o * size / out), ceil((o + 1) * size / out))``.

- max pooling: ``pool_max`` per element read; backward: ``pool_max_backward`` per output
  gradient (added into the input gradient at its argmax).
- average pooling: ``pool_add`` per element read + ``pool_divide`` per output; backward spreads
  each output gradient over its window: the same count.
- ``max_unpool`` scatters values to their indices: 0 FLOPs (``1d`` max/avg pooling and
  ``max_pool2d`` without indices are composites that reach these ops).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from .costs import cost
from .registry import Cost, FormulaFn, register
from .shapes import arg, first_tensor, prod


def _expand(value: Any, nd: int, default: int) -> list[int]:
    """An ``int[nd]`` argument as a list of ``nd`` ints (a single value is repeated)."""
    if value is None:
        return [default] * nd
    if isinstance(value, int):
        return [value] * nd
    values = list(map(int, value))
    if not values:
        return [default] * nd
    if len(values) == 1:
        return values * nd
    return values


def window_reads(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Input elements read along one dim by ``out`` windows, clipped to ``[0, size)``.

    Counted per kernel tap ``k`` in closed form: tap ``k`` of output ``o`` lands at
    ``o * stride + c`` with ``c = k * dilation - pad``, which is in ``[0, size)`` for the
    outputs ``o`` in ``[ceil(-c / stride), floor((size - 1 - c) / stride)]`` clipped to
    ``[0, out)``. That is O(kernel) work instead of O(out * kernel).
    """
    if out <= 0 or kernel <= 0 or size <= 0:
        return 0
    if stride <= 0:  # never valid for aten; the direct count keeps any such input's answer
        return _window_reads_direct(size, out, kernel, stride, pad, dilation)
    reads = 0
    last = out - 1
    for k in range(kernel):
        c = k * dilation - pad
        lo = -(c // stride)  # ceil(-c / stride)
        hi = (size - 1 - c) // stride
        if lo < 0:
            lo = 0
        if hi > last:
            hi = last
        if hi >= lo:
            reads += hi - lo + 1
    return reads


def _window_reads_direct(
    size: int, out: int, kernel: int, stride: int, pad: int, dilation: int
) -> int:
    """:func:`window_reads` by visiting every output and kernel tap."""
    reads = 0
    for o in range(out):
        start = o * stride - pad
        for k in range(kernel):
            if 0 <= start + k * dilation < size:
                reads += 1
    return reads


_window_reads_cached = lru_cache(maxsize=4096)(window_reads)
""":func:`window_reads` memoised on its (int) arguments: models repeat the same pooling."""


def adaptive_reads(size: int, out: int) -> int:
    """Input elements read along one dim by adaptive pooling to ``out`` outputs."""
    reads = 0
    for o in range(out):
        start = (o * size) // out
        end = -((-(o + 1) * size) // out)  # ceil((o + 1) * size / out)
        reads += end - start
    return reads


def pool_reads(
    x_shape: Sequence[int],
    out_shape: Sequence[int],
    nd: int,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
) -> int:
    """Elements read by an ``nd``-d (max or avg) pooling from ``x_shape`` to ``out_shape``."""
    kernel_l = _expand(kernel, nd, 1)
    stride_l = _expand(stride, nd, 0)
    pad_l = _expand(padding, nd, 0)
    dil_l = _expand(dilation, nd, 1)
    x_lead = len(x_shape) - nd
    out_lead = len(out_shape) - nd
    reads = 1
    for i in range(x_lead):  # prod(x_shape[:x_lead]) without slicing a torch.Size
        reads *= int(x_shape[i])
    for d in range(nd):
        k = kernel_l[d]
        reads *= _window_reads_cached(
            int(x_shape[x_lead + d]),
            int(out_shape[out_lead + d]),
            k,
            stride_l[d] or k,  # [] (0) means the kernel size
            pad_l[d],
            dil_l[d],
        )
    return reads


def adaptive_pool_reads(x_shape: Sequence[int], out_shape: Sequence[int], nd: int) -> int:
    """Elements read by adaptive pooling of the last ``nd`` dims from ``x_shape`` to
    ``out_shape``."""
    reads = prod(x_shape[: len(x_shape) - nd])
    for d in range(nd):
        reads *= adaptive_reads(
            int(x_shape[len(x_shape) - nd + d]), int(out_shape[len(out_shape) - nd + d])
        )
    return reads


def _max_pool(nd: int) -> FormulaFn:
    def max_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode=False): one compare
        # per element read
        reads = pool_reads(
            args[0].shape,
            first_tensor(out).shape,
            nd,
            arg(args, kwargs, 1, "kernel_size"),
            arg(args, kwargs, 2, "stride"),
            arg(args, kwargs, 3, "padding", 0),
            arg(args, kwargs, 4, "dilation", 1),
        )
        return reads * cost("pool_max"), 0

    return max_pool


max_pool2d = register("max_pool2d_with_indices", "mkldnn_max_pool2d", category="pool")(_max_pool(2))
max_pool3d = register("max_pool3d_with_indices", "mkldnn_max_pool3d", category="pool")(_max_pool(3))


@register(
    "max_pool2d_with_indices_backward",
    "max_pool3d_with_indices_backward",
    "mkldnn_max_pool2d_backward",
    "mkldnn_max_pool3d_backward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d_backward",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d_backward",
    category="pool",
)
def max_pool_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, ...): each output gradient is added at its window's argmax (saved indices,
    # or mkldnn's workspace)
    return int(args[0].numel()) * cost("pool_max_backward"), 0


@register("max_pool2d_backward", category="pool")
def max_pool2d_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, kernel_size, stride, padding, dilation, ceil_mode): without saved
    # indices every window's argmax is found again, then the gradient added there
    grad_out, x = args[0], args[1]
    reads = pool_reads(
        x.shape,
        grad_out.shape,
        2,
        arg(args, kwargs, 2, "kernel_size"),
        arg(args, kwargs, 3, "stride"),
        arg(args, kwargs, 4, "padding", 0),
        arg(args, kwargs, 5, "dilation", 1),
    )
    return reads * cost("pool_max") + int(grad_out.numel()) * cost("pool_max_backward"), 0


def avg_pool_cost(
    x_shape: Sequence[int],
    out_shape: Sequence[int],
    nd: int,
    kernel: Any,
    stride: Any,
    padding: Any,
) -> int:
    """FLOPs of average pooling (or its backward): adds over the windows, a divide per output."""
    reads = pool_reads(x_shape, out_shape, nd, kernel, stride, padding, 1)
    return reads * cost("pool_add") + prod(out_shape) * cost("pool_divide")


def _avg_pool(nd: int) -> FormulaFn:
    def avg_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, kernel_size, stride=[], padding=0, ceil_mode, count_include_pad,
        #  divisor_override): padded zeros are never added, whatever the divisor
        flops = avg_pool_cost(
            args[0].shape,
            first_tensor(out).shape,
            nd,
            arg(args, kwargs, 1, "kernel_size"),
            arg(args, kwargs, 2, "stride"),
            arg(args, kwargs, 3, "padding", 0),
        )
        return flops, 0

    return avg_pool


def _avg_pool_backward(nd: int) -> FormulaFn:
    def avg_pool_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (grad_output, self, kernel_size, stride, padding, ...): divide each output gradient
        # by its window size, add it to every real element of the window
        flops = avg_pool_cost(
            args[1].shape,
            args[0].shape,
            nd,
            arg(args, kwargs, 2, "kernel_size"),
            arg(args, kwargs, 3, "stride"),
            arg(args, kwargs, 4, "padding", 0),
        )
        return flops, 0

    return avg_pool_backward


avg_pool2d = register("avg_pool2d", category="pool")(_avg_pool(2))
avg_pool3d = register("avg_pool3d", category="pool")(_avg_pool(3))
avg_pool2d_backward = register("avg_pool2d_backward", category="pool")(_avg_pool_backward(2))
avg_pool3d_backward = register("avg_pool3d_backward", category="pool")(_avg_pool_backward(3))


def adaptive_avg_pool_cost(x_shape: Sequence[int], out_shape: Sequence[int], nd: int) -> int:
    """FLOPs of adaptive average pooling (or its backward): adds over the adaptive windows, a
    divide per output."""
    reads = adaptive_pool_reads(x_shape, out_shape, nd)
    return reads * cost("pool_add") + prod(out_shape) * cost("pool_divide")


def _adaptive_avg_pool(nd: int) -> FormulaFn:
    def adaptive_avg_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, output_size): adds over each adaptive window, a divide per output
        return adaptive_avg_pool_cost(args[0].shape, first_tensor(out).shape, nd), 0

    return adaptive_avg_pool


def _adaptive_avg_pool_backward(nd: int) -> FormulaFn:
    def adaptive_avg_pool_backward(
        args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
    ) -> Cost:
        # (grad_output, self): divide each gradient by its window size, add it over the window
        return adaptive_avg_pool_cost(args[1].shape, args[0].shape, nd), 0

    return adaptive_avg_pool_backward


def _adaptive_max_pool(nd: int) -> FormulaFn:
    def adaptive_max_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, output_size): one compare per element of each adaptive window
        reads = adaptive_pool_reads(args[0].shape, first_tensor(out).shape, nd)
        return reads * cost("pool_max"), 0

    return adaptive_max_pool


adaptive_avg_pool2d = register(
    "_adaptive_avg_pool2d", "mkldnn_adaptive_avg_pool2d", category="pool"
)(_adaptive_avg_pool(2))
adaptive_avg_pool3d = register("_adaptive_avg_pool3d", category="pool")(_adaptive_avg_pool(3))
adaptive_avg_pool2d_backward = register(
    "_adaptive_avg_pool2d_backward", "mkldnn_adaptive_avg_pool2d_backward", category="pool"
)(_adaptive_avg_pool_backward(2))
adaptive_avg_pool3d_backward = register(
    "_adaptive_avg_pool3d_backward", "adaptive_avg_pool3d_backward", category="pool"
)(_adaptive_avg_pool_backward(3))
adaptive_max_pool2d = register("adaptive_max_pool2d", category="pool")(_adaptive_max_pool(2))
adaptive_max_pool3d = register("adaptive_max_pool3d", category="pool")(_adaptive_max_pool(3))


def _fractional_max_pool(nd: int) -> FormulaFn:
    def fractional_max_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, kernel_size, output_size, random_samples): every window is a whole kernel
        # inside the input, at pseudo-random offsets
        kernel = _expand(arg(args, kwargs, 1, "kernel_size"), nd, 1)
        return int(first_tensor(out).numel()) * prod(kernel) * cost("pool_max"), 0

    return fractional_max_pool


fractional_max_pool2d = register("fractional_max_pool2d", category="pool")(_fractional_max_pool(2))
fractional_max_pool3d = register("fractional_max_pool3d", category="pool")(_fractional_max_pool(3))


@register("max_unpool2d", "max_unpool3d", category="pool")
def max_unpool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # scatter each value to its saved index, zeros elsewhere: data movement only
    return 0, 0
