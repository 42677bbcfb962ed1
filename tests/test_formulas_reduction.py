"""Reduction, scan, sort and selection formulas against closed forms, in every grad mode."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from helpers import count, only_row, rows_in_every_mode
from opcount.formulas.costs import cost
from opcount.formulas.reduction import ceil_log2

R, K = 4, 6  # x is [R, K]
NUMEL = R * K


@pytest.mark.parametrize(
    ("fn", "op", "expected"),
    [
        (lambda x: x.sum(), "aten.sum", NUMEL * cost("reduce_add")),
        (lambda x: x.sum(1), "aten.sum", NUMEL * cost("reduce_add")),
        # one add per element, one divide per output
        (lambda x: x.mean(), "aten.mean", NUMEL * cost("reduce_add") + cost("reduce_divide")),
        (
            lambda x: x.mean(1, keepdim=True),
            "aten.mean",
            NUMEL * cost("reduce_add") + R * cost("reduce_divide"),
        ),
        (
            lambda x: x.nansum(),
            "aten.nansum",
            NUMEL * (cost("reduce_nan_test") + cost("reduce_add")),
        ),
        (lambda x: x.prod(1), "aten.prod", NUMEL * cost("reduce_mul")),
        (lambda x: x.amax(1), "aten.amax", NUMEL * cost("reduce_compare")),
        (lambda x: x.amin(), "aten.amin", NUMEL * cost("reduce_compare")),
        (lambda x: x.max(), "aten.max", NUMEL * cost("reduce_compare")),
        (lambda x: x.min(1)[0], "aten.min", NUMEL * cost("reduce_compare")),
        (lambda x: x.argmax(1), "aten.argmax", NUMEL * cost("reduce_compare")),
        (lambda x: x.argmin(), "aten.argmin", NUMEL * cost("reduce_compare")),
        (lambda x: torch.aminmax(x), "aten.aminmax", 2 * NUMEL * cost("reduce_compare")),
        (
            lambda x: torch.count_nonzero(x, 1),
            "aten.count_nonzero",
            NUMEL * (cost("reduce_compare") + cost("reduce_add")),
        ),
        (lambda x: x.cumsum(1), "aten.cumsum", NUMEL * cost("reduce_add")),
        (lambda x: x.cumprod(0), "aten.cumprod", NUMEL * cost("reduce_mul")),
        (lambda x: x.cummax(1)[0], "aten.cummax", NUMEL * cost("reduce_compare")),
        (lambda x: x.logcumsumexp(1), "aten.logcumsumexp", NUMEL * cost("scan_logaddexp")),
        (
            lambda x: x.logsumexp(1),
            "aten.logsumexp",
            NUMEL * cost("reduce_logsumexp") + R * cost("reduce_logsumexp_finish"),
        ),
        # var: per element mean add, subtract, square, add; per output two divides
        (
            lambda x: x.var(1),
            "aten.var",
            NUMEL * cost("reduce_var") + R * cost("reduce_var_finish"),
        ),
        (
            lambda x: x.std(),
            "aten.std",
            NUMEL * cost("reduce_var") + cost("reduce_var_finish") + cost("reduce_root"),
        ),
        (
            lambda x: torch.var_mean(x, 1, correction=0),
            "aten.var_mean",
            NUMEL * cost("reduce_var") + R * cost("reduce_var_finish"),
        ),
        (
            lambda x: torch.std_mean(x, 0),
            "aten.std_mean",
            NUMEL * cost("reduce_var") + K * (cost("reduce_var_finish") + cost("reduce_root")),
        ),
        # 2-norm: square and add per element, one sqrt per output
        (
            lambda x: x.norm(),
            "aten.linalg_vector_norm",
            NUMEL * cost("reduce_norm") + cost("reduce_root"),
        ),
        (
            lambda x: torch.linalg.vector_norm(x, 1, dim=1),
            "aten.linalg_vector_norm",
            NUMEL * cost("reduce_norm"),  # |x| and add, no root
        ),
        (
            lambda x: torch.linalg.vector_norm(x, math.inf),
            "aten.linalg_vector_norm",
            NUMEL * cost("reduce_norm"),  # |x| and compare
        ),
        (
            lambda x: x.norm(p=3, dim=1),
            "aten.linalg_vector_norm",
            NUMEL * cost("reduce_norm_p") + R * cost("reduce_root"),
        ),
        (
            lambda x: torch.linalg.norm(x),
            "aten.linalg_vector_norm",
            NUMEL * cost("reduce_norm") + cost("reduce_root"),
        ),
    ],
)
def test_reductions_in_every_mode(fn: Callable[[Any], Any], op: str, expected: int) -> None:
    x = torch.randn(R, K)
    for row in rows_in_every_mode(lambda: fn(x), op):
        assert row.flops == expected, row.overload
        assert (row.macs, row.category, row.status) == (0, "reduction", "counted")


def test_binary_max_and_min_compare_per_broadcast_output() -> None:
    a, b = torch.randn(R, 1), torch.randn(1, K)
    # grad and no_grad run aten.maximum (pointwise); inference mode keeps the composite max.other
    row = only_row(count(lambda: _inference(lambda: torch.max(a, b))), "aten.max")
    assert row.overload == "other"
    assert row.flops == R * K * cost("reduce_compare")  # [R, 1] vs [1, K] -> [R, K]
    row = only_row(count(lambda: _inference(lambda: torch.min(a, b))), "aten.min")
    assert row.flops == R * K * cost("reduce_compare")


def _inference(fn: Callable[[], Any]) -> Any:
    with torch.inference_mode():
        return fn()


def test_trace_reads_the_diagonal() -> None:
    x = torch.randn(R, K)
    row = only_row(count(lambda: x.trace()), "aten.trace")
    assert row.flops == min(R, K) * cost("reduce_add")


def test_integer_reductions_are_int_ops() -> None:
    x = torch.arange(NUMEL).reshape(R, K)
    row = only_row(count(lambda: x.sum()), "aten.sum")
    assert (row.flops, row.int_ops) == (0, NUMEL * cost("reduce_add"))
    mask = x > 3
    row = only_row(count(lambda: mask.any()), "aten.any")
    assert (row.flops, row.int_ops) == (0, NUMEL * cost("reduce_compare"))
    row = only_row(count(lambda: mask.all(1)), "aten.all")
    assert row.int_ops == NUMEL * cost("reduce_compare")


def test_sort_topk_and_selection() -> None:
    x = torch.randn(R, K)
    # a comparison sort of each row of K: K * ceil(log2 K) compares
    for row in rows_in_every_mode(lambda: x.sort(1), "aten.sort"):
        assert row.flops == R * K * math.ceil(math.log2(K)) * cost("sort_compare")
    row = only_row(count(lambda: x.argsort(0)), "aten.sort")  # argsort is a composite of sort
    assert row.flops == K * R * math.ceil(math.log2(R)) * cost("sort_compare")
    row = only_row(count(lambda: torch.sort(x, stable=True, dim=0)), "aten.sort")
    assert row.flops == K * R * math.ceil(math.log2(R)) * cost("sort_compare")
    # topk(3): a heap of 3 costs ceil(log2(4)) = 2 compares per element
    row = only_row(count(lambda: x.topk(3, 1)), "aten.topk")
    assert row.flops == NUMEL * 2 * cost("sort_compare")
    row = only_row(count(lambda: x.topk(1, 0)), "aten.topk")
    assert row.flops == NUMEL * 1 * cost("sort_compare")  # like max
    for op, fn in (
        ("aten.median", lambda: x.median()),
        ("aten.median", lambda: x.median(1)),
        ("aten.kthvalue", lambda: x.kthvalue(2, 1)),
    ):
        assert only_row(count(fn), op).flops == NUMEL * cost("select_compare")
    row = only_row(count(lambda: x.nanmedian(0)), "aten.nanmedian")
    assert row.flops == NUMEL * (cost("reduce_nan_test") + cost("select_compare"))
    # mode: sort each row, then compare neighbours
    row = only_row(count(lambda: x.mode(1)), "aten.mode")
    assert row.flops == (R * K * math.ceil(math.log2(K)) + R * K) * cost("sort_compare")


def test_ceil_log2() -> None:
    assert [ceil_log2(n) for n in (0, 1, 2, 3, 4, 5, 8, 9)] == [0, 0, 1, 2, 2, 3, 3, 4]


def test_histc_and_bincount() -> None:
    x = torch.randn(NUMEL)
    row = only_row(count(lambda: torch.histc(x, 5)), "aten.histc")
    # min == max == 0: the range comes from the data (a min and a max compare per element)
    assert row.flops == NUMEL * (cost("histogram_bin") + 2 * cost("reduce_compare"))
    row = only_row(count(lambda: torch.histc(x, 5, -1, 1)), "aten.histc")
    assert row.flops == NUMEL * cost("histogram_bin")
    values = torch.tensor([0, 3, 3, 1])
    row = only_row(count(lambda: torch.bincount(values)), "aten.bincount")
    assert row.int_ops == 4 * (cost("reduce_compare") + cost("reduce_add"))


def test_reduction_backward_has_no_unsupported_op() -> None:
    x = torch.randn(R, K, requires_grad=True)

    def run() -> None:
        total = x.sum() + x.mean(1).sum() + x.var(1).sum() + x.std() + x.norm()
        total = total + x.amax(1).sum() + x.max(1)[0].sum() + x.logsumexp(1).sum()
        total = total + x.cumsum(1).sum() + x.prod(1).sum() + x.sort(1)[0].sum()
        total = total + x.topk(2)[0].sum() + x.median(1)[0].sum()
        total.backward()

    frame = count(run).to_dataframe()
    assert (frame.status != "unsupported").all(), set(frame[frame.status == "unsupported"].op)
    assert (frame.phase == "backward").any()


def test_dist_is_the_norm_of_the_difference() -> None:
    a, b = torch.randn(R, K), torch.randn(K)
    row = only_row(count(lambda: torch.dist(a, b)), "aten.dist")
    # [R, K] - [K] broadcast: one subtract per element, square and add, one root
    assert row.flops == NUMEL * (cost("reduce_add") + cost("reduce_norm")) + cost("reduce_root")
    row = only_row(count(lambda: torch.dist(a, b, 1)), "aten.dist")
    assert row.flops == NUMEL * (cost("reduce_add") + cost("reduce_norm"))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_segment_reduce_counts_every_element_once(reduce: str) -> None:
    data = torch.randn(10, 3)
    lengths = torch.tensor([4, 0, 6])
    fn = lambda: torch.segment_reduce(data, reduce, lengths=lengths)  # noqa: E731
    row = only_row(count(fn), "aten.segment_reduce")
    divides = 3 * 3 * cost("reduce_divide") if reduce == "mean" else 0  # [3 segments, 3]
    assert row.flops == 10 * 3 * cost("reduce_add") + divides


def test_repeat_interleave_is_a_copy() -> None:
    repeats = torch.tensor([1, 2, 3])
    row = only_row(count(lambda: torch.repeat_interleave(repeats)), "aten.repeat_interleave")
    assert (row.status, row.category, row.flops) == ("counted", "copy", 0)
