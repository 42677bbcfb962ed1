"""Reductions, scans, sorting and selection: sum, mean, var/std, max/min, norms, cumsum, sort, ...

A reduction reading ``n`` elements into ``m`` outputs costs ``n`` times its per-element cost
(accumulating into the identity, so a sum of ``n`` values is ``n`` adds) plus ``m`` times a
per-output finishing cost where it has one (mean's divide, std's square root, ...). Scans cost
the same per element. Sorting and selection are counted in comparisons (``sort_compare``,
``select_compare``):

- ``sort`` of rows of ``n``: ``n * ceil(log2 n)`` compares per row (a comparison sort);
- ``topk(k)``: ``n * ceil(log2(k + 1))`` per row (a bounded heap; ``k = 1`` is ``n``, like max);
- ``median``/``kthvalue``/``nanmedian``: quickselect, ``select_compare`` per element;
- ``mode``: a sort plus ``n`` compares to count equal runs.

``max``/``min`` have one formula for all their overloads: a reduction reads every element once,
the binary overload (``max.other``, the elementwise maximum) compares once per output element.
Composites (``nanmean``, ``argsort``, ``msort``, ``linalg_norm``, ...) reach these through the
ops they run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .costs import cost
from .registry import Cost, register
from .shapes import arg, first_tensor, numel, prod


def _out_numel(out: Any) -> int:
    return numel(first_tensor(out))


def reduced_rows(x: Any, dim: Any) -> tuple[int, int]:
    """``(rows, n)``: the independent rows of length ``n`` that ``x`` holds along ``dim``."""
    if x.dim() == 0:
        return 1, 1
    n = int(x.shape[int(dim)])
    return (int(x.numel()) // n if n else 0), n


def ceil_log2(n: int) -> int:
    """``ceil(log2(n))``, 0 for ``n <= 1``."""
    return math.ceil(math.log2(n)) if n > 1 else 0


def sort_compares(rows: int, n: int) -> int:
    """Comparisons of sorting ``rows`` rows of ``n`` keys: ``rows * n * ceil(log2 n)``."""
    return rows * n * ceil_log2(n)


@register("sum", "cumsum", "cumsum_", "_cumsum", category="reduction")
def sum_(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one add per element read (a sum over no dims, or a scan, still reads each once)
    return numel(args[0]) * cost("reduce_add"), 0


@register("trace", category="reduction")
def trace(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # [m, n] -> the sum of its min(m, n) diagonal elements
    x = args[0]
    return min(int(x.shape[0]), int(x.shape[1])) * cost("reduce_add"), 0


@register("nansum", category="reduction")
def nansum(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # test each element for NaN, add the others (counted for every element)
    return numel(args[0]) * (cost("reduce_nan_test") + cost("reduce_add")), 0


@register("mean", category="reduction")
def mean(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # n adds, then one divide per output
    return numel(args[0]) * cost("reduce_add") + _out_numel(out) * cost("reduce_divide"), 0


@register("prod", "cumprod", "cumprod_", category="reduction")
def prod_(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one multiply per element read
    return numel(args[0]) * cost("reduce_mul"), 0


@register("var", "var_mean", category="reduction")
def var(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # per element: add to the mean, subtract it, square, add to the squares; per output: the
    # mean's divide and the divide by n - correction
    return numel(args[0]) * cost("reduce_var") + _out_numel(out) * cost("reduce_var_finish"), 0


@register("std", "std_mean", category="reduction")
def std(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # the variance, then one square root per output
    flops, _ = var(args, kwargs, out)
    return flops + _out_numel(out) * cost("reduce_root"), 0


@register("amax", "amin", "argmax", "argmin", "any", "all", category="reduction")
def compare_reduction(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one compare (or logical test) per element read
    return numel(args[0]) * cost("reduce_compare"), 0


@register("max", "min", category="reduction")
def max_min(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # max(x) / max(x, dim): one compare per element read; max(x, other): the elementwise
    # maximum of two broadcast tensors, one compare per output element
    other = arg(args, kwargs, 1, "other")
    if isinstance(other, Tensor):
        return _out_numel(out) * cost("reduce_compare"), 0
    return numel(args[0]) * cost("reduce_compare"), 0


@register("aminmax", "_aminmax", category="reduction")
def aminmax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # two compares per element: one against the running min, one against the running max
    return 2 * numel(args[0]) * cost("reduce_compare"), 0


@register("count_nonzero", category="reduction")
def count_nonzero(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # compare with zero, add to the count
    return numel(args[0]) * (cost("reduce_compare") + cost("reduce_add")), 0


@register("cummax", "cummin", "_cummax_helper", "_cummin_helper", category="reduction")
def cummax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one compare per element with the running max/min
    return numel(args[0]) * cost("reduce_compare"), 0


@register("logcumsumexp", "_logcumsumexp", category="reduction")
def logcumsumexp(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one log-add-exp step per element
    return numel(args[0]) * cost("scan_logaddexp"), 0


@register("logsumexp", category="reduction")
def logsumexp(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # max + log(sum(exp(x - max))): per element max compare, subtract, exp, add; per output
    # log and add the max back
    return (
        numel(args[0]) * cost("reduce_logsumexp")
        + _out_numel(out) * cost("reduce_logsumexp_finish"),
        0,
    )


def vector_norm_cost(n: int, outputs: int, order: Any) -> int:
    """FLOPs of a vector norm of ``order`` over ``n`` elements into ``outputs`` values."""
    p = 2.0 if order is None else float(order)
    if p in (1.0, math.inf, -math.inf, 0.0):
        return n * cost("reduce_norm")  # |x| then add, |x| then compare, or x != 0 then add
    per_element = cost("reduce_norm") if p == 2.0 else cost("reduce_norm_p")
    return n * per_element + outputs * cost("reduce_root")


@register("linalg_vector_norm", category="reduction")
def linalg_vector_norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, ord=2, dim=None, keepdim=False, *, dtype)
    order = arg(args, kwargs, 1, "ord", 2)
    return vector_norm_cost(numel(args[0]), _out_numel(out), order), 0


@register("norm", "native_norm", category="reduction")
def norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, p=2, ...); p=None is the 2-norm
    order = arg(args, kwargs, 1, "p", 2)
    if isinstance(order, str):  # "fro" is the 2-norm of the flattened input
        order = 2
    return vector_norm_cost(numel(args[0]), _out_numel(out), order), 0


@register("dist", category="reduction")
def dist(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, other, p=2): the p-norm of the broadcast difference: a subtract per element, then
    # the vector norm
    x, other = args[0], args[1]
    n = prod(torch.broadcast_shapes(x.shape, other.shape))
    order = arg(args, kwargs, 2, "p", 2)
    return n * cost("reduce_add") + vector_norm_cost(n, 1, order), 0


def _dim_arg(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, default: Any) -> Any:
    dim = arg(args, kwargs, index, "dim", default)
    return default if dim is None else dim


@register("sort", category="reduction")
def sort(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # sort(self, dim=-1, descending) / sort.stable(self, *, stable, dim=-1, descending)
    x = args[0]
    if not isinstance(x, Tensor):
        return 0, 0
    dim = kwargs.get("dim", args[1] if len(args) > 1 and not isinstance(args[1], bool) else -1)
    rows, n = reduced_rows(x, dim)
    return sort_compares(rows, n) * cost("sort_compare"), 0


@register("topk", category="reduction")
def topk(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, k, dim=-1, ...): each element is compared against a heap of the k best
    x, k = args[0], int(arg(args, kwargs, 1, "k"))
    rows, n = reduced_rows(x, _dim_arg(args, kwargs, 2, -1))
    return rows * n * ceil_log2(k + 1) * cost("sort_compare"), 0


@register("kthvalue", "median", category="reduction")
def quickselect(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # kthvalue (self, k, dim=-1, keepdim) and median (over all elements or along dim):
    # quickselect
    return numel(args[0]) * cost("select_compare"), 0


@register("nanmedian", category="reduction")
def nanmedian(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # a NaN test per element, then quickselect
    return numel(args[0]) * (cost("reduce_nan_test") + cost("select_compare")), 0


@register("mode", category="reduction")
def mode(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim=-1, keepdim): sort each row, then compare neighbours to count equal runs
    x = args[0]
    rows, n = reduced_rows(x, _dim_arg(args, kwargs, 1, -1))
    return (sort_compares(rows, n) + rows * n) * cost("sort_compare"), 0


@register("histc", category="reduction")
def histc(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, bins=100, min=0, max=0): place every element in its bin; min == max takes the
    # range from the data first (a min and a max compare per element)
    n = numel(args[0])
    lo, hi = arg(args, kwargs, 2, "min", 0), arg(args, kwargs, 3, "max", 0)
    flops = n * cost("histogram_bin")
    if lo == hi:
        flops += 2 * n * cost("reduce_compare")
    return flops, 0


@register("bincount", category="reduction")
def bincount(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, weights=None, minlength=0): find the largest value (a compare per element), then
    # add 1 (or the element's weight) to its bin
    return numel(args[0]) * (cost("reduce_compare") + cost("reduce_add")), 0


@register("segment_reduce", category="reduction")
def segment_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (data, reduce, lengths, indices, offsets, axis, unsafe, initial): every element of data
    # joins exactly one segment, whatever the lengths are: one add (or compare, or multiply)
    # per element, and for "mean" one divide per output element
    data, reduce = args[0], arg(args, kwargs, 1, "reduce")
    flops = data.numel() * cost("reduce_add")
    if reduce == "mean":
        flops += first_tensor(out).numel() * cost("reduce_divide")
    return flops, 0


@register("_segment_reduce_backward", category="reduction")
def segment_reduce_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, output, data, reduce, lengths, offsets, axis, initial): spreading each segment's
    # gradient back over its elements; "mean" divides it first (one divide per segment), and
    # "prod"/"max"/"min" compare or multiply once per data element
    grad, data, reduce = args[0], args[2], arg(args, kwargs, 3, "reduce")
    flops = data.numel() * cost("reduce_mul") if reduce != "sum" else 0
    if reduce == "mean":
        flops = grad.numel() * cost("reduce_divide")
    return flops, 0
