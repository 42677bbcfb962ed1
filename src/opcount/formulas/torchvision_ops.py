"""torchvision's operators (``torch.ops.torchvision``): NMS, RoI pooling and deformable conv.

Registered lazily, into their own :data:`TORCHVISION` registry: :func:`torchvision_formula` is
asked only when an op of the ``torchvision`` namespace reaches a counter, so torchvision is
loaded already and opcount never imports it. Conventions (costs from :mod:`.costs`):

- ``nms(dets [N, 4], scores [N])``: the kernel sorts the scores (``N * ceil(log2 N)``
  compares), computes each box's area (``roi_area``), then compares each kept box with every
  later one. How many pairs are compared depends on the values; counted is the upper bound,
  every pair: ``N (N - 1) / 2 * cost("nms_iou")``. ``batched_nms`` is aten ops (its
  coordinate offset trick, or a per-class loop) around this op, counted as they run.
- ``roi_align`` / ``ps_roi_align``: per output element, ``grid_h * grid_w`` bilinear samples
  (the sampling ratio, or with ``sampling_ratio <= 0`` the adaptive ``ceil(roi_size /
  pooled_size)`` of each RoI, read from the boxes), each four taps (``4 * resize_tap``),
  plus one divide for the average; the sample coordinates and weights, shared by all channels
  of a RoI (one channel per bin for the position-sensitive variant), cost ``roi_sample_weights``
  per sample position. Every sample is counted, also those outside the map (weighted 0).
  Backward spreads each gradient over the same taps: the same count.
- ``roi_pool`` / ``ps_roi_pool``: per output element, a max (``pool_max``) or a sum
  (``pool_add``, then ``pool_divide``) over its bin, whose size the kernels compute from the
  rounded boxes (read here the same way). Backward: ``roi_pool``'s adds each gradient at its
  argmax (``pool_max_backward``); ``ps_roi_pool``'s divides it by the bin's size and adds it
  to every element of the bin.
- ``deform_conv2d``: MACs are the convolution's, ``numel(out) * prod(weight.shape[1:])``
  (the column matrix times the weight); FLOPs add, per column element (``N * C_in * k_h *
  k_w * H_out * W_out``), its bilinear sample at the offset position (``deform_sample``), the
  mask multiply (``mul``, with a mask) and the bias (``bias_add`` per output element).
  Backward: the column gradient and the weight gradient, two GEMMs of the forward's MACs; the
  columns sampled again for the weight gradient (``deform_sample``), each column gradient
  spread over its four taps (``deform_sample_backward``), both offset gradients of it
  (``deform_offset_grad`` per axis) and, with a mask, its mask gradient (``deform_sample``
  plus a multiply-add); the bias gradient adds every output gradient (``add``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .costs import cost
from .registry import Cost, Formula, FormulaFn, Registry
from .shapes import prod

__all__ = ["TORCHVISION", "torchvision_formula"]

TORCHVISION = Registry()
"""Formulas of torchvision's operators, filled on the first :func:`torchvision_formula` call."""

_loaded = False


def torchvision_formula(packet: Any) -> Formula | None:
    """The formula of a ``torch.ops.torchvision`` packet, registering them all on first use."""
    global _loaded
    if not _loaded:
        _loaded = True
        _register_all()
    return TORCHVISION.get(packet)


def _sort_compares(n: int) -> int:
    return n * math.ceil(math.log2(n)) if n > 1 else 0


def nms_cost(n: int) -> int:
    """FLOPs of ``nms`` over ``n`` boxes: sort, areas, and the IoU of every pair (upper bound)."""
    return (
        _sort_compares(n) * cost("sort_compare")
        + n * cost("roi_area")
        + n * (n - 1) // 2 * cost("nms_iou")
    )


