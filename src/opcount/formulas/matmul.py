"""Matrix products: mm, addmm, bmm, baddbmm, addbmm, mv, addmv, dot, vdot, scaled and integer mm.

MACs count the multiply-accumulates of the product (``m * k * n`` for ``[m,k] @ [k,n]``); FLOPs
are ``2 * macs`` plus one add per output element for a bias (``beta * input``) and one multiply
per output element for a scaling ``alpha``/``beta`` other than 1.

Complex operands are counted in real arithmetic: one complex multiply-accumulate
``(a + bi)(c + di) + acc`` is 4 real multiplies and 4 real adds, so 4 real MACs (8 FLOPs); a
complex bias add is 2 real adds, a real ``alpha``/``beta`` times a complex value 2 real
multiplies, and a complex ``alpha``/``beta`` a complex multiply (``complex_mul``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .registry import Cost, register
from .shapes import arg, prod


def matmul_macs(m: int, k: int, n: int, batch: int = 1) -> int:
    """MACs of ``batch`` products ``[m, k] @ [k, n]``: ``batch * m * k * n``."""
    return batch * m * k * n


COMPLEX_MAC = 4
"""Real MACs in one complex multiply-accumulate: 4 real multiplies and 4 real adds."""


def real_macs(macs: int, operand: Any) -> int:
    """``macs`` in real multiply-accumulates: ``4 * macs`` when ``operand`` is complex."""
    return COMPLEX_MAC * macs if operand.is_complex() else macs


def add_term_flops(out_elements: int, beta: Any, alpha: Any, is_complex: bool = False) -> int:
    """FLOPs of ``beta * input + alpha * product`` beyond the product itself.

    ``beta == 0`` ignores ``input`` (no add); a ``beta`` or ``alpha`` other than 1 costs one
    multiply per output element each. For complex outputs every add and real-scalar multiply
    is two real ones (one per part) and a complex scalar costs a complex multiply.
    """
    if not is_complex:
        flops = 0
        if beta != 0:
            flops += cost("bias_add") * out_elements
            if beta != 1:
                flops += out_elements
        if alpha != 1:
            flops += out_elements
        return flops
    flops = 0
    if beta != 0:
        flops += 2 * cost("bias_add") * out_elements
        if beta != 1:
            flops += _complex_scale(beta) * out_elements
    if alpha != 1:
        flops += _complex_scale(alpha) * out_elements
    return flops


def _complex_scale(factor: Any) -> int:
    """Real FLOPs of one complex value times ``factor``: 2 multiplies, or a complex multiply."""
    return cost("complex_mul") if isinstance(factor, complex) else 2


@register("mm", "_int_mm", category="matmul")
def mm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # [m, k] @ [k, n] -> [m, n]; written out (no helpers): among the most frequent ops
    a, b = args[0], args[1]
    m, k = a.shape
    macs = m * k * b.shape[1]
    if a.is_complex():
        macs *= COMPLEX_MAC
    return 2 * macs, macs


@register("addmm", "addmm_", category="matmul")
def addmm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * input + alpha * ([m, k] @ [k, n])
    a, b = args[1], args[2]
    m, n = a.shape[0], b.shape[1]
    complex_ = a.is_complex()  # once: real_macs(..., a) and add_term_flops both ask
    macs = m * a.shape[1] * n  # matmul_macs(m, k, n)
    if complex_:
        macs *= COMPLEX_MAC
    extra = add_term_flops(m * n, kwargs.get("beta", 1), kwargs.get("alpha", 1), complex_)
    return 2 * macs + extra, macs


@register("_addmm_activation", category="matmul")
def addmm_activation(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # act(beta * input + alpha * ([m, k] @ [k, n])), act = gelu (tanh form) if use_gelu else relu
    a, b = args[1], args[2]
    m, n = a.shape[0], b.shape[1]
    macs = real_macs(matmul_macs(m, a.shape[1], n), a)
    extra = add_term_flops(
        m * n, arg(args, kwargs, 3, "beta", 1), arg(args, kwargs, 4, "alpha", 1), a.is_complex()
    )
    use_gelu = arg(args, kwargs, 5, "use_gelu", False)
    act = cost("gelu_tanh") if use_gelu else cost("relu")
    return 2 * macs + extra + act * m * n, macs


@register("bmm", category="matmul")
def bmm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # [b, m, k] @ [b, k, n] -> [b, m, n]
    a, b = args[0], args[1]
    macs = real_macs(matmul_macs(a.shape[1], a.shape[2], b.shape[2], batch=a.shape[0]), a)
    return 2 * macs, macs


@register("baddbmm", "baddbmm_", category="matmul")
def baddbmm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * input + alpha * ([b, m, k] @ [b, k, n])
    a, b = args[1], args[2]
    batch, m, n = a.shape[0], a.shape[1], b.shape[2]
    macs = real_macs(matmul_macs(m, a.shape[2], n, batch=batch), a)
    extra = add_term_flops(
        batch * m * n, kwargs.get("beta", 1), kwargs.get("alpha", 1), a.is_complex()
    )
    return 2 * macs + extra, macs


@register("addbmm", "addbmm_", category="matmul")
def addbmm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * input + alpha * sum_b([b, m, k] @ [b, k, n]) -> [m, n]; summing over b is part of
    # the accumulation, as if k were b * k.
    a, b = args[1], args[2]
    m, n = a.shape[1], b.shape[2]
    macs = real_macs(matmul_macs(m, a.shape[2], n, batch=a.shape[0]), a)
    extra = add_term_flops(m * n, kwargs.get("beta", 1), kwargs.get("alpha", 1), a.is_complex())
    return 2 * macs + extra, macs


@register("mv", category="matmul")
def mv(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # [m, n] @ [n] -> [m]
    a = args[0]
    macs = real_macs(matmul_macs(a.shape[0], a.shape[1], 1), a)
    return 2 * macs, macs


@register("addmv", "addmv_", category="matmul")
def addmv(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * input + alpha * ([m, n] @ [n])
    a = args[1]
    m = a.shape[0]
    macs = real_macs(matmul_macs(m, a.shape[1], 1), a)
    extra = add_term_flops(m, kwargs.get("beta", 1), kwargs.get("alpha", 1), a.is_complex())
    return 2 * macs + extra, macs


@register("addr", "addr_", category="matmul")
def addr(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # beta * input + alpha * outer([m], [n]): a rank-1 update, a product with k = 1
    a, b = args[1], args[2]
    m, n = int(a.shape[0]), int(b.shape[0])
    macs = real_macs(matmul_macs(m, 1, n), a)
    extra = add_term_flops(m * n, kwargs.get("beta", 1), kwargs.get("alpha", 1), a.is_complex())
    return 2 * macs + extra, macs


@register("dot", "vdot", category="matmul")
def dot(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # [n] . [n] -> scalar (vdot conjugates its first operand: a sign flip folded into the MAC)
    macs = real_macs(int(args[0].shape[0]), args[0])
    return 2 * macs, macs


@register("_scaled_mm", category="matmul")
def scaled_mm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (scale_a * scale_b) * ([m, k] @ [k, n]) + bias: one multiply per output for the scales,
    # one add per output for the bias.
    a, b = args[0], args[1]
    m, n = a.shape[0], b.shape[1]
    macs = matmul_macs(m, a.shape[1], n)
    bias = arg(args, kwargs, 4, "bias")
    return 2 * macs + m * n + (cost("bias_add") * m * n if bias is not None else 0), macs


@register("_grouped_mm", "_scaled_grouped_mm", category="matmul")
def grouped_mm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # Groups of products (mixture-of-experts). Every output element accumulates over the
    # contracted dim k = a.shape[-1], except 2d x 2d, where offs split k into groups and the
    # output [g, m, n] holds each group's [m, n]: m * n * k_total in all.
    a, b = args[0], args[1]
    o = out[0] if isinstance(out, (tuple, list)) else out
    if a.dim() == 2 and b.dim() == 2:
        macs = matmul_macs(a.shape[0], a.shape[1], b.shape[1])
    else:
        macs = prod(o.shape) * int(a.shape[-1])
    return 2 * macs, macs
