"""Normalisation: batch norm (training and eval, every backend), layer, group, RMS and weight norm.

For ``n`` elements normalised with statistics computed from the input itself (layer norm, group
norm, batch norm in training), FLOPs = ``n * (norm + affine)`` (see :mod:`.costs`); batch norm in
training also updates its running statistics, ``C * norm_running_stats`` for ``C`` channels. In
eval mode batch norm normalises with its running statistics: ``n * (norm_eval + affine)``.
``affine`` applies when both weight and bias are given, ``norm_affine_half`` when only one is.

Backward, for ``n`` elements (x_hat = (x - mean) * rstd, g = dy * weight):

- grad_input with batch statistics: ``n * (norm_recompute + norm_backward)``, plus
  ``n * norm_weight_backward`` with a weight; with running statistics (eval):
  ``n * norm_eval_backward`` (+ weight);
- grad_weight: ``n * norm_weight_grad`` (and ``norm_recompute`` if grad_input did not need x_hat);
- grad_bias: ``n * norm_bias_grad``.

``renorm`` (and ``embedding``'s ``max_norm``) measure each row's norm and rescale it: counted as
if every row were rescaled, so counts never depend on values.

``rms_norm``, ``instance_norm``, ``group_norm``, ``layer_norm``, ``batch_norm`` and
``local_response_norm`` are composites: they reach these formulas through the ops they run
(``_fused_rms_norm`` decomposes into pointwise ops and a mean, on CUDA too; only its backward
kernel needs a formula here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .reduction import vector_norm_cost
from .registry import Cost, register
from .shapes import arg, prod

_ALL = (True, True, True)


def affine_cost(weight: Any, bias: Any) -> int:
    """FLOPs per element of the elementwise affine: both, one or neither of weight and bias."""
    if weight is not None and bias is not None:
        return cost("affine")
    if weight is not None or bias is not None:
        return cost("norm_affine_half")
    return 0


def batch_stats_forward(n: int, weight: Any, bias: Any) -> int:
    """FLOPs of normalising ``n`` elements with statistics computed from them."""
    # mean and variance over each group, subtract, multiply by rstd, then the affine
    return n * (cost("norm") + affine_cost(weight, bias))


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, training: bool) -> Cost:
    """Batch norm forward: training computes batch statistics and updates running ones."""
    n = int(x.numel())
    if not training:
        # (x - running_mean) * rstd, then the affine
        return n * (cost("norm_eval") + affine_cost(weight, bias)), 0
    flops = batch_stats_forward(n, weight, bias)
    if running_mean is not None:
        flops += int(running_mean.numel()) * cost("norm_running_stats")
    return flops, 0


def norm_backward_cost(
    n: int, has_weight: bool, mask: Sequence[bool], batch_stats: bool = True
) -> int:
    """FLOPs of a normalisation backward over ``n`` elements, for the gradients in ``mask``."""
    grad_input, grad_weight, grad_bias = (bool(m) for m in mask)
    flops = 0
    if grad_input:
        if batch_stats:
            flops += n * (cost("norm_recompute") + cost("norm_backward"))
        else:
            flops += n * cost("norm_eval_backward")
        if has_weight:
            flops += n * cost("norm_weight_backward")
    if grad_weight:
        if not (grad_input and batch_stats):
            flops += n * cost("norm_recompute")  # x_hat, not already made for grad_input
        flops += n * cost("norm_weight_grad")
    if grad_bias:
        flops += n * cost("norm_bias_grad")
    return flops


@register("native_batch_norm", "cudnn_batch_norm", "miopen_batch_norm", category="norm")
def native_batch_norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, running_mean, running_var, training, momentum, eps)
    return batch_norm_forward(
        args[0],
        arg(args, kwargs, 1, "weight"),
        arg(args, kwargs, 2, "bias"),
        arg(args, kwargs, 3, "running_mean"),
        bool(arg(args, kwargs, 5, "training", True)),
    )


@register("_native_batch_norm_legit", "_native_batch_norm_legit_functional", category="norm")
def native_batch_norm_legit(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # default: (input, weight, bias, running_mean, running_var, training, momentum, eps)
    # no_stats: (input, weight, bias, training, momentum, eps)
    no_stats = isinstance(arg(args, kwargs, 3, "training"), bool)
    if no_stats:
        training, running_mean = bool(args[3]), None
    else:
        training = bool(arg(args, kwargs, 5, "training", True))
        running_mean = arg(args, kwargs, 3, "running_mean")
    return batch_norm_forward(
        args[0],
        arg(args, kwargs, 1, "weight"),
        arg(args, kwargs, 2, "bias"),
        running_mean,
        training,
    )


@register("_native_batch_norm_legit_no_training", category="norm")
def native_batch_norm_legit_no_training(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> Cost:
    # (input, weight, bias, running_mean, running_var, momentum, eps): eval mode
    return batch_norm_forward(
        args[0], arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"), None, False
    )


@register("_batch_norm_with_update", "_batch_norm_with_update_functional", category="norm")
def batch_norm_with_update(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, running_mean, running_var, momentum, eps): training, updating stats
    return batch_norm_forward(
        args[0],
        arg(args, kwargs, 1, "weight"),
        arg(args, kwargs, 2, "bias"),
        arg(args, kwargs, 3, "running_mean"),
        True,
    )


@register("_batch_norm_no_update", category="norm")
def batch_norm_no_update(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, running_mean, running_var, momentum, eps): eval with running
    # statistics, or batch statistics when there are none (nothing to update either way)
    running_mean = arg(args, kwargs, 3, "running_mean")
    return batch_norm_forward(
        args[0],
        arg(args, kwargs, 1, "weight"),
        arg(args, kwargs, 2, "bias"),
        None,
        running_mean is None,
    )


@register("native_batch_norm_backward", category="norm")
def native_batch_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps,
    #  output_mask)
    weight = arg(args, kwargs, 2, "weight")
    train = bool(arg(args, kwargs, 7, "train", True))
    mask = arg(args, kwargs, 9, "output_mask", _ALL)
    return norm_backward_cost(int(args[1].numel()), weight is not None, mask, train), 0


@register("batch_norm_backward", category="norm")
def batch_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, weight, running_mean, running_var, save_mean, save_var, update, eps,
    #  output_mask, reserve): batch statistics were used when training updated the running
    # ones, or when there were none
    weight = arg(args, kwargs, 2, "weight")
    update = bool(arg(args, kwargs, 7, "update", True))
    batch_stats = update or arg(args, kwargs, 3, "running_mean") is None
    mask = arg(args, kwargs, 9, "output_mask", _ALL)
    return norm_backward_cost(int(args[1].numel()), weight is not None, mask, batch_stats), 0


@register("cudnn_batch_norm_backward", "miopen_batch_norm_backward", category="norm")
def cudnn_batch_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, grad_output, weight, running_mean, running_var, save_mean, save_var, epsilon, ...):
    # training-mode backward computing all three gradients
    return norm_backward_cost(int(args[0].numel()), True, _ALL, True), 0


@register("batch_norm_stats", category="norm")
def batch_norm_stats(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, eps) -> (mean, invstd) per channel
    return int(args[0].numel()) * cost("norm_stats"), 0


@register("batch_norm_elemt", category="norm")
def batch_norm_elemt(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, mean, invstd, eps): (x - mean) * invstd, then the affine
    weight, bias = arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias")
    return int(args[0].numel()) * (cost("norm_eval") + affine_cost(weight, bias)), 0


@register("batch_norm_gather_stats", "batch_norm_gather_stats_with_counts", category="norm")
def batch_norm_gather_stats(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, mean [devices, C], invstd [devices, C], running_mean, running_var, momentum, eps,
    #  count(s)): merge every device's statistics, then update the running ones per channel
    mean = args[1]
    channels = int(mean.shape[-1])
    flops = int(mean.numel()) * cost("norm_gather_stats")
    if arg(args, kwargs, 3, "running_mean") is not None:
        flops += channels * cost("norm_running_stats")
    return flops, 0


@register("batch_norm_update_stats", category="norm")
def batch_norm_update_stats(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, running_mean, running_var, momentum): batch statistics, then the running update
    x, running_mean = args[0], arg(args, kwargs, 1, "running_mean")
    flops = int(x.numel()) * cost("norm_stats")
    if running_mean is not None:
        flops += int(running_mean.numel()) * cost("norm_running_stats")
    return flops, 0


@register("batch_norm_backward_reduce", category="norm")
def batch_norm_backward_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, mean, invstd, weight, input_g, weight_g, bias_g): per channel sums of
    # dy and dy * (x - mean); grad_weight and grad_bias follow per channel from them
    return int(args[1].numel()) * cost("norm_backward_reduce"), 0


@register("batch_norm_backward_elemt", category="norm")
def batch_norm_backward_elemt(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, mean, invstd, weight, sum_dy, sum_dy_xmu, count)
    return int(args[1].numel()) * cost("norm_backward_elemt"), 0


@register("native_layer_norm", category="norm")
def native_layer_norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, normalized_shape, weight, bias, eps): every element normalised over its row
    weight, bias = arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias")
    return batch_stats_forward(int(args[0].numel()), weight, bias), 0


@register("native_layer_norm_backward", category="norm")
def native_layer_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)
    weight = arg(args, kwargs, 5, "weight")
    mask = arg(args, kwargs, 7, "output_mask", _ALL)
    return norm_backward_cost(int(args[1].numel()), weight is not None, mask), 0


@register("native_group_norm", category="norm")
def native_group_norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight, bias, N, C, HxW, group, eps): every element normalised over its group
    weight, bias = arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias")
    return batch_stats_forward(int(args[0].numel()), weight, bias), 0


@register("native_group_norm_backward", category="norm")
def native_group_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, mean, rstd, weight, N, C, HxW, group, output_mask)
    weight = arg(args, kwargs, 4, "weight")
    mask = arg(args, kwargs, 9, "output_mask", _ALL)
    return norm_backward_cost(int(args[1].numel()), weight is not None, mask), 0


@register("_fused_rms_norm_backward", category="norm")
def fused_rms_norm_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, input, normalized_shape, rstd, weight, output_mask[2]), y = x * rstd * weight:
    # dx = rstd * (g - x * rstd^2 * mean(g * x)) with g = dy * weight; dweight = sum(dy * x * rstd)
    n = int(args[1].numel())
    weight = arg(args, kwargs, 4, "weight")
    mask = arg(args, kwargs, 5, "output_mask", (True, True))
    flops = 0
    if mask[0]:
        flops += n * cost("rms_norm_backward")
        if weight is not None:
            flops += n * cost("norm_weight_backward")
    if mask[1] and weight is not None:
        flops += n * cost("rms_norm_weight_grad")
    return flops, 0


@register("_weight_norm_interface", category="norm")
def weight_norm_interface(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (v, g, dim): w = g * v / ||v||, norms over every dim but ``dim``
    return int(args[0].numel()) * cost("weight_norm"), 0


@register("_weight_norm_interface_backward", category="norm")
def weight_norm_interface_backward(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> Cost:
    # (grad_w, saved_v, saved_g, saved_norms, dim) -> (grad_v, grad_g)
    return prod(args[1].shape) * cost("weight_norm_backward"), 0


def renorm_cost(n: int, rows: int, order: Any) -> int:
    """FLOPs of renormalising ``rows`` rows of ``n`` elements in all to a max norm: each row's
    norm, its scale factor, and the rescale of every element (counted whatever the norms)."""
    return vector_norm_cost(n, rows, order) + rows * cost("renorm_row") + n * cost("renorm_scale")


@register("renorm", "renorm_", category="norm")
def renorm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, p, dim, maxnorm): every slice along dim whose p-norm exceeds maxnorm is scaled
    # down to it
    x = args[0]
    order, dim = arg(args, kwargs, 1, "p"), int(arg(args, kwargs, 2, "dim"))
    rows = int(x.shape[dim]) if x.dim() else 1
    return renorm_cost(int(x.numel()), rows, order), 0
