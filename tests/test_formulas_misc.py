"""The long tail against closed forms: distances, bilinear forms, orthogonal polynomials,
histograms, set membership, hashing, sparse products and the chunked linear cross-entropy."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from helpers import count, only_row, op_rows
from opcount.formulas.costs import cost
from opcount.formulas.misc import linear_cross_entropy_cost


def row(fn: object, op: str) -> tuple[int, int, str]:
    """``(flops, macs, category)`` of the single counted row of ``op``."""
    r = only_row(count(fn), op)  # type: ignore[arg-type]
    assert r["status"] == "counted", r
    return int(r["flops"]), int(r["macs"]), str(r["category"])


# -- distances -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "per_coordinate", "root", "mac"),
    [(2.0, "distance", True, True), (1.0, "distance", False, False),
     (math.inf, "distance", False, False), (0.0, "distance", False, False),
     (3.0, "distance_p", True, False)],
)  # fmt: skip
def test_cdist_direct(p: float, per_coordinate: str, root: bool, mac: bool) -> None:
    x1, x2 = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    pairs, dims = 2 * 5 * 4, 3
    flops, macs, category = row(lambda: torch.cdist(x1, x2, p=p), "aten._cdist_forward")
    assert category == "matmul"
    assert flops == pairs * dims * cost(per_coordinate) + (pairs if root else 0)
    assert macs == (pairs * dims if mac else 0)


def test_cdist_large_runs_as_a_matrix_product() -> None:
    # more than 25 rows: torch computes [-2 x1, |x1|^2, 1] @ [x2, 1, |x2|^2]^T
    x1, x2 = torch.randn(30, 3), torch.randn(27, 3)
    flops, macs, category = row(lambda: torch.cdist(x1, x2), "aten._euclidean_dist")
    assert macs == 30 * 27 * (3 + 2)
    norms, scale, finish = (30 + 27) * 3 * 2, 30 * 3, 30 * 27 * 2
    assert flops == 2 * macs + norms + scale + finish
    assert category == "matmul"


def test_cdist_backward() -> None:
    x1 = torch.randn(5, 3, requires_grad=True)
    x2 = torch.randn(4, 3)
    counter = count(lambda: torch.cdist(x1, x2).sum().backward())
    r = only_row(counter, "aten._cdist_backward")
    assert r["phase"] == "backward"
    assert (r["flops"], r["macs"]) == (20 * 3 * cost("distance_backward"), 20 * 3)


def test_pdist_forward_and_backward() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    counter = count(lambda: torch.nn.functional.pdist(x).sum().backward())
    forward = only_row(counter, "aten._pdist_forward")
    assert (forward["flops"], forward["macs"]) == (10 * 3 * cost("distance") + 10, 30)
    backward = only_row(counter, "aten._pdist_backward")
    # each pair's gradient reaches both of its rows: one more add per coordinate
    expected = 10 * 3 * (cost("distance_backward") + cost("add"))
    assert (backward["flops"], backward["macs"]) == (expected, 30)


# -- bilinear ------------------------------------------------------------------------------------


def test_bilinear_as_its_kernel_runs_it() -> None:
    layer = torch.nn.Bilinear(4, 5, 6)
    x1, x2 = torch.randn(3, 4), torch.randn(3, 5)
    counter = count(lambda: layer(x1, x2))
    r = only_row(counter, "aten._trilinear")
    # per output feature: x1 [3, 4] times W_o [4, 5] (3*4*5 MACs), then times x2 summed over
    # its 5 (3*5 MACs), then added into the output slice (3 adds)
    assert r["macs"] == 6 * (3 * 4 * 5 + 3 * 5)
    assert r["flops"] == 2 * r["macs"] + 6 * 3
    assert r["category"] == "matmul"


def test_bilinear_backward_is_counted() -> None:
    layer = torch.nn.Bilinear(4, 5, 6)
    x1, x2 = torch.randn(3, 4, requires_grad=True), torch.randn(3, 5, requires_grad=True)
    counter = count(lambda: layer(x1, x2).sum().backward())
    assert counter.complete
    rows = op_rows(counter, "aten._trilinear")
    assert set(rows["phase"]) == {"forward", "backward"}
    assert (rows["macs"] > 0).all()


# -- orthogonal polynomials ----------------------------------------------------------------------


def test_polynomial_with_a_scalar_degree() -> None:
    x = torch.rand(10)
    flops, macs, _ = row(
        lambda: torch.special.chebyshev_polynomial_t(x, 5), "aten.special_chebyshev_polynomial_t"
    )
    assert (flops, macs) == (10 * 4 * cost("polynomial_step"), 0)


def test_polynomial_degree_tensor_broadcast() -> None:
    x, n = torch.rand(3, 1), torch.tensor([0.0, 1.0, 2.0, 6.0])
    flops, _, _ = row(
        lambda: torch.special.hermite_polynomial_h(x, n), "aten.special_hermite_polynomial_h"
    )
    # output [3, 4]: steps max(n - 1, 0) = 0, 0, 1, 5 per row, 3 rows
    assert flops == 3 * (0 + 0 + 1 + 5) * cost("polynomial_step")


def test_polynomial_without_degree_values_is_reported() -> None:
    x, n = torch.empty(4, device="meta"), torch.empty(4, device="meta")
    counter = count(lambda: torch.special.legendre_polynomial_p(x, n))
    unsupported = counter.unsupported_ops()
    assert list(unsupported["op"]) == ["aten.special_legendre_polynomial_p"]
    assert "degree" in unsupported["reason"].iloc[0]


# -- histograms, set membership, hashing -----------------------------------------------------------


def test_histogram_with_bin_count() -> None:
    x = torch.randn(100)
    op = "aten.histogram"
    # no range: a min and a max compare per element first
    assert row(lambda: torch.histogram(x, bins=10), op)[0] == 100 * (
        cost("histogram_bin") + 2 * cost("reduce_compare")
    )
    assert row(lambda: torch.histogram(x, bins=10, range=(-1.0, 1.0)), op)[0] == (
        100 * cost("histogram_bin")
    )
    density = row(lambda: torch.histogram(x, bins=10, range=(-1.0, 1.0), density=True), op)[0]
    assert density == 100 * cost("histogram_bin") + 10 * (cost("add") + cost("mul") + cost("div"))


def test_histogram_with_edges_searches_them() -> None:
    x, edges = torch.randn(100), torch.linspace(-2, 2, 11)
    # a binary search among 11 edges: ceil(log2(12)) = 4 compares, then one add
    flops = row(lambda: torch.histogram(x, bins=edges), "aten.histogram")[0]
    assert flops == 100 * (4 * cost("sort_compare") + cost("add"))


def test_histogramdd() -> None:
    x = torch.randn(50, 2)
    counter = count(lambda: torch.histogramdd(x, bins=[3, 4]))
    edges = only_row(counter, "aten._histogramdd_bin_edges")
    assert edges["flops"] == 2 * 100 * cost("reduce_compare")
    hist = only_row(counter, "aten._histogramdd_from_bin_cts")
    per_value = cost("histogram_bin") - cost("add")
    assert hist["flops"] == 100 * per_value + 50 * cost("add") + 2 * 100 * cost("reduce_compare")


def test_isin_compares_pairs_or_sorts() -> None:
    # 3 test values < 10 * 100^0.145 (= 19): every pair compared
    elements, small = torch.randn(100), torch.randn(3)
    assert row(lambda: torch.isin(elements, small), "aten.isin")[0] == 300 * cost("compare")
    # 50 test values >= 10 * 10^0.145 (= 13): sort all 60, compare neighbours
    few, many = torch.randn(10), torch.randn(50)
    assert row(lambda: torch.isin(few, many), "aten.isin")[0] == (
        60 * 6 * cost("sort_compare") + 60 * cost("compare")
    )


@pytest.mark.skipif(not hasattr(torch, "hash_tensor"), reason="torch.hash_tensor is newer")
def test_hash_tensor() -> None:
    x = torch.randn(4, 5)
    assert row(lambda: torch.hash_tensor(x), "aten.hash_tensor")[0] == 20 * cost("logical")


# -- sparse ----------------------------------------------------------------------------------------


def sparse_csr(rows: int, cols: int, nnz: int) -> torch.Tensor:
    dense = torch.zeros(rows, cols)
    dense.view(-1)[torch.randperm(rows * cols)[:nnz]] = torch.rand(nnz) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse CSR is a beta feature
        return dense.to_sparse_csr()


def test_sampled_addmm_only_at_stored_positions() -> None:
    s, a, b = sparse_csr(4, 5, 6), torch.randn(4, 3), torch.randn(3, 5)
    flops, macs, category = row(
        lambda: torch.sparse.sampled_addmm(s, a, b), "aten.sparse_sampled_addmm"
    )
    assert (macs, category) == (6 * 3, "matmul")
    assert flops == 2 * 18 + 6 * cost("bias_add")


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax"])
def test_sparse_mm_reduce(reduce: str) -> None:
    s, b = sparse_csr(4, 5, 7), torch.randn(5, 3)
    flops, macs, _ = row(lambda: torch.sparse.mm(s, b, reduce), "aten._sparse_mm_reduce_impl")
    products = 7 * 3
    if reduce == "amax":
        assert (flops, macs) == (products * (cost("mul") + cost("compare")), 0)
    else:
        divides = 4 * 3 * cost("div") if reduce == "mean" else 0
        assert (flops, macs) == (2 * products + divides, products)


def test_to_sparse_compares_every_element_with_zero() -> None:
    x = torch.randn(3, 4)
    flops, macs, category = row(lambda: x.to_sparse(), "aten._to_sparse")
    assert (flops, macs, category) == (12 * cost("compare"), 0, "copy")


# -- chunked linear + cross-entropy ----------------------------------------------------------------


def test_linear_cross_entropy_chunked() -> None:
    options_type = getattr(torch.nn, "LinearCrossEntropyOptions", None)
    if options_type is None:
        pytest.skip("this torch has no chunked linear_cross_entropy")
    x = torch.randn(6, 4, requires_grad=True)
    w = torch.randn(10, 4, requires_grad=True)
    target = torch.randint(10, (6,))
    counter = count(
        lambda: torch.nn.functional.linear_cross_entropy(
            x, w, target, options=options_type(batch_chunk_size=2)
        )
    )
    r = only_row(counter, "torch_nn._linear_cross_entropy_batch_chunked")
    # gradients of the input and the weight are computed in the same pass
    expected = linear_cross_entropy_cost(
        6, 4, 10, bias=False, probability_target=False, grads=(True, True, False)
    )
    assert (r["flops"], r["macs"]) == expected
    assert r["macs"] == 3 * 6 * 10 * 4  # logits, input gradient, weight gradient
    assert r["category"] == "matmul"
