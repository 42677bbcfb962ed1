"""Resampling: interpolate (every mode, antialiased too), grid_sample, affine_grid, fold/unfold,
and their backward ops.

Interpolation computes every output element as a weighted sum of ``taps`` source values:
``resize_tap`` FLOPs per tap (a multiply and an add). Taps per output element: linear 2,
bilinear 4, trilinear 8, bicubic 16; nearest copies (0 FLOPs). The antialiased modes
(``_upsample_*_aa``) widen the filter when downsampling: along a dim scaled by ``s > 1`` each
output reads the ``support = interp_size / 2 * s`` neighbourhood, clipped to the input, counted
exactly per output index. Backward spreads each output gradient over the same taps (nearest:
``resize_nearest_backward`` per gradient). Weights and source indices are computed once per
output coordinate, not per element, and are not counted.

``grid_sampler``: per output location and spatial axis ``grid_sample_coord`` (+
``grid_sample_clip`` for border/reflection padding), per location and tap ``grid_sample_weight``,
per output element and tap ``resize_tap`` (bilinear 4 taps, bicubic 16, trilinear 8; nearest
copies).

``affine_grid_generator`` multiplies a base grid ``[N, H*W, 3]`` by ``theta^T`` ``[N, 3, 2]``:
``N*H*W*3*2`` MACs (3d: ``N*D*H*W*4*3``), like the bmm its backward decomposes into.

``im2col`` (unfold) only moves data (category copy; ``pixel_shuffle`` and friends are in
:mod:`.copy`); ``col2im`` (fold) adds each column element that lands inside the output into its
pixel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .pool import window_reads
from .registry import Cost, FormulaFn, register
from .shapes import arg, first_tensor, prod


def _interpolation(taps: int) -> FormulaFn:
    def interpolate(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # every output element: ``taps`` weighted source values
        return int(first_tensor(out).numel()) * taps * cost("resize_tap"), 0

    interpolate.__doc__ = f"Interpolation with {taps} taps per output element."
    return interpolate


def _interpolation_backward(taps: int) -> FormulaFn:
    def interpolate_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (grad_output, output_size, input_size, ...): each gradient spread over its taps
        return int(args[0].numel()) * taps * cost("resize_tap"), 0

    interpolate_backward.__doc__ = f"Backward of interpolation with {taps} taps per output."
    return interpolate_backward


upsample_linear1d = register("upsample_linear1d", category="resize")(_interpolation(2))
upsample_bilinear2d = register("upsample_bilinear2d", category="resize")(_interpolation(4))
upsample_trilinear3d = register("upsample_trilinear3d", category="resize")(_interpolation(8))
upsample_bicubic2d = register("upsample_bicubic2d", category="resize")(_interpolation(16))
upsample_linear1d_backward = register("upsample_linear1d_backward", category="resize")(
    _interpolation_backward(2)
)
upsample_bilinear2d_backward = register("upsample_bilinear2d_backward", category="resize")(
    _interpolation_backward(4)
)
upsample_trilinear3d_backward = register("upsample_trilinear3d_backward", category="resize")(
    _interpolation_backward(8)
)
upsample_bicubic2d_backward = register("upsample_bicubic2d_backward", category="resize")(
    _interpolation_backward(16)
)


@register(
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    category="resize",
)
def upsample_nearest(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # every output element copies its nearest source: 0 FLOPs
    return 0, 0


@register(
    "upsample_nearest1d_backward",
    "upsample_nearest2d_backward",
    "upsample_nearest3d_backward",
    "_upsample_nearest_exact1d_backward",
    "_upsample_nearest_exact2d_backward",
    "_upsample_nearest_exact3d_backward",
    category="resize",
)
def upsample_nearest_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, ...): each gradient added into its source's gradient
    return int(args[0].numel()) * cost("resize_nearest_backward"), 0


def area_pixel_scale(size_in: int, size_out: int, align_corners: bool, scale: Any) -> float:
    """Source pixels per output pixel, as ATen's ``area_pixel_compute_scale`` computes it."""
    if align_corners:
        return (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    if scale is not None and scale > 0:
        return 1.0 / float(scale)
    return size_in / size_out


def antialias_taps(size_in: int, size_out: int, scale: float, interp_size: int) -> int:
    """Taps read along one dim by the antialiased filter, summed over the ``size_out`` outputs
    (ATen's ``_compute_indices_min_size_weights_aa``)."""
    support = interp_size * 0.5 * scale if scale >= 1.0 else interp_size * 0.5
    taps = 0
    for i in range(size_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        taps += max(hi - lo, 0)
    return taps


def antialias_cost(
    in_shape: Sequence[int],
    out_hw: Sequence[int],
    align_corners: bool,
    scales: Sequence[Any],
    interp_size: int,
) -> int:
    """FLOPs of a 2d antialiased interpolation from ``in_shape`` ``[N, C, H, W]`` to
    ``out_hw``: per (N, C), ``taps_h * taps_w`` weighted source values."""
    leading = prod(in_shape[:-2])
    taps = leading
    for size_in, size_out, scale in zip(in_shape[-2:], out_hw, scales):
        s = area_pixel_scale(int(size_in), int(size_out), align_corners, scale)
        taps *= antialias_taps(int(size_in), int(size_out), s, interp_size)
    return taps * cost("resize_tap")


def _aa_scales(args: Sequence[Any], kwargs: Mapping[str, Any], first: int) -> list[Any]:
    """``[scale_h, scale_w]`` from ``(..., scales_h, scales_w)`` at ``first`` or a ``.vec``
    ``scale_factors`` list there."""
    value = arg(args, kwargs, first, "scales_h")
    if isinstance(value, (list, tuple)):
        return list(value) if len(value) == 2 else [value[0], value[0]]
    if value is None and "scale_factors" in kwargs:
        factors = kwargs["scale_factors"]
        return [None, None] if factors is None else list(factors)
    return [value, arg(args, kwargs, first + 1, "scales_w")]


def _antialias(interp_size: int) -> FormulaFn:
    def interpolate_aa(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (self, output_size, align_corners, scales_h, scales_w) or
        # .vec (input, output_size, align_corners, scale_factors)
        x, o = args[0], first_tensor(out)
        align_corners = bool(arg(args, kwargs, 2, "align_corners", False))
        scales = _aa_scales(args, kwargs, 3)
        return antialias_cost(x.shape, o.shape[-2:], align_corners, scales, interp_size), 0

    return interpolate_aa


def _antialias_backward(interp_size: int) -> FormulaFn:
    def interpolate_aa_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        # (grad_output, output_size, input_size, align_corners, scales_h, scales_w)
        in_shape = [int(s) for s in arg(args, kwargs, 2, "input_size")]
        out_hw = [int(s) for s in arg(args, kwargs, 1, "output_size")]
        align_corners = bool(arg(args, kwargs, 3, "align_corners", False))
        scales = [arg(args, kwargs, 4, "scales_h"), arg(args, kwargs, 5, "scales_w")]
        return antialias_cost(in_shape, out_hw, align_corners, scales, interp_size), 0

    return interpolate_aa_backward


upsample_bilinear2d_aa = register("_upsample_bilinear2d_aa", category="resize")(_antialias(2))
upsample_bicubic2d_aa = register("_upsample_bicubic2d_aa", category="resize")(_antialias(4))
upsample_lanczos2d_aa = register("_upsample_lanczos2d_aa", category="resize")(_antialias(6))
upsample_bilinear2d_aa_backward = register("_upsample_bilinear2d_aa_backward", category="resize")(
    _antialias_backward(2)
)
upsample_bicubic2d_aa_backward = register("_upsample_bicubic2d_aa_backward", category="resize")(
    _antialias_backward(4)
)
upsample_lanczos2d_aa_backward = register("_upsample_lanczos2d_aa_backward", category="resize")(
    _antialias_backward(6)
)

# grid_sampler interpolation_mode: 0 bilinear, 1 nearest, 2 bicubic; padding_mode: 0 zeros,
# 1 border, 2 reflection
_BILINEAR, _NEAREST, _BICUBIC = 0, 1, 2


def grid_sample_taps(mode: int, spatial_dims: int) -> int:
    """Source values each output element of grid_sampler weighs (0 for nearest: a copy)."""
    if mode == _NEAREST:
        return 0
    if mode == _BICUBIC:
        return int(4**spatial_dims)
    return int(2**spatial_dims)


def grid_sample_location_cost(locations: int, axes: int, taps: int, padding_mode: int) -> int:
    """FLOPs per output location (shared by every channel): coordinates and tap weights."""
    per_axis = cost("grid_sample_coord") + (cost("grid_sample_clip") if padding_mode else 0)
    return locations * (axes * per_axis + taps * cost("grid_sample_weight"))


def grid_sample_cost(x: Any, grid: Any, mode: int, padding_mode: int) -> int:
    """FLOPs of grid_sampler from ``x`` ``[N, C, *in]`` at ``grid`` ``[N, *out, axes]``."""
    axes = int(grid.shape[-1])
    locations = prod(grid.shape[:-1])
    taps = grid_sample_taps(mode, axes)
    outputs = locations * int(x.shape[1])
    return grid_sample_location_cost(locations, axes, taps, padding_mode) + outputs * taps * cost(
        "resize_tap"
    )


def grid_sample_backward_cost(
    x: Any, grid: Any, mode: int, padding_mode: int, mask: Sequence[bool]
) -> int:
    """FLOPs of grid_sampler's backward for the gradients in ``mask`` (input, grid)."""
    axes = int(grid.shape[-1])
    locations = prod(grid.shape[:-1])
    taps = grid_sample_taps(mode, axes)
    outputs = locations * int(x.shape[1])
    flops = grid_sample_location_cost(locations, axes, taps, padding_mode)  # recomputed
    if mask[0]:
        if mode == _NEAREST:
            flops += outputs * cost("resize_nearest_backward")
        else:
            flops += outputs * taps * cost("resize_tap")
    if mask[1] and mode != _NEAREST:  # nearest's grid gradient is zero
        flops += outputs * taps * axes * cost("grid_sample_grad_coord")
        flops += locations * axes * cost("grid_sample_coord_backward")
    return flops


@register("grid_sampler_2d", "grid_sampler_3d", "_grid_sampler_2d_cpu_fallback", category="resize")
def grid_sampler(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, grid, interpolation_mode, padding_mode, align_corners)
    mode = int(arg(args, kwargs, 2, "interpolation_mode", _BILINEAR))
    padding_mode = int(arg(args, kwargs, 3, "padding_mode", 0))
    return grid_sample_cost(args[0], args[1], mode, padding_mode), 0


@register(
    "grid_sampler_2d_backward",
    "grid_sampler_3d_backward",
    "_grid_sampler_2d_cpu_fallback_backward",
    category="resize",
)
def grid_sampler_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, input, grid, interpolation_mode, padding_mode, align_corners, output_mask)
    mode = int(arg(args, kwargs, 3, "interpolation_mode", _BILINEAR))
    padding_mode = int(arg(args, kwargs, 4, "padding_mode", 0))
    mask = arg(args, kwargs, 6, "output_mask", (True, True))
    return grid_sample_backward_cost(args[1], args[2], mode, padding_mode, mask), 0


@register("cudnn_grid_sampler", category="resize")
def cudnn_grid_sampler(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, grid): bilinear, zeros padding, align_corners=True
    return grid_sample_cost(args[0], args[1], _BILINEAR, 0), 0


@register("cudnn_grid_sampler_backward", category="resize")
def cudnn_grid_sampler_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, grid, grad_output) -> (grad_self, grad_grid)
    return grid_sample_backward_cost(args[0], args[1], _BILINEAR, 0, (True, True)), 0


@register("affine_grid_generator", category="resize")
def affine_grid_generator(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (theta [N, 2, 3] or [N, 3, 4], size, align_corners) -> grid [N, *spatial, 2 or 3]:
    # base grid [N, prod(spatial), 3 or 4] @ theta^T
    theta = args[0]
    grid = first_tensor(out)
    macs = prod(grid.shape[:-1]) * int(theta.shape[-1]) * int(theta.shape[-2])
    return 2 * macs, macs


@register("cudnn_affine_grid_generator", category="resize")
def cudnn_affine_grid_generator(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (theta [N, 2, 3], N, C, H, W) -> grid [N, H, W, 2]
    n, h, w = (int(arg(args, kwargs, i, name)) for i, name in ((1, "N"), (3, "H"), (4, "W")))
    macs = n * h * w * 3 * 2
    return 2 * macs, macs


@register("cudnn_affine_grid_generator_backward", category="resize")
def cudnn_affine_grid_generator_backward(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> Cost:
    # (grad [N, H, W, 2], N, C, H, W) -> grad_theta = grad^T @ base grid: [N, 2, 3]
    grad = args[0]
    macs = prod(grad.shape[:-1]) * 3 * 2
    return 2 * macs, macs


@register("im2col", category="copy")
def im2col(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # unfold patches into columns: data movement only
    return 0, 0


@register("col2im", category="copy")
def col2im(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self [N, C*prod(kernel), L], output_size, kernel_size, dilation, padding, stride):
    # every column element that lands inside the output is added into its pixel; along each
    # dim the blocks read like a pooling's windows
    x = args[0]
    output_size = [int(s) for s in arg(args, kwargs, 1, "output_size")]
    kernel = _pair(arg(args, kwargs, 2, "kernel_size"))
    dilation = _pair(arg(args, kwargs, 3, "dilation"))
    padding = _pair(arg(args, kwargs, 4, "padding"))
    stride = _pair(arg(args, kwargs, 5, "stride"))
    channels = int(x.shape[-2]) // prod(kernel)
    leading = prod(x.shape[:-2]) * channels
    adds = leading
    for d in range(2):
        blocks = (output_size[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) // stride[
            d
        ] + 1
        adds *= window_reads(output_size[d], blocks, kernel[d], stride[d], padding[d], dilation[d])
    return adds * cost("reduce_add"), 0


def _pair(value: Any) -> list[int]:
    values = [int(v) for v in value]
    return values * 2 if len(values) == 1 else values
