"""Sparse tensors: sampled and reducing sparse products, masks and layout conversions.

A product with a sparse operand does work only for its stored (specified) elements: ``nnz``
of them, each meeting a dense row or column. Conversions move data; converting a dense tensor
to a sparse layout compares every element with zero to find the ones to keep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .costs import cost
from .matmul import add_term_flops
from .registry import Cost, register
from .shapes import arg


def stored(t: Any) -> int:
    """Stored elements of a sparse tensor (values' element count: batch and dense dims
    included), or every element of a strided one."""
    if t.layout == torch.strided:
        return int(t.numel())
    return int(t.values().numel())


@register("sparse_sampled_addmm", category="matmul", reads_values=True)
def sparse_sampled_addmm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * S + alpha * (A @ B) at S's stored positions only: S sparse CSR [*, m, n],
    # A: [*, m, k], B: [*, k, n]; one k-long dot product per stored element
    s, a = args[0], args[1]
    nnz = stored(s)
    macs = nnz * int(a.shape[-1])
    extra = add_term_flops(nnz, kwargs.get("beta", 1), kwargs.get("alpha", 1), a.is_complex())
    return 2 * macs + extra, macs


@register("_sparse_mm_reduce_impl", category="matmul", reads_values=True)
def sparse_mm_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # S (CSR [m, k]) @ B ([k, n]) with reduce over each row's stored elements: every stored
    # element multiplies a row of B (n products) and reduces them into the output row; "sum"
    # and "mean" accumulate (MACs), "mean" divides each output once, "amax"/"amin" compare
    s, other = args[0], args[1]
    reduce = arg(args, kwargs, 2, "reduce", "sum")
    n = int(other.shape[-1])
    products = stored(s) * n
    output = int(out[0].numel())
    if reduce in ("amax", "amin"):
        return products * (cost("mul") + cost("compare")), 0
    flops = 2 * products + (output * cost("div") if reduce == "mean" else 0)
    return flops, products


@register("_sparse_mm_reduce_impl_backward", category="matmul", reads_values=True)
def sparse_mm_reduce_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (S, grad_out [m, n], B [k, n], reduce, arg_out, output_mask): the gradient of S's stored
    # values (a dot product of n per stored element) and of B (S^T @ grad_out, n MACs per
    # stored element), as requested; "mean" first divides grad_out by the row counts.
    # amax/amin route each gradient through the arg_out positions and are counted alike.
    s, grad = args[0], args[1]
    reduce = arg(args, kwargs, 3, "reduce", "sum")
    mask = arg(args, kwargs, 5, "output_mask", (True, True))
    products = stored(s) * int(grad.shape[-1])
    macs = products * (int(bool(mask[0])) + int(bool(mask[1])))
    scale = int(grad.numel()) * cost("div") if reduce == "mean" else 0
    return 2 * macs + scale, macs


@register("sparse_mask", category="copy")
def sparse_mask(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # the values of self at the mask's stored positions: a gather, no arithmetic
    return 0, 0


@register("_to_sparse", category="copy")
def to_sparse(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dense -> sparse: every element compared with zero; sparse -> sparse: data moves only
    x = args[0]
    return (int(x.numel()) * cost("compare") if x.layout == torch.strided else 0), 0
