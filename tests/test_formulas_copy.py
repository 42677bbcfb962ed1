"""Copies, fills and data movement: counted, category copy, 0 FLOPs, bytes measured; and the
backward of reflection/replication padding, which adds every grad_output element."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row
from opcount.formulas.costs import cost

X_SHAPE = (2, 3, 4, 5)
X_BYTES = 2 * 3 * 4 * 5 * 4  # float32


@pytest.mark.parametrize(
    ("fn", "op", "bytes_written"),
    [
        (lambda x: x.to(torch.float64), "aten._to_copy", 2 * X_BYTES),
        (lambda x: x.clone(), "aten.clone", X_BYTES),
        (lambda x: x.transpose(1, 2).contiguous(), "aten.clone", X_BYTES),
        (lambda x: torch.cat([x, x], 1), "aten.cat", 2 * X_BYTES),
        (lambda x: torch.stack([x, x]), "aten.stack", 2 * X_BYTES),
        (lambda x: x.repeat(2, 1, 1, 1), "aten.repeat", 2 * X_BYTES),
        (lambda x: x.flip(1), "aten.flip", X_BYTES),
        (lambda x: x.roll(1, 2), "aten.roll", X_BYTES),
        (lambda x: x.tril(), "aten.tril", X_BYTES),
        (lambda x: x.triu(1), "aten.triu", X_BYTES),
        (lambda x: F.pad(x, (1, 1, 2, 2)), "aten.constant_pad_nd", 2 * 3 * 8 * 7 * 4),
        (lambda x: F.pad(x, (1, 1, 2, 2), mode="reflect"), "aten.reflection_pad2d", 1344),
        (lambda x: F.pad(x, (1, 1, 2, 2), mode="replicate"), "aten.replication_pad2d", 1344),
        (lambda x: torch.zeros_like(x), "aten.zeros_like", X_BYTES),
        (lambda x: torch.ones_like(x), "aten.ones_like", X_BYTES),
        (lambda x: torch.full_like(x, 2.0), "aten.full_like", X_BYTES),
        (lambda x: x.new_zeros(3), "aten.new_zeros", 12),
        (lambda x: x.new_full((3,), 1.0), "aten.new_full", 12),
        (lambda x: x.clone().fill_(1.0), "aten.fill_", X_BYTES),
        (lambda x: x.clone().zero_(), "aten.zero_", X_BYTES),
        (lambda x: torch.zeros(3, 4), "aten.zeros", 48),
        (lambda x: torch.ones(3, 4), "aten.ones", 48),
        (lambda x: torch.full((3,), 2.0), "aten.full", 12),
        (lambda x: torch.arange(10), "aten.arange", 80),  # int64
        (lambda x: torch.linspace(0, 1, 7), "aten.linspace", 28),
        (lambda x: torch.eye(3), "aten.eye", 36),
        (lambda x: F.pixel_shuffle(x.reshape(1, 24, 1, 5), 2), "aten.pixel_shuffle", X_BYTES),
        (lambda x: torch.masked_select(x, x > 100), "aten.masked_select", 0),  # nothing selected
    ],
)
def test_copies_are_counted_with_zero_flops_and_their_bytes(
    fn: Callable[[torch.Tensor], Any], op: str, bytes_written: int
) -> None:
    x = torch.randn(*X_SHAPE)
    row = only_row(count(lambda: fn(x)), op)
    assert (row.status, row.category, row.flops, row.macs) == ("counted", "copy", 0, 0)
    assert row.bytes_written == bytes_written


@pytest.mark.parametrize(
    ("fn", "backward_op"),
    [
        (lambda x: x[0], "aten.select_backward"),
        (lambda x: x.narrow(1, 1, 2), "aten.slice_backward"),  # x[:, 1:] slices twice on old torch
        (lambda x: x.diagonal(0, 2, 3), "aten.diagonal_backward"),
    ],
)
def test_view_backwards_are_zero_flop_copies(
    fn: Callable[[torch.Tensor], torch.Tensor], backward_op: str
) -> None:
    x = torch.randn(*X_SHAPE, requires_grad=True)
    row = only_row(count(lambda: fn(x).sum().backward()), backward_op)
    assert (row.phase, row.category, row.flops) == ("backward", "copy", 0)
    assert row.bytes_written == X_BYTES  # a zero-filled gradient of x's shape


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_backward_adds_every_grad_output_element(mode: str) -> None:
    x = torch.randn(*X_SHAPE, requires_grad=True)
    counter = count(lambda: F.pad(x, (1, 1, 2, 2), mode=mode).sum().backward())
    rows = counter.to_dataframe()
    row = rows[rows.op.str.endswith("_pad2d_backward")].iloc[0]
    # grad_output is [2, 3, 4 + 4, 5 + 2]: each element added into grad_input once
    assert row.flops == 2 * 3 * 8 * 7 * cost("add")


def test_constant_pad_backward_is_a_negative_pad() -> None:
    x = torch.randn(*X_SHAPE, requires_grad=True)
    frame = count(lambda: F.pad(x, (1, 1)).sum().backward()).to_dataframe()
    pads = frame[frame.op == "aten.constant_pad_nd"]
    assert list(zip(pads.phase, pads.flops)) == [("forward", 0), ("backward", 0)]