def nms(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (dets [N, 4], scores [N], iou_threshold)
    return nms_cost(int(args[0].shape[0])), 0


def _adaptive_grid(
    rois: torch.Tensor, scale: float, pooled: tuple[int, int], offset: float, clamp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per RoI, the adaptive sample grid ``ceil(roi_size / pooled)`` (rows, columns), computed
    as torchvision's kernels do, in the boxes' dtype."""
    start_w, start_h = rois[:, 1] * scale - offset, rois[:, 2] * scale - offset
    end_w, end_h = rois[:, 3] * scale - offset, rois[:, 4] * scale - offset
    width, height = end_w - start_w, end_h - start_h
    if clamp:
        width, height = width.clamp(min=1.0), height.clamp(min=1.0)
    return torch.ceil(height / pooled[0]), torch.ceil(width / pooled[1])


def _align_cost(
    rois: torch.Tensor,
    channels_per_bin: int,
    pooled: tuple[int, int],
    sampling_ratio: int,
    scale: float,
    offset: float,
    clamp: bool,
) -> int:
    """FLOPs of a RoI-align over ``rois`` with ``channels_per_bin`` channels sampled per bin."""
    k, bins = int(rois.shape[0]), pooled[0] * pooled[1]
    if sampling_ratio > 0:
        samples = k * bins * sampling_ratio * sampling_ratio  # sample positions in all
    else:
        grid_h, grid_w = _adaptive_grid(rois, scale, pooled, offset, clamp)
        samples = bins * int((grid_h * grid_w).sum().item())
    per_sample = 4 * cost("resize_tap")
    return samples * (
        channels_per_bin * per_sample + cost("roi_sample_weights")
    ) + k * bins * channels_per_bin * cost("pool_divide")


def roi_align(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input [N, C, H, W], rois [K, 5], spatial_scale, pooled_h, pooled_w, sampling_ratio,
    #  aligned): output [K, C, pooled_h, pooled_w]
    x, rois, scale, ph, pw, ratio, aligned = args[:7]
    offset = 0.5 if aligned else 0.0
    return _align_cost(rois, int(x.shape[1]), (ph, pw), ratio, scale, offset, not aligned), 0


def roi_align_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, rois, spatial_scale, pooled_h, pooled_w, batch, channels, h, w, sampling_ratio,
    #  aligned)
    _, rois, scale, ph, pw, _, channels, _, _, ratio, aligned = args[:11]
    offset = 0.5 if aligned else 0.0
    return _align_cost(rois, int(channels), (ph, pw), ratio, scale, offset, not aligned), 0


def ps_roi_align(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input [N, C, H, W], rois, spatial_scale, pooled_h, pooled_w, sampling_ratio):
    # output [K, C / (ph pw), ph, pw], each bin sampling its own channel
    x, rois, scale, ph, pw, ratio = args[:6]
    per_bin = int(x.shape[1]) // (ph * pw)
    return _align_cost(rois, per_bin, (ph, pw), ratio, scale, 0.5, False), 0


def ps_roi_align_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, rois, channel_mapping, spatial_scale, pooled_h, pooled_w, sampling_ratio, batch,
    #  channels, h, w)
    _, rois, _, scale, ph, pw, ratio, _, channels = args[:9]
    per_bin = int(channels) // (ph * pw)
    return _align_cost(rois, per_bin, (ph, pw), ratio, scale, 0.5, False), 0


def _bin_areas(
    rois: torch.Tensor, scale: float, pooled: tuple[int, int], size: tuple[int, int], plus_one: int
) -> int:
    """Sum over RoIs and bins of each bin's element count, as torchvision's RoI-pool kernels
    bound the bins: box corners rounded half away from zero, bin edges ``floor(p * bin)`` and
    ``ceil((p + 1) * bin)`` in the boxes' dtype, clipped to the map (``plus_one``: roi_pool
    counts a box's last row and column, ps_roi_pool does not)."""
    scaled = rois[:, 1:5] * scale
    corners = (torch.sign(scaled) * torch.floor(scaled.abs() + 0.5)).to(torch.int64)
    spans = []
    for start, end, bins, limit in (
        (corners[:, 1], corners[:, 3], pooled[0], size[0]),
        (corners[:, 0], corners[:, 2], pooled[1], size[1]),
    ):
        length = (end - start + plus_one).clamp(min=1)
        bin_size = (length.to(rois.dtype) / bins)[:, None]
        p = torch.arange(bins, dtype=rois.dtype, device=rois.device)[None, :]
        low = (torch.floor(p * bin_size).to(torch.int64) + start[:, None]).clamp(0, limit)
        high = (torch.ceil((p + 1) * bin_size).to(torch.int64) + start[:, None]).clamp(0, limit)
        spans.append((high - low).clamp(min=0).sum(dim=1))
    return int((spans[0] * spans[1]).sum().item())


def roi_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input [N, C, H, W], rois, spatial_scale, pooled_h, pooled_w): a max over each bin
    x, rois, scale, ph, pw = args[:5]
    size = (int(x.shape[2]), int(x.shape[3]))
    return int(x.shape[1]) * _bin_areas(rois, scale, (ph, pw), size, 1) * cost("pool_max"), 0


def roi_pool_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, rois, argmax, ...): each gradient added at its argmax
    return int(args[0].numel()) * cost("pool_max_backward"), 0


