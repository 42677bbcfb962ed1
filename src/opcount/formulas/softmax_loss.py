"""Softmax, log-softmax and the loss functions, forward and backward.

Softmax-like ops cost a fixed number of FLOPs per element (plus one log per row for
log-softmax). A loss costs its per-element entry over the broadcast input/target, plus for
``reduction='sum'`` / ``'mean'`` one add per element into the total and, for ``'mean'``, one
divide per call. ``cross_entropy`` is composite: it arrives as ``_log_softmax`` +
``nll_loss_forward``; ``l1_loss``, ``kl_div``, ``poisson_nll_loss`` and the margin/embedding
losses other than ``multi_margin_loss`` are composite too and arrive as pointwise ops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .costs import cost
from .registry import Cost, FormulaFn, register
from .shapes import arg

NONE, MEAN, SUM = 0, 1, 2
"""``reduction`` values of aten loss ops."""


def rows(x: Any, dim: int) -> int:
    """Number of rows a softmax over ``dim`` normalises: ``numel / size(dim)``."""
    if x.dim() == 0:
        return 1
    size = int(x.shape[dim])
    return int(x.numel()) // size if size else 0


def reduced(elements: int, per_element: int, reduction: int) -> int:
    """``per_element`` FLOPs for each element, plus the reduction's adds and mean's divide."""
    flops = per_element * elements
    if reduction != NONE:
        flops += cost("loss_reduction") * elements
    if reduction == MEAN:
        flops += cost("div")
    return flops


def pair_numel(x: Any, y: Any) -> int:
    """Elements of the broadcast of input ``x`` and target ``y``."""
    size = 1
    for dim in torch.broadcast_shapes(x.shape, y.shape):
        size *= int(dim)
    return size


# -- softmax ---------------------------------------------------------------------------------


@register("_softmax", category="activation")
def softmax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # max, subtract, exp, sum, divide: cost("softmax") per element
    return cost("softmax") * int(args[0].numel()), 0


@register("_safe_softmax", category="activation")
def safe_softmax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # softmax, then fully masked (all -inf) rows set to 0: softmax + safe_softmax per element
    return (cost("softmax") + cost("safe_softmax")) * int(args[0].numel()), 0


@register("_log_softmax", category="activation")
def log_softmax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x - max - log(sum(exp(x - max))): log_softmax per element, one log per row
    x, dim = args[0], arg(args, kwargs, 1, "dim")
    return cost("log_softmax") * int(x.numel()) + cost("transcendental") * rows(x, dim), 0


@register("_softmax_backward_data", category="activation")
def softmax_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dx = y * (dy - sum(dy * y)): softmax_backward per element of grad_output
    return cost("softmax_backward") * int(args[0].numel()), 0


@register("_log_softmax_backward_data", category="activation")
def log_softmax_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dx = dy - exp(y) * sum(dy): log_softmax_backward per element of grad_output
    return cost("log_softmax_backward") * int(args[0].numel()), 0


@register("_masked_softmax", category="activation")
def masked_softmax(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # softmax(mask ? -inf : x): one select per element, then the softmax
    return (cost("select") + cost("softmax")) * int(args[0].numel()), 0


@register("_masked_softmax_backward", category="activation")
def masked_softmax_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # softmax backward, then masked positions set to 0: one select per element
    return (cost("softmax_backward") + cost("select")) * int(args[0].numel()), 0


# -- losses: per element of input/target -------------------------------------------------------


def _pointwise_loss(name: str) -> FormulaFn:
    """Formula for the loss ``name``: ``cost(name)`` per element of the broadcast input/target,
    reduced."""

    def loss(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, target, reduction, ...)
        n = pair_numel(args[0], args[1])
        return reduced(n, cost(name), arg(args, kwargs, 2, "reduction", MEAN)), 0

    loss.__name__ = loss.__qualname__ = name
    return loss


def _pointwise_loss_backward(name: str) -> FormulaFn:
    """Formula for the loss backward ``name``: ``cost(name)`` per element of the broadcast
    input/target (never reduced)."""

    def loss_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (grad_output, self, target, reduction, ...)
        return cost(name) * pair_numel(args[1], args[2]), 0

    loss_backward.__name__ = loss_backward.__qualname__ = name
    return loss_backward


# (x - y)^2; backward: norm * (x - y) * dy per element
mse_loss = register("mse_loss", category="elementwise")(_pointwise_loss("mse_loss"))
mse_loss_backward = register("mse_loss_backward", category="elementwise")(
    _pointwise_loss_backward("mse_loss_backward")
)
# z = |x - y|; z < beta ? 0.5 z^2 / beta : z - 0.5 beta
smooth_l1_loss = register("smooth_l1_loss", category="elementwise")(
    _pointwise_loss("smooth_l1_loss")
)
smooth_l1_loss_backward = register("smooth_l1_loss_backward", category="elementwise")(
    _pointwise_loss_backward("smooth_l1_loss_backward")
)
# z = |x - y|; z < delta ? 0.5 z^2 : delta (z - 0.5 delta)
huber_loss = register("huber_loss", category="elementwise")(_pointwise_loss("huber_loss"))
huber_loss_backward = register("huber_loss_backward", category="elementwise")(
    _pointwise_loss_backward("huber_loss_backward")
)


@register("binary_cross_entropy", category="elementwise")
def binary_cross_entropy(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # -w (y log x + (1 - y) log(1 - x)) with logs clamped at -100, reduced
    n = pair_numel(args[0], args[1])
    weight = arg(args, kwargs, 2, "weight")
    per = cost("binary_cross_entropy") + (cost("mul") if weight is not None else 0)
    return reduced(n, per, arg(args, kwargs, 3, "reduction", MEAN)), 0


@register("binary_cross_entropy_backward", category="elementwise")
def binary_cross_entropy_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, target, weight, reduction): dy (x - y) / max((1 - x) x, eps), times
    # w, and for 'mean' divided by n element by element (as torch does)
    n = pair_numel(args[1], args[2])
    per = cost("binary_cross_entropy_backward")
    if arg(args, kwargs, 3, "weight") is not None:
        per += cost("mul")
    if arg(args, kwargs, 4, "reduction", MEAN) == MEAN:
        per += cost("div")
    return per * n, 0


@register("binary_cross_entropy_with_logits", category="elementwise")
def bce_with_logits(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (1 - y) x - lw * log_sigmoid(x), lw = (pw - 1) y + 1 with pos_weight; times w; reduced
    n = pair_numel(args[0], args[1])
    per = cost("bce_with_logits")
    if arg(args, kwargs, 3, "pos_weight") is not None:
        per += 3 * cost("mul") + cost("add")  # (pw - 1), * y, + 1, * log_sigmoid(x)
    if arg(args, kwargs, 2, "weight") is not None:
        per += cost("mul")
    return reduced(n, per, arg(args, kwargs, 4, "reduction", MEAN)), 0


@register("soft_margin_loss", category="elementwise")
def soft_margin_loss(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # log(1 + exp(-y x)), reduced
    n = pair_numel(args[0], args[1])
    return reduced(n, cost("soft_margin_loss"), arg(args, kwargs, 2, "reduction", MEAN)), 0


@register("soft_margin_loss_backward", category="elementwise")
def soft_margin_loss_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, target, reduction): -norm y z / (1 + z) dy, z = exp(-y x)
    return cost("soft_margin_loss_backward") * pair_numel(args[1], args[2]), 0


# -- losses over class scores ------------------------------------------------------------------


@register("nll_loss_forward", "nll_loss2d_forward", category="elementwise")
def nll_loss(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # Per target element t (target [N] or [N, H, W]): compare t with ignore_index, pick
    # x[n, t] (a gather, free), negate it (reduction 'none') or add it into the sum; a class
    # weight adds a multiply (and for a reduction an add into total_weight); 'mean' divides once.
    target, weight, reduction = (
        args[1],
        arg(args, kwargs, 2, "weight"),
        arg(args, kwargs, 3, "reduction", MEAN),
    )
    n = int(target.numel())
    per = cost("compare") + (cost("neg") if reduction == NONE else cost("loss_reduction"))
    if weight is not None:
        per += cost("mul") + (cost("add") if reduction != NONE else 0)
    return per * n + (cost("div") if reduction == MEAN else 0), 0


@register("nll_loss_backward", "nll_loss2d_backward", category="elementwise")
def nll_loss_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, target, weight, reduction, ignore_index, total_weight): grad_input is
    # zero-filled (no FLOPs) and, per target element, compare with ignore_index and write
    # -dy (a negate; times w with a weight); 'mean' first divides dy by total_weight, once.
    target, weight, reduction = (
        args[2],
        arg(args, kwargs, 3, "weight"),
        arg(args, kwargs, 4, "reduction", MEAN),
    )
    per = cost("compare") + cost("neg") + (cost("mul") if weight is not None else 0)
    return per * int(target.numel()) + (cost("div") if reduction == MEAN else 0), 0


@register("multi_margin_loss", category="elementwise")
def multi_margin_loss(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x: [N, C] (or [C]), per element: z = margin - x[y] + x[i] (2 adds), max(z, 0) (compare),
    # z^2 for p = 2 (multiply), w[y] * z with a weight (multiply), add into the sample's sum;
    # then per sample: divide by C, and the reduction over samples.
    x = args[0]
    p = arg(args, kwargs, 2, "p", 1)
    weight = arg(args, kwargs, 4, "weight")
    reduction = arg(args, kwargs, 5, "reduction", MEAN)
    per = 2 * cost("add") + cost("compare") + cost("add")
    per += (cost("mul") if p == 2 else 0) + (cost("mul") if weight is not None else 0)
    samples = int(x.shape[0]) if x.dim() == 2 else 1
    return per * int(x.numel()) + reduced(samples, cost("div"), reduction), 0


@register("multi_margin_loss_backward", category="elementwise")
def multi_margin_loss_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, target, p, margin, weight, reduction), per element of self: recompute
    # z (2 adds), compare, dz = g / C (times 2 z for p = 2, times w[y]) (multiply), and add
    # -dz into x[y]'s gradient
    x, p, weight = args[1], arg(args, kwargs, 3, "p", 1), arg(args, kwargs, 5, "weight")
    per = 2 * cost("add") + cost("compare") + cost("mul") + cost("add")
    per += (2 * cost("mul") if p == 2 else 0) + (cost("mul") if weight is not None else 0)
    return per * int(x.numel()), 0
