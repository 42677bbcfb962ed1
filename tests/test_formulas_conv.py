"""Convolution formulas against closed forms: 1d/2d/3d, strided, dilated, grouped, transposed,
and convolution_backward with every output mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row, op_rows
from opcount.formulas import conv as conv_formulas
from opcount.formulas.conv import conv_macs


def out_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def test_conv2d_closed_form() -> None:
    n, c_in, c_out, h, w, k = 2, 3, 8, 11, 9, 3
    x, weight, bias = torch.randn(n, c_in, h, w), torch.randn(c_out, c_in, k, k), torch.randn(c_out)
    row = only_row(
        count(lambda: F.conv2d(x, weight, bias, stride=2, padding=1)), "aten.convolution"
    )
    ho, wo = out_size(h, k, 2, 1), out_size(w, k, 2, 1)
    macs = n * c_out * ho * wo * c_in * k * k
    assert row.macs == macs
    assert row.flops == 2 * macs + n * c_out * ho * wo  # bias: one add per output
    assert row.category == "conv"


def test_conv1d_and_conv3d_dilated_without_bias() -> None:
    x1, w1 = torch.randn(2, 4, 20), torch.randn(6, 4, 5)
    row = only_row(count(lambda: F.conv1d(x1, w1, dilation=2)), "aten.convolution")
    lo = out_size(20, 5, dilation=2)
    assert (row.macs, row.flops) == (2 * 6 * lo * 4 * 5, 2 * 2 * 6 * lo * 4 * 5)
    x3, w3 = torch.randn(1, 2, 5, 6, 7), torch.randn(3, 2, 2, 3, 3)
    row = only_row(count(lambda: F.conv3d(x3, w3)), "aten.convolution")
    assert row.macs == 3 * (5 - 1) * (6 - 2) * (7 - 2) * 2 * 2 * 3 * 3


def test_grouped_and_depthwise() -> None:
    x = torch.randn(1, 8, 10, 10)
    grouped = torch.randn(12, 8 // 4, 3, 3)  # groups=4: each output sees 2 input channels
    row = only_row(count(lambda: F.conv2d(x, grouped, groups=4)), "aten.convolution")
    assert row.macs == 12 * 8 * 8 * (8 // 4) * 3 * 3
    depthwise = torch.randn(8, 1, 3, 3)
    row = only_row(count(lambda: F.conv2d(x, depthwise, groups=8, padding=1)), "aten.convolution")
    assert row.macs == 8 * 10 * 10 * 1 * 3 * 3


def test_transposed_conv_scatters_each_input_element() -> None:
    n, c_in, c_out, h, k, s = 2, 6, 4, 5, 3, 2
    x, weight = torch.randn(n, c_in, h, h), torch.randn(c_in, c_out // 2, k, k)
    bias = torch.randn(c_out)
    fn = lambda: F.conv_transpose2d(x, weight, bias, stride=s, groups=2)  # noqa: E731
    row = only_row(count(fn), "aten.convolution")
    ho = (h - 1) * s + k
    macs = n * c_in * h * h * (c_out // 2) * k * k  # every input element -> c_out/g * k * k
    assert row.macs == macs
    assert row.flops == 2 * macs + n * c_out * ho * ho


@pytest.mark.parametrize(
    ("input_grad", "weight_grad", "bias_grad"),
    [(True, True, True), (False, True, True), (True, False, False), (False, True, False)],
)
def test_convolution_backward_honours_output_mask(
    input_grad: bool, weight_grad: bool, bias_grad: bool
) -> None:
    n, c_in, c_out, h, k = 2, 3, 5, 8, 3
    x = torch.randn(n, c_in, h, h, requires_grad=input_grad)
    conv = torch.nn.Conv2d(c_in, c_out, k, bias=True)
    conv.weight.requires_grad_(weight_grad)
    assert conv.bias is not None
    conv.bias.requires_grad_(bias_grad)
    counter = count(lambda: conv(x).sum().backward())
    row = only_row(counter, "aten.convolution_backward")
    forward = n * c_out * (h - 2) * (h - 2) * c_in * k * k
    assert row.phase == "backward"
    assert row.macs == forward * (int(input_grad) + int(weight_grad))
    grad_bias = n * c_out * (h - 2) * (h - 2) if bias_grad else 0  # sum of grad_output
    assert row.flops == 2 * row.macs + grad_bias


def test_conv_macs_pure_function() -> None:
    assert conv_macs((1, 3, 8, 8), (4, 3, 3, 3), (1, 4, 6, 6), transposed=False) == 4 * 36 * 27
    assert conv_macs((1, 4, 6, 6), (4, 3, 3, 3), (1, 3, 8, 8), transposed=True) == 4 * 36 * 27


def test_backend_ops_on_meta_tensors() -> None:
    # backend variants reach a dispatch mode only when called directly; their formulas agree
    x = torch.empty(2, 4, 9, 9, device="meta")
    weight = torch.empty(6, 4, 3, 3, device="meta")
    bias = torch.empty(6, device="meta")
    out = torch.empty(2, 6, 7, 7, device="meta")
    macs = 2 * 6 * 7 * 7 * 4 * 3 * 3
    # mkldnn_convolution(self, weight, bias, padding, stride, dilation, groups)
    assert conv_formulas.backend_convolution(
        (x, weight, bias, [0, 0], [1, 1], [1, 1], 1), {}, out
    ) == (
        2 * macs + 2 * 6 * 7 * 7,
        macs,
    )
    # _slow_conv2d_forward(self, weight, kernel_size, bias, stride, padding)
    assert conv_formulas.backend_convolution(
        (x, weight, [3, 3], None, [1, 1], [0, 0]), {}, out
    ) == (
        2 * macs,
        macs,
    )
    # cudnn_convolution(self, weight, padding, stride, dilation, groups, ...): no bias
    assert (
        conv_formulas.cudnn_convolution((x, weight, [0, 0], [1, 1], [1, 1], 1), {}, out)[1] == macs
    )


def test_conv_counts_equal_across_grad_modes() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(1, 3, 16, 16)
    totals = set()
    for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with mode():
            counter = count(lambda: conv(x))
        totals.add((counter.total_macs, counter.total_flops))
        assert len(op_rows(counter, "aten.convolution")) == 1
    assert totals == {(8 * 16 * 16 * 27, 2 * 8 * 16 * 16 * 27 + 8 * 16 * 16)}
