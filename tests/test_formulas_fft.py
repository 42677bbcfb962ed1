"""FFT formulas against the radix-2 closed form: ``5 N log2 N`` FLOPs per complex transform of
``N`` points, half for real input or output, plus one multiply per real output value when the
transform is normalised."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import count, only_row
from opcount.formulas.costs import cost
from opcount.formulas.fft import fft_flops


def row_flops(fn: object, op: str) -> int:
    row = only_row(count(fn), op)  # type: ignore[arg-type]
    assert (row["status"], row["category"], row["macs"]) == ("counted", "other", 0)
    return int(row["flops"])


def test_pure_count() -> None:
    assert fft_flops(8) == 5 * 8 * 3
    assert fft_flops(8, transforms=4, real=True) == 4 * (5 * 8 * 3 // 2)
    assert fft_flops(1) == fft_flops(0) == 0
    assert fft_flops(6) == round(5 * 6 * math.log2(6)) == 78  # rounded to the nearest integer
    assert cost("fft") == 5


def test_complex_transform_per_row() -> None:
    x = torch.randn(3, 8, dtype=torch.complex64)
    assert row_flops(lambda: torch.fft.fft(x), "aten._fft_c2c") == 3 * 120


def test_real_input_costs_half() -> None:
    x = torch.randn(3, 8)
    # torch.fft.fft of a real tensor: a real-input transform, both halves written
    assert row_flops(lambda: torch.fft.fft(x), "aten._fft_r2c") == 3 * 60
    assert row_flops(lambda: torch.fft.rfft(x), "aten._fft_r2c") == 3 * 60


@pytest.mark.parametrize(
    ("norm", "scaled"), [("backward", True), ("ortho", True), ("forward", False)]
)
def test_inverse_transform_normalisation(norm: str, scaled: bool) -> None:
    x = torch.randn(2, 8, dtype=torch.complex64)
    # the inverse is scaled by 1/n ("backward") or 1/sqrt(n) ("ortho"): 2 real multiplies per
    # complex output; "forward" puts the whole scale on the forward transform
    expected = 2 * 120 + (2 * 16 * cost("mul") if scaled else 0)
    assert row_flops(lambda: torch.fft.ifft(x, norm=norm), "aten._fft_c2c") == expected


def test_real_output_transform() -> None:
    spectrum = torch.randn(2, 5, dtype=torch.complex64)  # one-sided spectrum of 8 points
    # irfft: real output of 8 points, scaled by 1/8 per real output value
    expected = 2 * 60 + 2 * 8 * cost("mul")
    assert row_flops(lambda: torch.fft.irfft(spectrum, n=8), "aten._fft_c2r") == expected


def test_multidimensional_transform_counts_all_points() -> None:
    x = torch.randn(2, 4, 8, dtype=torch.complex64)
    # N = 4 * 8 = 32 points per transform: 5 * 32 * log2(32)
    assert row_flops(lambda: torch.fft.fft2(x), "aten._fft_c2c") == 2 * 5 * 32 * 5


def test_cost_override_scales_the_count() -> None:
    x = torch.randn(8, dtype=torch.complex64)
    row = only_row(count(lambda: torch.fft.fft(x), costs={"fft": 4}), "aten._fft_c2c")
    assert row["flops"] == 4 * 8 * 3
