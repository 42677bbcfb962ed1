"""Convolutions (1d/2d/3d, grouped, depthwise, transposed, every backend op) and their backward.

For a convolution with weight ``[c_out, c_in / groups, *kernel]``, every output element is a dot
product of ``c_in / groups * prod(kernel)`` terms: MACs = ``numel(out) * prod(weight.shape[1:])``.
A transposed convolution with weight ``[c_in, c_out / groups, *kernel]`` scatters every input
element into ``c_out / groups * prod(kernel)`` outputs:
MACs = ``numel(x) * prod(weight.shape[1:])``.
Bias adds one FLOP per output element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .registry import Cost, register
from .shapes import arg, first_tensor, prod


def conv_macs(
    x_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], transposed: bool
) -> int:
    """MACs of one convolution, from its input, weight and output shapes."""
    return prod(x_shape if transposed else out_shape) * _per_output(w_shape)


def _per_output(w_shape: Sequence[int]) -> int:
    """``prod(w_shape[1:])`` without slicing the shape (a ``torch.Size`` slice is a new Size)."""
    per_element = 1
    for i in range(1, len(w_shape)):
        per_element *= int(w_shape[i])
    return per_element


def _conv_cost(x: Any, w: Any, bias: Any, out: Any, transposed: bool) -> Cost:
    o = first_tensor(out)
    # conv_macs(x.shape, w.shape, o.shape, transposed), with numel() for the product of a shape
    macs = int((x if transposed else o).numel()) * _per_output(w.shape)
    return 2 * macs + (cost("bias_add") * o.numel() if bias is not None else 0), macs


@register("convolution", "_convolution", "convolution_overrideable", category="conv")
def convolution(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, ...)
    transposed = bool(args[6] if len(args) > 6 else kwargs.get("transposed", False))
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    return _conv_cost(args[0], args[1], bias, out, transposed)


@register(
    "mkldnn_convolution",
    "miopen_convolution",
    "miopen_depthwise_convolution",
    "_nnpack_spatial_convolution",
    "_slow_conv2d_forward",
    "slow_conv3d_forward",
    "slow_conv3d",
    "thnn_conv2d",
    "slow_conv_dilated2d",
    "slow_conv_dilated3d",
    "_conv_depthwise2d",
    "conv_depthwise3d",
    category="conv",
)
def backend_convolution(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # Backend ops of a plain convolution: (self, weight, <kernel_size>, bias, ...) or
    # (self, weight, bias, ...); the bias is the first optional tensor after the weight.
    bias = _optional_bias(args, kwargs)
    return _conv_cost(args[0], args[1], bias, out, transposed=False)


@register("cudnn_convolution", category="conv")
def cudnn_convolution(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, weight, padding, stride, dilation, groups, ...): no bias argument
    return _conv_cost(args[0], args[1], None, out, transposed=False)


@register("cudnn_convolution_transpose", category="conv")
def cudnn_convolution_transpose(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    return _conv_cost(args[0], args[1], None, out, transposed=True)


@register(
    "miopen_convolution_transpose",
    "slow_conv_transpose2d",
    "slow_conv_transpose3d",
    category="conv",
)
def backend_convolution_transpose(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    return _conv_cost(args[0], args[1], _optional_bias(args, kwargs), out, transposed=True)


@register("cudnn_convolution_relu", category="conv")
def cudnn_convolution_relu(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # relu(conv(x, w) + bias)
    flops, macs = _conv_cost(args[0], args[1], arg(args, kwargs, 2, "bias"), out, False)
    return flops + cost("relu") * first_tensor(out).numel(), macs


@register("cudnn_convolution_add_relu", category="conv")
def cudnn_convolution_add_relu(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # relu(conv(x, w) + alpha * z + bias): (self, weight, z, alpha, bias, ...)
    n = first_tensor(out).numel()
    alpha = arg(args, kwargs, 3, "alpha")
    flops, macs = _conv_cost(args[0], args[1], arg(args, kwargs, 4, "bias"), out, False)
    flops += n + (n if alpha is not None and alpha != 1 else 0) + cost("relu") * n
    return flops, macs


@register("convolution_backward", category="conv")
def convolution_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    #  output_padding, groups, output_mask). grad_input is the transposed convolution of
    # grad_output with the weight and grad_weight correlates input with grad_output: each
    # costs the forward's MACs. grad_bias sums grad_output: one add per element.
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(arg(args, kwargs, 7, "transposed", False))
    mask = arg(args, kwargs, 10, "output_mask", (True, True, True))
    forward_macs = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
    macs = forward_macs * (int(bool(mask[0])) + int(bool(mask[1])))
    flops = 2 * macs + (grad_out.numel() if mask[2] else 0)
    return flops, macs


def _optional_bias(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The bias tensor of a backend convolution op, wherever its schema puts it."""
    if "bias" in kwargs:
        return kwargs["bias"]
    for value in args[2:4]:
        if value is None:
            return None
        if hasattr(value, "shape") and value.dim() == 1:
            return value
    return None