def ps_roi_pool(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, rois, spatial_scale, pooled_h, pooled_w): each bin averages its own channel
    x, rois, scale, ph, pw = args[:5]
    per_bin = int(x.shape[1]) // (ph * pw)
    areas = _bin_areas(rois, scale, (ph, pw), (int(x.shape[2]), int(x.shape[3])), 0)
    outputs = int(rois.shape[0]) * ph * pw * per_bin
    return per_bin * areas * cost("pool_add") + outputs * cost("pool_divide"), 0


def ps_roi_pool_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, rois, channel_mapping, spatial_scale, pooled_h, pooled_w, batch, channels, h, w)
    grad, rois, _, scale, ph, pw, _, channels, height, width = args[:10]
    per_bin = int(channels) // (ph * pw)
    areas = _bin_areas(rois, scale, (ph, pw), (int(height), int(width)), 0)
    return int(grad.numel()) * cost("pool_divide") + per_bin * areas * cost("add"), 0


def _deform_columns(x: torch.Tensor, weight: torch.Tensor, out_hw: int) -> int:
    """Column elements of a deformable conv: ``N * C_in * k_h * k_w * H_out * W_out``."""
    return int(x.shape[0]) * int(x.shape[1]) * prod(weight.shape[2:]) * out_hw


def deform_conv2d(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input [N, C_in, H, W], weight [C_out, C_in / g, k_h, k_w], offset, mask, bias, stride
    #  (2), padding (2), dilation (2), groups, offset_groups, use_mask)
    x, weight, _, _, bias = args[:5]
    use_mask = bool(args[13])
    macs = int(out.numel()) * prod(weight.shape[1:])
    columns = _deform_columns(x, weight, int(out.shape[2]) * int(out.shape[3]))
    per_column = cost("deform_sample") + (cost("mul") if use_mask else 0)
    biased = bias is not None and bias.numel() > 0
    flops = 2 * macs + columns * per_column + (int(out.numel()) * cost("bias_add") if biased else 0)
    return flops, macs


def deform_conv2d_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad [N, C_out, H_out, W_out], input, weight, offset, mask, bias, ..., use_mask):
    # (grad_input, grad_weight, grad_offset, grad_mask, grad_bias)
    grad, x, weight, _, _, bias = args[:6]
    use_mask = bool(args[14])
    macs = 2 * int(grad.numel()) * prod(weight.shape[1:])
    columns = _deform_columns(x, weight, int(grad.shape[2]) * int(grad.shape[3]))
    per_column = (
        cost("deform_sample")  # the columns again, for the weight gradient
        + cost("deform_sample_backward")
        + 2 * cost("deform_offset_grad")
    )
    if use_mask:
        # the mask multiplies the columns again, the spread gradient and both offset
        # gradients (4); its own gradient samples the input, times the column gradient, added
        per_column += 5 * cost("mul") + cost("deform_sample") + cost("add")
    biased = bias is not None and bias.numel() > 0
    flops = 2 * macs + columns * per_column + (int(grad.numel()) * cost("add") if biased else 0)
    return flops, macs


_FORMULAS: tuple[tuple[str, FormulaFn, str], ...] = (
    ("nms", nms, "other"),
    ("roi_align", roi_align, "pool"),
    ("_roi_align_backward", roi_align_backward, "pool"),
    ("ps_roi_align", ps_roi_align, "pool"),
    ("_ps_roi_align_backward", ps_roi_align_backward, "pool"),
    ("roi_pool", roi_pool, "pool"),
    ("_roi_pool_backward", roi_pool_backward, "pool"),
    ("ps_roi_pool", ps_roi_pool, "pool"),
    ("_ps_roi_pool_backward", ps_roi_pool_backward, "pool"),
    ("deform_conv2d", deform_conv2d, "conv"),
    ("_deform_conv2d_backward", deform_conv2d_backward, "conv"),
)


_READ_BOXES = frozenset(
    {"roi_align", "_roi_align_backward", "ps_roi_align", "_ps_roi_align_backward"}
    | {"roi_pool", "ps_roi_pool", "_ps_roi_pool_backward"}
)
"""Ops whose cost depends on the boxes' values (adaptive sample grids, bin sizes)."""


def _register_all() -> None:
    """Add every formula whose op the loaded torchvision defines."""
    namespace = torch.ops.torchvision
    for name, fn, category in _FORMULAS:
        try:
            packet = getattr(namespace, name)
        except (AttributeError, RuntimeError):  # an older torchvision without this op
            continue
        TORCHVISION.add(packet, fn, category, reads_values=name in _READ_BOXES)
