"""Activation functions and their backward ops.

Each costs a fixed number of FLOPs per element: of the output for a forward op, of
``grad_output`` for a backward op (``glu`` halves its input, so both count per output element).
The per-element costs, with their derivations, are entries of :mod:`.costs`; ``tanh`` and
``sigmoid`` forward live with the other math functions in :mod:`.pointwise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from .costs import cost
from .pointwise import out_numel
from .registry import Cost, FormulaFn, register
from .shapes import arg


def per_element(name: str) -> FormulaFn:
    """The formula ``numel(out) * cost(name)``: ``name`` is read at call time."""

    def formula(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        if isinstance(out, Tensor):  # the common case, without a call
            return cost(name) * int(out.numel()), 0
        return cost(name) * out_numel(args, kwargs, out), 0

    return formula


_SIMPLE: dict[tuple[str, ...], str] = {
    # aten ops -> cost entry (closed form in the entry's doc)
    ("relu", "relu_", "threshold", "threshold_"): "relu",  # max(x, 0) / x > t ? x : v
    ("threshold_backward",): "relu_backward",  # x <= t ? 0 : dy
    ("hardtanh", "hardtanh_"): "hardtanh",  # min(max(x, lo), hi); relu6 is hardtanh(0, 6)
    ("hardtanh_backward",): "hardtanh_backward",
    ("sigmoid_backward",): "sigmoid_backward",  # dy * (1 - y) * y
    ("tanh_backward",): "tanh_backward",  # dy * (1 - y^2)
    ("silu", "silu_"): "silu",  # x / (1 + exp(-x))
    ("silu_backward",): "silu_backward",
    ("hardswish", "hardswish_"): "hardswish",  # x * relu6(x + 3) / 6
    ("hardswish_backward",): "hardswish_backward",
    ("hardsigmoid", "hardsigmoid_"): "hardsigmoid",  # relu6(x + 3) / 6
    ("hardsigmoid_backward",): "hardsigmoid_backward",
    ("leaky_relu", "leaky_relu_", "_prelu_kernel"): "leaky_relu",  # x > 0 ? x : a * x
    ("leaky_relu_backward",): "leaky_relu_backward",
    ("elu", "elu_", "celu", "celu_"): "elu",  # celu(x, a) = elu(x, a, input_scale=1/a)
    ("elu_backward",): "elu_backward",
    ("softplus",): "softplus",  # log1p(exp(beta x)) / beta
    ("softplus_backward",): "softplus_backward",
    ("mish", "mish_"): "mish",  # x * tanh(softplus(x))
    ("mish_backward",): "mish_backward",
    ("glu",): "glu",  # a * sigmoid(b), per output element
    ("hardshrink", "hardshrink_backward", "softshrink_backward"): "hardshrink",
    ("softshrink",): "softshrink",
    ("logit_backward",): "logit_backward",
}

for _names, _entry in _SIMPLE.items():
    register(*_names, category="activation")(per_element(_entry))


@register("gelu", "gelu_", category="activation")
def gelu(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # approximate="none": x * 0.5 * (1 + erf(x / sqrt 2)); "tanh": the tanh approximation
    tanh = kwargs.get("approximate", "none") == "tanh"
    return cost("gelu_tanh" if tanh else "gelu") * out_numel(args, kwargs, out), 0


@register("gelu_backward", category="activation")
def gelu_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dy * gelu'(x), for either approximation
    tanh = kwargs.get("approximate", "none") == "tanh"
    name = "gelu_tanh_backward" if tanh else "gelu_backward"
    return cost(name) * int(args[0].numel()), 0


@register("_prelu_kernel_backward", category="activation")
def prelu_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # per input element: x > 0 ? (dy, 0) : (w * dy, x * dy); autograd sums the second result
    # down to the weight's shape with a separate (counted) sum op
    return cost("prelu_backward") * int(args[1].numel()), 0


@register(
    "rrelu_with_noise", "rrelu_with_noise_", "rrelu_with_noise_functional", category="activation"
)
def rrelu(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x > 0 ? x : a * x, with a drawn per element in training (a 'random' draw) or the mean
    # slope (lower + upper) / 2 in evaluation
    training = bool(arg(args, kwargs, 4, "training", False))
    per = cost("leaky_relu") + (cost("random") if training else 0)
    return per * int(args[0].numel()), 0


@register("rrelu_with_noise_backward", category="activation")
def rrelu_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dy * noise (training) or leaky_relu_backward with the mean slope: compare, multiply
    return cost("leaky_relu_backward") * int(args[0].numel()), 0


@register("log_sigmoid_forward", category="activation")
def log_sigmoid_forward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # min(x, 0) - log1p(exp(-|x|)); returns (output, buffer)
    return cost("log_sigmoid") * int(args[0].numel()), 0


@register("log_sigmoid_backward", category="activation")
def log_sigmoid_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # dy * (max_deriv - sign * z / (1 + z)), per grad_output element
    return cost("log_sigmoid_backward") * int(args[0].numel()), 0


@register("glu_backward", category="activation")
def glu_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, dim): per grad_output element (half of grad_input's), both halves'
    # gradients: dy * s and dy * a * s * (1 - s)
    return cost("glu_backward") * int(args[0].numel()), 0
