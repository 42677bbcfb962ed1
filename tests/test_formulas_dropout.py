"""Dropout and random fills: random draws cost the 'random' entry (0 FLOPs by default), dropout
its mask multiplies; all counted, never unsupported."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers import count, only_row, op_rows
from opcount.formulas.costs import cost

N = 4 * 6


def test_native_dropout_forward_and_backward() -> None:
    x = torch.randn(4, 6, requires_grad=True)
    counter = count(lambda: torch.native_dropout(x, 0.5, True)[0].sum().backward())
    row = only_row(counter, "aten.native_dropout")
    assert row.flops == N * (cost("random") + cost("dropout"))  # draw, x * mask * 1/(1-p)
    assert row.category == "elementwise"
    row = only_row(counter, "aten.native_dropout_backward")
    assert (row.phase, row.flops) == ("backward", N * cost("dropout_backward"))  # dy*mask*s


def test_native_dropout_in_evaluation_is_a_copy() -> None:
    x = torch.randn(4, 6)
    assert (
        only_row(count(lambda: torch.native_dropout(x, 0.5, False)), "aten.native_dropout").flops
        == 0
    )


def test_cpu_dropout_decomposes_to_the_same_total() -> None:
    # F.dropout on CPU runs bernoulli_ (the draw), div_ (mask / (1 - p)) and mul (x * mask):
    # the same count as native_dropout's draw and two multiplies
    x = torch.randn(4, 6)
    counter = count(lambda: F.dropout(x, 0.5, training=True))
    assert counter.total_flops == N * (cost("random") + cost("dropout"))
    assert only_row(counter, "aten.bernoulli_").category == "other"


def test_dropout_in_evaluation_runs_nothing() -> None:
    x = torch.randn(4, 6)
    assert count(lambda: F.dropout(x, 0.5, training=False)).to_dataframe().empty


def test_random_fills_are_counted_other_with_bytes() -> None:
    counter = count(
        lambda: (
            torch.rand(3),
            torch.randn(3),
            torch.randint(0, 5, (3,)),
            torch.empty(4).uniform_(),
            torch.empty(4).normal_(),
            torch.empty(4).bernoulli_(0.3),
            torch.randperm(6),
            torch.rand_like(torch.empty(2, 2)),
        )
    )
    frame = counter.to_dataframe()
    random = frame[frame.category == "other"]
    assert set(random.op) == {
        "aten.rand",
        "aten.randn",
        "aten.randint",
        "aten.uniform_",
        "aten.normal_",
        "aten.bernoulli_",
        "aten.randperm",
        "aten.rand_like",
    }
    assert (random.status == "counted").all()
    assert (random.flops == 0).all()
    assert only_row(counter, "aten.randperm").bytes_written == 6 * 8  # int64


def test_random_cost_can_be_set() -> None:
    rows = op_rows(count(lambda: torch.randn(5, 2), costs={"random": 3}), "aten.randn")
    assert list(rows.flops) == [10 * 3]
