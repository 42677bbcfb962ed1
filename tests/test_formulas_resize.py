"""Resampling formulas against closed forms: interpolate in every mode (antialiased too),
grid_sample, affine_grid, fold/unfold, forward in every grad mode and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row, rows_in_every_mode
from opcount.formulas import resize as resize_formulas
from opcount.formulas.costs import cost
from opcount.formulas.resize import antialias_taps

N, C = 2, 3


@pytest.mark.parametrize(
    ("shape", "mode", "op", "taps"),
    [
        ((N, C, 5), "linear", "upsample_linear1d", 2),
        ((N, C, 5, 4), "bilinear", "upsample_bilinear2d", 4),
        ((N, C, 5, 4), "bicubic", "upsample_bicubic2d", 16),
        ((N, C, 3, 4, 2), "trilinear", "upsample_trilinear3d", 8),
    ],
)
def test_interpolation_taps_forward_and_backward(
    shape: tuple[int, ...], mode: str, op: str, taps: int
) -> None:
    x = torch.randn(*shape)
    out_numel = x.numel() * 2 ** (len(shape) - 2)  # scale 2 along every spatial dim
    resize = lambda: F.interpolate(x, scale_factor=2, mode=mode)  # noqa: E731
    for row in rows_in_every_mode(resize, f"aten.{op}"):
        assert row.flops == out_numel * taps * cost("resize_tap")
        assert (row.macs, row.category) == (0, "resize")
    xg = x.clone().requires_grad_(True)
    counter = count(lambda: F.interpolate(xg, scale_factor=2, mode=mode).sum().backward())
    row = only_row(counter, f"aten.{op}_backward")
    assert row.flops == out_numel * taps * cost("resize_tap")  # each gradient over its taps


def test_align_corners_and_explicit_size() -> None:
    x = torch.randn(N, C, 5, 4)
    fn = lambda: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True)  # noqa: E731
    for row in rows_in_every_mode(fn, "aten.upsample_bilinear2d"):
        assert row.flops == N * C * 7 * 9 * 4 * cost("resize_tap")


@pytest.mark.parametrize(
    ("mode", "op"),
    [
        ("nearest", "upsample_nearest2d"),
        ("nearest-exact", "_upsample_nearest_exact2d"),
    ],
)
def test_nearest_copies_and_backward_adds(mode: str, op: str) -> None:
    x = torch.randn(N, C, 4, 3, requires_grad=True)
    counter = count(lambda: F.interpolate(x, scale_factor=2, mode=mode).sum().backward())
    assert only_row(counter, f"aten.{op}").flops == 0
    row = only_row(counter, f"aten.{op}_backward")
    assert row.flops == N * C * 8 * 6 * cost("resize_nearest_backward")
    for row in rows_in_every_mode(
        lambda: F.interpolate(x.detach(), size=(5, 5), mode=mode), f"aten.{op}"
    ):
        assert (row.flops, row.status) == (0, "counted")


def test_nearest_1d_and_3d() -> None:
    x1, x3 = torch.randn(N, C, 4), torch.randn(N, C, 2, 2, 2)
    assert (
        only_row(count(lambda: F.interpolate(x1, scale_factor=2)), "aten.upsample_nearest1d").flops
        == 0
    )
    assert (
        only_row(count(lambda: F.interpolate(x3, scale_factor=2)), "aten.upsample_nearest3d").flops
        == 0
    )


def test_antialias_taps_by_hand() -> None:
    # 8 -> 4 bilinear (interp_size 2), scale 2: support 2, centres 1, 3, 5, 7:
    # [0, 3), [1, 5), [3, 7), [5, 8) -> 3 + 4 + 4 + 3
    assert antialias_taps(8, 4, 2.0, 2) == 14
    # the same with bicubic (interp_size 4), support 4: [0, 5), [0, 7), [1, 8), [3, 8)
    assert antialias_taps(8, 4, 2.0, 4) == 5 + 7 + 7 + 5
    # upsampling 4 -> 8 keeps support 1: centres 0.25, 0.75, ..., 3.75
    assert antialias_taps(4, 8, 0.5, 2) == 1 + 2 + 2 + 2 + 2 + 2 + 2 + 1


@pytest.mark.parametrize(
    ("mode", "op", "taps_per_dim"),
    [("bilinear", "_upsample_bilinear2d_aa", 14), ("bicubic", "_upsample_bicubic2d_aa", 24)],
)
def test_antialiased_downscale(mode: str, op: str, taps_per_dim: int) -> None:
    x = torch.randn(N, C, 8, 8, requires_grad=True)
    fn = lambda: F.interpolate(x.detach(), scale_factor=0.5, mode=mode, antialias=True)  # noqa: E731
    for row in rows_in_every_mode(fn, f"aten.{op}"):
        # every output of a plane weighs taps_h * taps_w source values, summed separably
        assert row.flops == N * C * taps_per_dim * taps_per_dim * cost("resize_tap")
    counter = count(
        lambda: F.interpolate(x, scale_factor=0.5, mode=mode, antialias=True).sum().backward()
    )
    row = only_row(counter, f"aten.{op}_backward")
    assert row.flops == N * C * taps_per_dim * taps_per_dim * cost("resize_tap")


def test_area_is_adaptive_average_pooling() -> None:
    x = torch.randn(N, C, 6, 6)
    for row in rows_in_every_mode(
        lambda: F.interpolate(x, size=(3, 3), mode="area"), "aten._adaptive_avg_pool2d"
    ):
        assert row.flops == N * C * (36 * cost("pool_add") + 9 * cost("pool_divide"))


def grid_forward(locations: int, outputs: int, axes: int, taps: int, clip: bool = False) -> int:
    """Closed form: coordinates and weights per location, weighted taps per output element."""
    per_axis = cost("grid_sample_coord") + (cost("grid_sample_clip") if clip else 0)
    return locations * (
        axes * per_axis + taps * cost("grid_sample_weight")
    ) + outputs * taps * cost("resize_tap")


def test_grid_sample_2d_modes() -> None:
    x, grid = torch.randn(N, C, 6, 6), torch.rand(N, 4, 5, 2) * 2 - 1
    locations, outputs = N * 4 * 5, N * C * 4 * 5
    cases = [
        ({"mode": "bilinear"}, grid_forward(locations, outputs, 2, 4)),
        ({"mode": "nearest"}, grid_forward(locations, outputs, 2, 0)),
        ({"mode": "bicubic"}, grid_forward(locations, outputs, 2, 16)),
        (
            {"mode": "bilinear", "padding_mode": "border"},
            grid_forward(locations, outputs, 2, 4, True),
        ),
    ]
    for kwargs, expected in cases:
        fn = lambda kwargs=kwargs: F.grid_sample(x, grid, align_corners=False, **kwargs)  # noqa: E731
        for row in rows_in_every_mode(fn, "aten.grid_sampler_2d"):
            assert row.flops == expected, kwargs
            assert row.category == "resize"


def test_grid_sample_backward_both_gradients() -> None:
    x = torch.randn(N, C, 6, 6, requires_grad=True)
    grid = (torch.rand(N, 4, 5, 2) * 2 - 1).requires_grad_(True)
    counter = count(lambda: F.grid_sample(x, grid, align_corners=False).sum().backward())
    locations, outputs = N * 4 * 5, N * C * 4 * 5
    row = only_row(counter, "aten.grid_sampler_2d_backward")
    assert row.flops == (
        grid_forward(locations, 0, 2, 4)  # coordinates and weights recomputed
        + outputs * 4 * cost("resize_tap")  # grad_input: each gradient over its 4 taps
        + outputs * 4 * 2 * cost("grid_sample_grad_coord")  # grad_grid: per tap and axis
        + locations * 2 * cost("grid_sample_coord_backward")
    )
    x.grad = None
    counter = count(lambda: F.grid_sample(x, grid.detach(), align_corners=False).sum().backward())
    row = only_row(counter, "aten.grid_sampler_2d_backward")
    assert row.flops == grid_forward(locations, 0, 2, 4) + outputs * 4 * cost("resize_tap")


def test_grid_sample_3d_and_affine_grid() -> None:
    theta = torch.randn(N, 3, 4, requires_grad=True)
    x = torch.randn(N, C, 4, 4, 4, requires_grad=True)

    def run() -> None:
        grid = F.affine_grid(theta, [N, C, 3, 3, 3], align_corners=False)
        F.grid_sample(x, grid, align_corners=False).sum().backward()

    counter = count(run)
    locations = N * 27
    assert only_row(counter, "aten.grid_sampler_3d").flops == grid_forward(
        locations, locations * C, 3, 8
    )
    row = only_row(counter, "aten.affine_grid_generator")
    # base grid [N, 27, 4] @ theta^T [N, 4, 3]
    assert (row.macs, row.flops) == (N * 27 * 4 * 3, 2 * N * 27 * 4 * 3)
    backward = counter.to_dataframe()
    backward = backward[(backward.phase == "backward") & (backward.op == "aten.bmm")]
    assert backward.macs.sum() == N * 27 * 4 * 3  # its composite backward: one bmm alike


def test_affine_grid_2d_in_every_mode() -> None:
    theta = torch.randn(N, 2, 3)
    fn = lambda: F.affine_grid(theta, [N, C, 5, 4], align_corners=False)  # noqa: E731
    for row in rows_in_every_mode(fn, "aten.affine_grid_generator"):
        assert row.macs == N * 5 * 4 * 3 * 2


def test_cudnn_grid_formulas_by_schema() -> None:
    x, grid = torch.empty(N, C, 6, 6, device="meta"), torch.empty(N, 4, 5, 2, device="meta")
    locations, outputs = N * 20, N * C * 20
    assert resize_formulas.cudnn_grid_sampler((x, grid), {}, None) == (
        grid_forward(locations, outputs, 2, 4),
        0,
    )
    flops, _ = resize_formulas.cudnn_grid_sampler_backward((x, grid, x), {}, None)
    assert flops == (
        grid_forward(locations, 0, 2, 4)
        + outputs * 4 * (cost("resize_tap") + 2 * cost("grid_sample_grad_coord"))
        + locations * 2 * cost("grid_sample_coord_backward")
    )
    theta = torch.empty(N, 2, 3, device="meta")
    macs = N * 5 * 4 * 3 * 2
    assert resize_formulas.cudnn_affine_grid_generator((theta, N, C, 5, 4), {}, None) == (
        2 * macs,
        macs,
    )
    grad = torch.empty(N, 5, 4, 2, device="meta")
    assert resize_formulas.cudnn_affine_grid_generator_backward((grad, N, C, 5, 4), {}, None) == (
        2 * macs,
        macs,
    )


def test_fold_and_unfold() -> None:
    x = torch.randn(N, C, 6, 6, requires_grad=True)
    counter = count(lambda: F.unfold(x, 3, padding=1).sum().backward())
    assert only_row(counter, "aten.im2col").flops == 0
    # col2im: along each dim 6 blocks of 3 taps, 2 of them in the padding: 16 real taps
    assert only_row(counter, "aten.col2im").flops == N * C * 16 * 16 * cost("reduce_add")
    cols = torch.randn(N, C * 4, 9)  # kernel 2, stride 2: 3 x 3 blocks on a 6 x 6 output
    row = only_row(count(lambda: F.fold(cols, (6, 6), 2, stride=2)), "aten.col2im")
    assert row.flops == N * C * 36 * cost("reduce_add")  # no overlap: every pixel once
