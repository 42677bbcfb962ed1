"""Matrix-product formulas against closed forms, by running the real ops under OpCounter."""

from __future__ import annotations

import pytest
import torch

from helpers import count, only_row
from opcount.formulas import matmul as mm_formulas
from opcount.formulas.costs import cost

M, K, N, B = 3, 5, 7, 2


def test_mm() -> None:
    a, b = torch.randn(M, K), torch.randn(K, N)
    row = only_row(count(lambda: torch.mm(a, b)), "aten.mm")
    assert row.macs == M * K * N
    assert row.flops == 2 * M * K * N
    assert row.category == "matmul"
    assert row.status == "counted"


def test_addmm_counts_bias_add_but_not_as_macs() -> None:
    bias, a, b = torch.randn(N), torch.randn(M, K), torch.randn(K, N)
    row = only_row(count(lambda: torch.addmm(bias, a, b)), "aten.addmm")
    assert row.macs == M * K * N
    assert row.flops == 2 * M * K * N + M * N  # one add per output element


@pytest.mark.parametrize(
    ("beta", "alpha", "extra"),
    [
        (0, 1, 0),  # input ignored
        (1, 2, 2 * M * N),  # bias add, and alpha scales every output
        (3, 1, 2 * M * N),  # beta * input: multiply, then add
        (3, 2, 3 * M * N),
    ],
)
def test_addmm_alpha_beta(beta: float, alpha: float, extra: int) -> None:
    bias, a, b = torch.randn(M, N), torch.randn(M, K), torch.randn(K, N)
    row = only_row(count(lambda: torch.addmm(bias, a, b, beta=beta, alpha=alpha)), "aten.addmm")
    assert row.flops == 2 * M * K * N + extra


def test_addmm_out_variant() -> None:
    bias, a, b = torch.randn(N), torch.randn(M, K), torch.randn(K, N)
    out = torch.empty(M, N)
    row = only_row(count(lambda: torch.addmm(bias, a, b, out=out)), "aten.addmm")
    assert row.overload == "out"
    assert row.macs == M * K * N


def test_bmm_and_baddbmm() -> None:
    a, b, c = torch.randn(B, M, K), torch.randn(B, K, N), torch.randn(B, M, N)
    assert only_row(count(lambda: torch.bmm(a, b)), "aten.bmm").macs == B * M * K * N
    row = only_row(count(lambda: torch.baddbmm(c, a, b)), "aten.baddbmm")
    assert row.macs == B * M * K * N
    assert row.flops == 2 * B * M * K * N + B * M * N


def test_addbmm_accumulates_over_batch_as_macs() -> None:
    a, b, c = torch.randn(B, M, K), torch.randn(B, K, N), torch.randn(M, N)
    row = only_row(count(lambda: torch.addbmm(c, a, b)), "aten.addbmm")
    assert row.macs == B * M * K * N  # the sum over b is part of the accumulation
    assert row.flops == 2 * B * M * K * N + M * N


def test_mv_addmv_dot_vdot() -> None:
    a, v, w = torch.randn(M, K), torch.randn(K), torch.randn(M)
    assert only_row(count(lambda: torch.mv(a, v)), "aten.mv").macs == M * K
    row = only_row(count(lambda: torch.addmv(w, a, v)), "aten.addmv")
    assert (row.macs, row.flops) == (M * K, 2 * M * K + M)
    assert only_row(count(lambda: torch.dot(v, v)), "aten.dot").flops == 2 * K
    assert only_row(count(lambda: torch.vdot(v, v)), "aten.vdot").macs == K


def test_outer_is_one_multiply_per_output_in_every_mode() -> None:
    # outer/ger are composites of a broadcast multiply: m * n products, no accumulation
    a, b = torch.randn(M), torch.randn(N)
    with torch.inference_mode():
        inference = count(lambda: torch.outer(a, b))
    grad = count(lambda: torch.outer(a, b))
    for counter in (grad, inference):
        assert "aten.outer" not in set(counter.to_dataframe()["op"])
        assert counter.total_macs == 0


