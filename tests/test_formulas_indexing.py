"""Embedding, gather/scatter and index-search formulas against closed forms, forward in every
grad mode and backward."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers import count, frames_in_every_mode, only_row, rows_in_every_mode
from opcount.formulas.costs import cost

NUM, DIM = 10, 4
IDX = torch.tensor([[1, 2, 4], [4, 3, 9]])  # 2 bags of 3 looked-up rows
LOOKUPS = IDX.numel()
R, K = 5, 4  # x is [R, K]
I1 = torch.tensor([0, 2, 2])


def test_embedding_is_a_free_gather_and_its_backward_adds() -> None:
    weight = torch.randn(NUM, DIM, requires_grad=True)
    for row in rows_in_every_mode(lambda: F.embedding(IDX, weight), "aten.embedding"):
        assert (row.flops, row.category, row.status) == (0, "embedding", "counted")
    counter = count(lambda: F.embedding(IDX, weight).sum().backward())
    row = only_row(counter, "aten.embedding_dense_backward")
    assert row.flops == LOOKUPS * DIM * cost("reduce_add")  # one add per gradient element
    counter = count(
        lambda: F.embedding(IDX, weight, padding_idx=3, scale_grad_by_freq=True).sum().backward()
    )
    row = only_row(counter, "aten.embedding_dense_backward")
    # rows at padding_idx are counted too: counts never depend on index values
    assert row.flops == LOOKUPS * DIM * (cost("reduce_add") + cost("index_scale"))


def test_embedding_max_norm_renormalises_every_looked_up_row() -> None:
    weight = torch.randn(NUM, DIM)
    row = only_row(count(lambda: F.embedding(IDX, weight, max_norm=1.0)), "aten.embedding_renorm_")
    # per row: square and add each element, a root, the scale factor, the rescale of the row
    per_row = (
        DIM * (cost("reduce_norm") + cost("renorm_scale"))
        + cost("reduce_root")
        + cost("renorm_row")
    )
    assert row.flops == LOOKUPS * per_row


@pytest.mark.parametrize(
    ("mode", "forward", "backward"),
    [
        ("sum", LOOKUPS * DIM * cost("reduce_add"), LOOKUPS * DIM * cost("reduce_add")),
        (
            "mean",
            LOOKUPS * DIM * cost("reduce_add") + 2 * DIM * cost("reduce_divide"),  # 2 bags
            LOOKUPS * DIM * (cost("reduce_add") + cost("reduce_divide")),
        ),
        # max: compare every looked-up value; backward adds each bag's gradient at its argmax
        ("max", LOOKUPS * DIM * cost("reduce_compare"), 2 * DIM * cost("reduce_add")),
    ],
)
def test_embedding_bag_modes(mode: str, forward: int, backward: int) -> None:
    weight = torch.randn(NUM, DIM, requires_grad=True)
    bag_ops = ("aten._embedding_bag", "aten._embedding_bag_forward_only")
    rows = []
    for frame in frames_in_every_mode(lambda: F.embedding_bag(IDX, weight, mode=mode)):
        rows.extend(frame[frame.op.isin(bag_ops)].itertuples())
    assert [row.flops for row in rows] == [forward] * 3
    counter = count(lambda: F.embedding_bag(IDX, weight, mode=mode).sum().backward())
    assert only_row(counter, "aten._embedding_bag_backward").flops == backward


def test_embedding_bag_per_sample_weights() -> None:
    weight = torch.randn(NUM, DIM, requires_grad=True)
    psw = torch.rand(2, 3, requires_grad=True)
    counter = count(
        lambda: F.embedding_bag(IDX, weight, per_sample_weights=psw, mode="sum").sum().backward()
    )
    weighted = LOOKUPS * DIM * (cost("reduce_add") + cost("index_scale"))  # multiply, add
    assert only_row(counter, "aten._embedding_bag").flops == weighted
    assert only_row(counter, "aten._embedding_bag_backward").flops == weighted
    # d(per-sample weight) = dot(bag gradient, looked-up row)
    row = only_row(counter, "aten._embedding_bag_per_sample_weights_backward")
    assert row.flops == weighted


@pytest.mark.parametrize(
    ("fn", "op"),
    [
        (lambda x: x.index_select(0, I1), "aten.index_select"),
        (lambda x: x.gather(1, torch.zeros(R, 2, dtype=torch.long)), "aten.gather"),
        (lambda x: x[I1], "aten.index"),
        (lambda x: x.take(torch.tensor([0, 5, 7])), "aten.take"),
        (lambda x: x.index_copy(0, torch.tensor([0, 1, 2]), torch.ones(3, K)), "aten.index_copy"),
        (lambda x: x.index_fill(0, I1, 2.0), "aten.index_fill"),
        (lambda x: x.masked_scatter(x > 0, torch.ones(R * K)), "aten.masked_scatter"),
        (lambda x: torch.zeros(R, K).scatter(0, I1.view(3, 1).expand(3, K), x[:3]), "aten.scatter"),
        (lambda x: torch.select_scatter(x, torch.ones(K), 0, 0), "aten.select_scatter"),
        (lambda x: torch.slice_scatter(x, torch.ones(2, K), 0, 0, 2), "aten.slice_scatter"),
        (lambda x: torch.diagonal_scatter(x, torch.ones(K)), "aten.diagonal_scatter"),
        (
            lambda x: torch.as_strided_scatter(x, torch.ones(K), (K,), (1,)),
            "aten.as_strided_scatter",
        ),
    ],
)
def test_gathers_and_copies_are_free_data_movement(fn: Callable[[Any], Any], op: str) -> None:
    x = torch.randn(R, K)
    for row in rows_in_every_mode(lambda: fn(x), op):
        assert (row.flops, row.macs, row.category, row.status) == (0, 0, "copy", "counted")


@pytest.mark.parametrize(
    ("fn", "op", "expected"),
    [
        # scatter_add: one add per index element (src [3, K] fully used)
        (
            lambda x: torch.zeros(R, K).scatter_add(0, I1.view(3, 1).expand(3, K), x[:3]),
            "aten.scatter_add",
            3 * K * cost("reduce_add"),
        ),
        (
            lambda x: torch.zeros(R, K).scatter_reduce(
                0, I1.view(3, 1).expand(3, K), x[:3], "amax"
            ),
            "aten.scatter_reduce",
            3 * K * cost("reduce_compare"),
        ),
        (
            lambda x: torch.zeros(R, K).scatter_reduce(
                0, I1.view(3, 1).expand(3, K), x[:3], "prod"
            ),
            "aten.scatter_reduce",
            3 * K * cost("reduce_mul"),
        ),
        # mean: add and count each source, divide every destination element
        (
            lambda x: torch.zeros(R, K).scatter_reduce(
                0, I1.view(3, 1).expand(3, K), x[:3], "mean"
            ),
            "aten.scatter_reduce",
            2 * 3 * K * cost("reduce_add") + R * K * cost("reduce_divide"),
        ),
        (
            lambda x: torch.zeros(R, K).scatter(0, I1.view(3, 1).expand(3, K), x[:3], reduce="add"),
            "aten.scatter",
            3 * K * cost("reduce_add"),
        ),
        (
            lambda x: x.index_add(0, I1, torch.ones(3, K)),
            "aten.index_add",
            3 * K * cost("reduce_add"),
        ),
        (
            lambda x: x.index_add(0, I1, torch.ones(3, K), alpha=2),
            "aten.index_add",
            3 * K * (cost("reduce_add") + cost("index_scale")),
        ),
        (
            lambda x: x.index_reduce(0, I1, torch.ones(3, K), "prod"),
            "aten.index_reduce",
            3 * K * cost("reduce_mul"),
        ),
        (
            lambda x: x.index_put((I1,), torch.ones(K), accumulate=True),
            "aten.index_put",
            3 * K * cost("reduce_add"),  # values broadcast to the 3 indexed rows
        ),
        (
            lambda x: torch.ops.aten.index_put(
                x, [None, torch.tensor([1, 3])], torch.ones(1), True
            ),
            "aten.index_put",
            R * 2 * cost("reduce_add"),  # x[:, [1, 3]]
        ),
        (lambda x: x.index_put((I1,), torch.ones(K)), "aten.index_put", 0),
        (
            lambda x: x.put(torch.tensor([0, 5, 7]), torch.ones(3), accumulate=True),
            "aten.put",
            3 * cost("reduce_add"),
        ),
    ],
)
def test_indexed_updates_count_each_combined_value(
    fn: Callable[[Any], Any], op: str, expected: int
) -> None:
    x = torch.randn(R, K)
    for row in rows_in_every_mode(lambda: fn(x.clone()), op):
        assert row.flops == expected
        assert row.category == "copy"


def test_in_place_variants() -> None:
    x = torch.randn(R, K)
    mask = x > 0
    row = only_row(count(lambda: x.clone().__setitem__(mask, 1.0)), "aten.index_put_")
    assert row.flops == 0
    acc = torch.zeros(R, K)
    row = only_row(
        count(lambda: acc.index_put_((mask,), torch.ones(1), accumulate=True)), "aten.index_put_"
    )
    assert row.flops == int(mask.sum()) * cost("reduce_add")  # one add per True element
    row = only_row(count(lambda: acc.index_add_(0, I1, torch.ones(3, K))), "aten.index_add_")
    assert row.flops == 3 * K * cost("reduce_add")
    index = I1.view(3, 1).expand(3, K)
    row = only_row(count(lambda: acc.scatter_add_(0, index, torch.ones(3, K))), "aten.scatter_add_")
    assert row.flops == 3 * K * cost("reduce_add")


def test_backward_of_gathers_adds() -> None:
    x = torch.randn(R, K, requires_grad=True)

    def run() -> None:
        (
            x.index_select(0, I1).sum()
            + x[I1].sum()
            + x.gather(0, I1.view(3, 1).expand(3, K)).sum()
        ).backward()

    counter = count(run)
    assert only_row(counter, "aten.index_add").flops == 3 * K * cost("reduce_add")
    assert only_row(counter, "aten.index_put").flops == 3 * K * cost("reduce_add")
    assert only_row(counter, "aten.scatter_add").flops == 3 * K * cost("reduce_add")
    frame = counter.to_dataframe()
    assert (frame.status != "unsupported").all(), set(frame[frame.status == "unsupported"].op)


def test_index_searches() -> None:
    x = torch.randn(R, K)
    row = only_row(count(lambda: torch.nonzero(x)), "aten.nonzero")
    assert (row.flops, row.category) == (R * K * cost("reduce_compare"), "other")
    boundaries = torch.tensor([-1.0, 0.0, 1.0])
    # binary search among 3 boundaries: ceil(log2(4)) = 2 compares per query
    for op, fn in (
        ("aten.searchsorted", lambda: torch.searchsorted(boundaries, x)),
        ("aten.bucketize", lambda: torch.bucketize(x, boundaries)),
    ):
        for row in rows_in_every_mode(fn, op):
            assert row.flops == R * K * 2 * cost("sort_compare")
    values = torch.tensor([3, 1, 3, 2, 2, 2, 1])
    n = values.numel()
    row = only_row(count(lambda: torch.unique(values)), "aten._unique2")
    # sort, then compare neighbours; integers, so int_ops
    assert row.int_ops == (n * math.ceil(math.log2(n)) + n) * cost("sort_compare")
    row = only_row(count(lambda: torch.unique_consecutive(values)), "aten.unique_consecutive")
    assert row.int_ops == n * cost("sort_compare")
    rows = torch.tensor([[1, 2], [0, 1], [1, 2]])
    row = only_row(count(lambda: torch.unique(rows, dim=0)), "aten.unique_dim")
    # 3 rows of width 2: sort 3 * ceil(log2 3) row comparisons + 3, each reading 2 elements
    assert row.int_ops == (3 * 2 + 3) * 2 * cost("sort_compare")
