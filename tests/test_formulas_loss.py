"""Softmax, log-softmax and loss formulas against closed forms, forward and backward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row
from opcount.formulas.costs import cost

B, C = 4, 5
N = B * C
ADD, MUL, DIV, CMP, NEG, T = (
    cost(n) for n in ("add", "mul", "div", "compare", "neg", "transcendental")
)
RED = cost("loss_reduction")


def _by_op(fn: Callable[[], Any]) -> dict[tuple[str, str], int]:
    """(op, phase) -> flops of every counted row of ``fn``; fails if an op ran twice."""
    frame = count(fn).to_dataframe()
    frame = frame[frame.status == "counted"]
    assert not frame.duplicated(["op", "phase"]).any(), list(frame.op)
    return {(op, phase): flops for op, phase, flops in zip(frame.op, frame.phase, frame.flops)}


def test_softmax_forward_and_backward() -> None:
    x = torch.randn(B, C, requires_grad=True)
    rows = _by_op(lambda: (F.softmax(x, -1) * torch.arange(C)).sum().backward())
    assert rows[("aten._softmax", "forward")] == N * cost("softmax")
    assert rows[("aten._softmax_backward_data", "backward")] == N * cost("softmax_backward")


def test_log_softmax_counts_one_log_per_row() -> None:
    x = torch.randn(B, 3, C, requires_grad=True)
    rows = _by_op(lambda: (F.log_softmax(x, 1) * 2).sum().backward())
    # rows over dim 1 (size 3): B * C of them
    assert rows[("aten._log_softmax", "forward")] == 3 * N * cost("log_softmax") + N * T
    assert rows[("aten._log_softmax_backward_data", "backward")] == 3 * N * cost(
        "log_softmax_backward"
    )


def test_safe_and_masked_softmax() -> None:
    x = torch.randn(B, C)
    row = only_row(count(lambda: torch.ops.aten._safe_softmax(x, -1)), "aten._safe_softmax")
    assert row.flops == N * (cost("softmax") + cost("safe_softmax"))
    mask = torch.zeros(B, C, dtype=torch.bool)
    row = only_row(count(lambda: torch._masked_softmax(x, mask, 1, 0)), "aten._masked_softmax")
    assert row.flops == N * (cost("select") + cost("softmax"))


def test_cross_entropy_is_log_softmax_and_nll_loss() -> None:
    x, target = torch.randn(B, C, requires_grad=True), torch.randint(0, C, (B,))
    rows = _by_op(lambda: F.cross_entropy(x, target).backward())
    assert rows[("aten._log_softmax", "forward")] == N * cost("log_softmax") + B * T
    # per target: ignore_index compare, add into the sum; 'mean' divides once
    assert rows[("aten.nll_loss_forward", "forward")] == B * (CMP + RED) + DIV
    # per target: compare, write -dy; 'mean' divides dy by the total weight once
    assert rows[("aten.nll_loss_backward", "backward")] == B * (CMP + NEG) + DIV
    assert rows[("aten._log_softmax_backward_data", "backward")] == N * cost("log_softmax_backward")


@pytest.mark.parametrize(
    ("reduction", "weighted", "expected"),
    [
        ("none", False, B * (CMP + NEG)),
        ("sum", False, B * (CMP + RED)),
        ("mean", True, B * (CMP + RED + MUL + ADD) + DIV),  # w * x and total_weight += w
    ],
)
def test_nll_loss_options(reduction: str, weighted: bool, expected: int) -> None:
    x, target = torch.randn(B, C), torch.randint(0, C, (B,))
    weight = torch.rand(C) if weighted else None
    fn = lambda: F.nll_loss(x, target, weight=weight, reduction=reduction)  # noqa: E731
    assert only_row(count(fn), "aten.nll_loss_forward").flops == expected


def test_nll_loss2d_counts_every_target_pixel() -> None:
    x = torch.randn(2, C, 3, 3, requires_grad=True)
    target = torch.randint(0, C, (2, 3, 3))
    rows = _by_op(lambda: F.nll_loss(x, target).backward())
    assert rows[("aten.nll_loss2d_forward", "forward")] == 18 * (CMP + RED) + DIV
    assert rows[("aten.nll_loss2d_backward", "backward")] == 18 * (CMP + NEG) + DIV


@pytest.mark.parametrize(
    ("fn", "op", "entry", "backward_op", "backward_entry"),
    [
        (F.mse_loss, "aten.mse_loss", "mse_loss", "aten.mse_loss_backward", "mse_loss_backward"),
        (
            F.smooth_l1_loss,
            "aten.smooth_l1_loss",
            "smooth_l1_loss",
            "aten.smooth_l1_loss_backward",
            "smooth_l1_loss_backward",
        ),
        (
            F.huber_loss,
            "aten.huber_loss",
            "huber_loss",
            "aten.huber_loss_backward",
            "huber_loss_backward",
        ),
        (
            F.soft_margin_loss,
            "aten.soft_margin_loss",
            "soft_margin_loss",
            "aten.soft_margin_loss_backward",
            "soft_margin_loss_backward",
        ),
    ],
)
def test_elementwise_losses_mean_reduction(
    fn: Callable[..., torch.Tensor], op: str, entry: str, backward_op: str, backward_entry: str
) -> None:
    x, y = torch.randn(B, C, requires_grad=True), torch.randn(B, C)
    rows = _by_op(lambda: fn(x, y).backward())
    assert rows[(op, "forward")] == N * (cost(entry) + RED) + DIV  # loss, sum, one divide
    assert rows[(backward_op, "backward")] == N * cost(backward_entry)


@pytest.mark.parametrize(("reduction", "extra"), [("none", 0), ("sum", N * RED)])
def test_loss_reduction_none_and_sum(reduction: str, extra: int) -> None:
    x, y = torch.randn(B, C), torch.randn(B, C)
    row = only_row(count(lambda: F.mse_loss(x, y, reduction=reduction)), "aten.mse_loss")
    assert row.flops == N * cost("mse_loss") + extra


def test_mse_loss_broadcasts_target() -> None:
    x, y = torch.randn(B, C), torch.randn(C)
    row = only_row(count(lambda: F.mse_loss(x, y.expand(B, C))), "aten.mse_loss")
    assert row.flops == N * (cost("mse_loss") + RED) + DIV


def test_binary_cross_entropy_with_weight() -> None:
    p, y, w = torch.rand(B, C, requires_grad=True), torch.rand(B, C), torch.rand(B, C)
    rows = _by_op(lambda: F.binary_cross_entropy(p, y, weight=w).backward())
    per = cost("binary_cross_entropy") + MUL  # the weight multiplies
    assert rows[("aten.binary_cross_entropy", "forward")] == N * (per + RED) + DIV
    # backward: times w, and 'mean' divides every element by n
    per_backward = cost("binary_cross_entropy_backward") + MUL + DIV
    assert rows[("aten.binary_cross_entropy_backward", "backward")] == N * per_backward


def test_binary_cross_entropy_with_logits_and_pos_weight() -> None:
    x, y = torch.randn(B, C), torch.rand(B, C)
    row = only_row(
        count(lambda: F.binary_cross_entropy_with_logits(x, y)),
        "aten.binary_cross_entropy_with_logits",
    )
    assert row.flops == N * (cost("bce_with_logits") + RED) + DIV
    row = only_row(
        count(lambda: F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.ones(C))),
        "aten.binary_cross_entropy_with_logits",
    )
    # ((pw - 1) y + 1) * log_sigmoid(x): subtract, multiply, add, multiply more per element
    assert row.flops == N * (cost("bce_with_logits") + 3 * MUL + ADD + RED) + DIV


def test_multi_margin_loss() -> None:
    x, target = torch.randn(B, C, requires_grad=True), torch.randint(0, C, (B,))
    rows = _by_op(lambda: F.multi_margin_loss(x, target).backward())
    # per element: margin - x[y] + x[i] (2 adds), compare, add into the sample's sum;
    # per sample: divide by C, add into the batch sum; 'mean' divides once
    assert (
        rows[("aten.multi_margin_loss", "forward")] == N * (3 * ADD + CMP) + B * (DIV + RED) + DIV
    )
    assert rows[("aten.multi_margin_loss_backward", "backward")] == N * (3 * ADD + CMP + MUL)


def test_composite_losses_leave_nothing_unsupported() -> None:
    x, y = torch.randn(B, C, requires_grad=True), torch.rand(B, C)
    for fn in (
        lambda: F.l1_loss(x, y),
        lambda: F.kl_div(F.log_softmax(x, -1), y, reduction="batchmean"),
        lambda: F.poisson_nll_loss(x, y),
        lambda: F.cosine_embedding_loss(x, y, torch.ones(B)),
    ):
        counter = count(lambda fn=fn: fn().backward())
        assert counter.unsupported_ops().empty
        assert counter.total_flops > 0
