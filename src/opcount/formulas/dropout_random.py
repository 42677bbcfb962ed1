"""Dropout and random-number fills.

Drawing random numbers is counted with the ``random`` cost entry, 0 FLOPs per element by
default: RNG is integer bit mixing plus a fixed transform, not arithmetic on the model's data.
The ops are still ``counted`` (never silently free) and their bytes written are measured, and
``OpCounter(costs={"random": n})`` counts ``n`` FLOPs per drawn number instead. Dropout adds
its mask multiplies on top. Samplers whose work depends on the values drawn (``multinomial``,
``poisson``, ``binomial``, ``_standard_gamma``, ``_sample_dirichlet``) have no formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .pointwise import out_numel
from .registry import Cost, register
from .shapes import arg


@register(
    "rand",
    "randn",
    "randint",
    "rand_like",
    "randn_like",
    "randint_like",
    "randperm",
    "uniform",
    "uniform_",
    "normal",
    "normal_",
    "normal_functional",
    "random",
    "random_",
    "exponential",
    "exponential_",
    "cauchy",
    "cauchy_",
    "log_normal",
    "log_normal_",
    "geometric",
    "geometric_",
    "bernoulli",
    "bernoulli_",
    "_philox_uniform",
    "_philox_uniform_",
    "_philox_normal",
    "_philox_normal_",
    category="other",
)
def random_fill(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one draw per output element: random * numel(out); bernoulli's compare with p is part of
    # the draw's transform, as normal's mean + std * z is
    return cost("random") * out_numel(args, kwargs, out), 0


@register("native_dropout", category="elementwise")
def native_dropout(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # training: mask drawn (random), x * mask * 1/(1 - p) (dropout) per element;
    # native_dropout(train=False) returns a copy of x: no FLOPs
    if arg(args, kwargs, 2, "train", True) is False:
        return 0, 0
    return (cost("random") + cost("dropout")) * int(args[0].numel()), 0


@register("_fused_dropout", category="elementwise")
def fused_dropout(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, p, generator): the CUDA dropout kernel, always training, as native_dropout
    return (cost("random") + cost("dropout")) * int(args[0].numel()), 0


@register("native_dropout_backward", "_masked_scale", category="elementwise")
def native_dropout_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dy * mask * scale per element
    return cost("dropout_backward") * int(args[0].numel()), 0