def test_int_mm_is_counted_apart_from_float_flops() -> None:
    a = torch.randint(-5, 5, (32, 16), dtype=torch.int8)
    b = torch.randint(-5, 5, (16, 8), dtype=torch.int8)
    try:
        torch._int_mm(a, b)
    except RuntimeError:
        pytest.skip("_int_mm is not available for these shapes on this CPU build")
    row = only_row(count(lambda: torch._int_mm(a, b)), "aten._int_mm")
    assert row.macs == 32 * 16 * 8
    assert row.flops == 0
    assert row.int_ops == 2 * 32 * 16 * 8


def test_scaled_mm_formula_on_meta_tensors() -> None:
    # _scaled_mm runs on fp8-capable GPUs only; the formula is a pure function of shapes
    a = torch.empty(16, 32, device="meta")
    b = torch.empty(32, 64, device="meta")
    scale = torch.empty((), device="meta")
    bias = torch.empty(64, device="meta")
    out = torch.empty(16, 64, device="meta")
    macs = 16 * 32 * 64
    assert mm_formulas.scaled_mm((a, b, scale, scale), {}, out) == (2 * macs + 16 * 64, macs)
    assert mm_formulas.scaled_mm((a, b, scale, scale), {"bias": bias}, out) == (
        2 * macs + 2 * 16 * 64,
        macs,
    )


def test_grouped_mm_formula_on_meta_tensors() -> None:
    # 2d x 3d: 40 tokens routed over 4 experts [4, 32, 64]: every token row is multiplied once
    tokens = torch.empty(40, 32, device="meta")
    experts = torch.empty(4, 32, 64, device="meta")
    out = torch.empty(40, 64, device="meta")
    assert mm_formulas.grouped_mm((tokens, experts), {}, out) == (2 * 40 * 32 * 64, 40 * 32 * 64)
    # 3d x 3d: a batched product
    a, b = torch.empty(4, 8, 32, device="meta"), torch.empty(4, 32, 16, device="meta")
    out3 = torch.empty(4, 8, 16, device="meta")
    assert mm_formulas.grouped_mm((a, b), {}, out3)[1] == 4 * 8 * 32 * 16


def test_addmm_activation_adds_the_activation() -> None:
    bias, a, b = torch.randn(N), torch.randn(M, K), torch.randn(K, N)
    out = torch.empty(M, N)
    flops, macs = mm_formulas.addmm_activation((bias, a, b), {"use_gelu": True}, out)
    assert macs == M * K * N
    assert flops == 2 * M * K * N + M * N + cost("gelu_tanh") * M * N


def test_linear_counted_once_in_grad_no_grad_and_inference_mode() -> None:
    layer = torch.nn.Linear(K, N)
    x = torch.randn(B, M, K)
    expected = B * M * K * N
    results = []
    for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with mode():
            counter = count(lambda: layer(x))
        results.append((counter.total_macs, counter.total_flops))
    assert results == [(expected, 2 * expected + B * M * N)] * 3


def test_matmul_and_einsum_decompose_under_inference_mode() -> None:
    a, b = torch.randn(B, M, K), torch.randn(K, N)
    for fn in (
        lambda: torch.matmul(a, b),
        lambda: a @ b,
        lambda: torch.einsum("bmk,kn->bmn", a, b),
    ):
        totals = []
        for mode in (torch.enable_grad, torch.inference_mode):
            with mode():
                totals.append(count(fn).total_macs)
        assert totals == [B * M * K * N] * 2


def test_in_place_variants_and_rank_one_update() -> None:
    bias, a, b = torch.randn(M, N), torch.randn(M, K), torch.randn(K, N)
    row = only_row(count(lambda: bias.clone().addmm_(a, b)), "aten.addmm_")
    assert (row.macs, row.flops) == (M * K * N, 2 * M * K * N + M * N)
    c, a3, b3 = torch.randn(B, M, N), torch.randn(B, M, K), torch.randn(B, K, N)
    assert only_row(count(lambda: c.clone().baddbmm_(a3, b3)), "aten.baddbmm_").macs == (
        B * M * K * N
    )
    v, w = torch.randn(M), torch.randn(N)
    row = only_row(count(lambda: torch.addr(bias, v, w)), "aten.addr")
    assert (row.macs, row.flops) == (M * N, 2 * M * N + M * N)  # k = 1, plus the add
