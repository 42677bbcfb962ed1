"""Pooling formulas against closed forms: max/avg 1d/2d/3d with padding, adaptive, fractional,
unpooling, forward in every grad mode and backward."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row, rows_in_every_mode
from opcount.formulas import pool as pool_formulas
from opcount.formulas.costs import cost
from opcount.formulas.pool import adaptive_reads, window_reads

N, C = 2, 3


def test_window_reads_clips_padding() -> None:
    # size 5, kernel 3, stride 2, padding 1 -> outputs at -1..1, 1..3, 3..5: 2 + 3 + 2 reads
    assert window_reads(5, 3, 3, 2, 1, 1) == 7
    # dilation 2, kernel 2, no padding, size 5: windows {0,2}, {1,3}, {2,4}
    assert window_reads(5, 3, 2, 1, 0, 2) == 6
    # adaptive 5 -> 3: [0, 2), [1, 4), [3, 5)
    assert adaptive_reads(5, 3) == 2 + 3 + 2


def test_max_pool2d_in_every_mode() -> None:
    x = torch.randn(N, C, 8, 8)
    for row in rows_in_every_mode(lambda: F.max_pool2d(x, 2), "aten.max_pool2d_with_indices"):
        # 4x4 outputs per plane, each compares 2x2 elements
        assert row.flops == N * C * 4 * 4 * 2 * 2 * cost("pool_max")
        assert (row.macs, row.category) == (0, "pool")


def test_max_pool2d_padding_reads_only_real_elements() -> None:
    x = torch.randn(N, C, 5, 5)
    row = only_row(count(lambda: F.max_pool2d(x, 3, 2, 1)), "aten.max_pool2d_with_indices")
    # per dim: windows over [-1, 1], [1, 3], [3, 5] read 2 + 3 + 2 = 7 real elements
    assert row.flops == N * C * 7 * 7 * cost("pool_max")
    row = only_row(
        count(lambda: F.max_pool2d(x, 2, 2, ceil_mode=True)), "aten.max_pool2d_with_indices"
    )
    # ceil_mode: windows [0, 1], [2, 3], [4] -> 2 + 2 + 1
    assert row.flops == N * C * 5 * 5 * cost("pool_max")


def test_max_pool1d_and_3d() -> None:
    x1 = torch.randn(N, C, 9)
    for row in rows_in_every_mode(lambda: F.max_pool1d(x1, 3), "aten.max_pool2d_with_indices"):
        assert row.flops == N * C * 3 * 3 * cost("pool_max")  # 1d runs as 2d with height 1
    x3 = torch.randn(N, C, 4, 4, 4)
    for row in rows_in_every_mode(lambda: F.max_pool3d(x3, 2), "aten.max_pool3d_with_indices"):
        assert row.flops == N * C * 8 * 8 * cost("pool_max")


def test_max_pool_backward_adds_each_gradient_once() -> None:
    x = torch.randn(N, C, 8, 8, requires_grad=True)
    counter = count(lambda: F.max_pool2d(x, 2).sum().backward())
    row = only_row(counter, "aten.max_pool2d_with_indices_backward")
    assert row.flops == N * C * 4 * 4 * cost("pool_max_backward")
    assert row.phase == "backward"
    x3 = torch.randn(N, C, 4, 4, 4, requires_grad=True)
    row = only_row(
        count(lambda: F.max_pool3d(x3, 2).sum().backward()), "aten.max_pool3d_with_indices_backward"
    )
    assert row.flops == N * C * 8 * cost("pool_max_backward")


def test_avg_pool_padding_and_backward() -> None:
    x = torch.randn(N, C, 5, 5, requires_grad=True)
    counter = count(lambda: F.avg_pool2d(x, 3, 2, 1).sum().backward())
    # 3x3 outputs: 7 x 7 real elements added, one divide per output (padding never added)
    expected = N * C * (7 * 7 * cost("pool_add") + 3 * 3 * cost("pool_divide"))
    assert only_row(counter, "aten.avg_pool2d").flops == expected
    assert only_row(counter, "aten.avg_pool2d_backward").flops == expected
    x3 = torch.randn(N, C, 4, 4, 4)
    for row in rows_in_every_mode(lambda: F.avg_pool3d(x3, 2), "aten.avg_pool3d"):
        assert row.flops == N * C * (64 * cost("pool_add") + 8 * cost("pool_divide"))
    x1 = torch.randn(N, C, 8)
    for row in rows_in_every_mode(lambda: F.avg_pool1d(x1, 2), "aten.avg_pool2d"):
        assert row.flops == N * C * (8 * cost("pool_add") + 4 * cost("pool_divide"))


def test_adaptive_avg_pool() -> None:
    x = torch.randn(N, C, 5, 7, requires_grad=True)
    counter = count(lambda: F.adaptive_avg_pool2d(x, (3, 2)).sum().backward())
    # rows 5 -> 3: [0,2) [1,4) [3,5) = 7; cols 7 -> 2: [0,4) [3,7) = 8
    expected = N * C * (7 * 8 * cost("pool_add") + 3 * 2 * cost("pool_divide"))
    assert only_row(counter, "aten._adaptive_avg_pool2d").flops == expected
    assert only_row(counter, "aten._adaptive_avg_pool2d_backward").flops == expected
    for row in rows_in_every_mode(
        lambda: F.adaptive_avg_pool2d(x.detach(), (3, 2)), "aten._adaptive_avg_pool2d"
    ):
        assert row.flops == expected
    x3 = torch.randn(N, C, 4, 4, 4, requires_grad=True)
    counter = count(lambda: F.adaptive_avg_pool3d(x3, 2).sum().backward())
    expected = N * C * (64 * cost("pool_add") + 8 * cost("pool_divide"))
    assert only_row(counter, "aten._adaptive_avg_pool3d").flops == expected
    assert only_row(counter, "aten._adaptive_avg_pool3d_backward").flops == expected


def test_adaptive_max_pool_and_backward() -> None:
    x = torch.randn(N, C, 5, 7, requires_grad=True)
    counter = count(lambda: F.adaptive_max_pool2d(x, (3, 2)).sum().backward())
    assert only_row(counter, "aten.adaptive_max_pool2d").flops == N * C * 7 * 8 * cost("pool_max")
    row = only_row(counter, "aten.adaptive_max_pool2d_backward")
    assert row.flops == N * C * 3 * 2 * cost("pool_max_backward")
    x3 = torch.randn(N, C, 4, 4, 4)
    row = only_row(count(lambda: F.adaptive_max_pool3d(x3, 2)), "aten.adaptive_max_pool3d")
    assert row.flops == N * C * 64 * cost("pool_max")
    x1 = torch.randn(N, C, 9)
    for row in rows_in_every_mode(lambda: F.adaptive_max_pool1d(x1, 3), "aten.adaptive_max_pool2d"):
        assert row.flops == N * C * 9 * cost("pool_max")


def test_fractional_max_pool() -> None:
    x = torch.randn(N, C, 8, 8, requires_grad=True)
    counter = count(lambda: F.fractional_max_pool2d(x, 2, output_size=3).sum().backward())
    assert only_row(counter, "aten.fractional_max_pool2d").flops == N * C * 9 * 4 * cost("pool_max")
    assert only_row(counter, "aten.fractional_max_pool2d_backward").flops == N * C * 9 * cost(
        "pool_max_backward"
    )
    x3 = torch.randn(N, C, 6, 6, 6)
    row = only_row(
        count(lambda: F.fractional_max_pool3d(x3, 2, output_size=2)), "aten.fractional_max_pool3d"
    )
    assert row.flops == N * C * 8 * 8 * cost("pool_max")


def test_max_unpool_moves_data() -> None:
    x = torch.randn(N, C, 4, 4, requires_grad=True)

    def run() -> None:
        pooled, indices = F.max_pool2d(x, 2, return_indices=True)
        F.max_unpool2d(pooled, indices, 2).sum().backward()

    counter = count(run)
    frame = counter.to_dataframe()
    row = only_row(counter, "aten.max_unpool2d")
    assert (row.flops, row.category, row.status) == (0, "pool", "counted")
    assert (frame.status != "unsupported").all()


@pytest.mark.parametrize("fn", [pool_formulas.max_pool2d, pool_formulas.max_pool3d])
def test_mkldnn_max_pool_schema(fn: Any) -> None:
    nd = 2 if fn is pool_formulas.max_pool2d else 3
    x = torch.empty(N, C, *([6] * nd), device="meta")
    out = torch.empty(N, C, *([3] * nd), device="meta")
    # (self, kernel_size, stride, padding, dilation, ceil_mode): a single int applies to every dim
    assert fn((x, [2], [], [0], [1], False), {}, out) == (N * C * 6**nd * cost("pool_max"), 0)


def test_max_pool2d_backward_without_indices() -> None:
    grad, x = torch.empty(N, C, 3, 3, device="meta"), torch.empty(N, C, 6, 6, device="meta")
    flops, _ = pool_formulas.max_pool2d_backward(
        (grad, x, [2, 2], [2, 2], [0], [1], False), {}, None
    )
    # argmax found again (a compare per element read), the gradient added at it
    assert flops == N * C * (36 * cost("pool_max") + 9 * cost("pool_max_backward"))


def _window_reads_loop(size: int, out: int, kernel: int, stride: int, pad: int, dil: int) -> int:
    """The reference: visit every output and kernel tap (the loop ``window_reads`` replaced)."""
    reads = 0
    for o in range(out):
        start = o * stride - pad
        for k in range(kernel):
            if 0 <= start + k * dil < size:
                reads += 1
    return reads


def test_window_reads_closed_form_matches_the_loop() -> None:
    # every small case, invalid ones (negative pads, dilations, strides, sizes) included
    for size in range(0, 9):
        for out in range(-1, 10):
            for kernel in range(-1, 6):
                for stride in range(-1, 5):
                    for pad in range(-3, 5):
                        for dil in range(-2, 4):
                            args = (size, out, kernel, stride, pad, dil)
                            assert window_reads(*args) == _window_reads_loop(*args), args


def _pool_reads_loop(
    x_shape: Any, out_shape: Any, nd: int, kernel: Any, stride: Any, padding: Any, dil: Any
) -> int:
    """The reference ``pool_reads``: leading dims times the per-dim loops."""
    expand = pool_formulas._expand
    kernel_l = expand(kernel, nd, 1)
    stride_l = [s or k for s, k in zip(expand(stride, nd, 0), kernel_l)]
    pad_l, dil_l = expand(padding, nd, 0), expand(dil, nd, 1)
    reads = 1
    for size in x_shape[: len(x_shape) - nd]:
        reads *= int(size)
    for d in range(nd):
        size, out = x_shape[len(x_shape) - nd + d], out_shape[len(out_shape) - nd + d]
        reads *= _window_reads_loop(size, out, kernel_l[d], stride_l[d], pad_l[d], dil_l[d])
    return reads


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_formula_matches_the_loop_on_real_outputs(ceil_mode: bool) -> None:
    # the formula on real tensors over a grid of shapes, kernels, strides, paddings, dilations
    for h, w in [(1, 1), (5, 7), (8, 8), (13, 6), (56, 56)]:
        x = torch.zeros(2, 3, h, w)
        for kernel in [(1, 1), (2, 3), (3, 3), (4, 2)]:
            for stride in [[], (1, 1), (2, 2), (3, 1)]:
                for padding in [(0, 0), (1, 0), (1, 1), (2, 1)]:
                    for dilation in [(1, 1), (2, 1), (2, 2)]:
                        if any(p > k // 2 for p, k in zip(padding, kernel)):
                            continue  # aten: pad at most half the kernel
                        args = (x, list(kernel), list(stride), list(padding), list(dilation))
                        try:
                            out = torch.ops.aten.max_pool2d_with_indices(*args, ceil_mode)
                        except RuntimeError:
                            continue  # output too small for these sizes
                        flops, _ = pool_formulas.max_pool2d((*args, ceil_mode), {}, out)
                        reads = _pool_reads_loop(
                            x.shape, out[0].shape, 2, kernel, stride, padding, dilation
                        )
                        assert flops == reads * cost("pool_max"), (x.shape, args[1:])
