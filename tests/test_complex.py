"""Complex tensors are counted in real FLOPs: a complex add is 2, a multiply 6, and a complex
multiply-accumulate of a matrix product 4 real MACs (8 FLOPs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from helpers import count, only_row
from opcount.formulas.costs import cost

M, K, N, B = 3, 5, 7, 2
ADD, MUL = cost("add"), cost("mul")


def _c(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.complex64)


def test_cost_entries_are_the_real_arithmetic() -> None:
    assert cost("complex_add") == 2 * ADD  # one add per part
    assert cost("complex_mul") == 4 * MUL + 2 * ADD  # (ac - bd) + (ad + bc) i
    assert cost("complex_div") == 6 * MUL + 3 * ADD + 2 * cost("div")
    assert cost("complex_abs") == 2 * MUL + ADD + cost("transcendental")  # sqrt(a^2 + b^2)


@pytest.mark.parametrize(
    ("fn", "op", "per_element"),
    [
        (lambda a, b: a + b, "aten.add", cost("complex_add")),
        (lambda a, b: a - b, "aten.sub", cost("complex_add")),
        (lambda a, b: a * b, "aten.mul", cost("complex_mul")),
        (lambda a, b: a / b, "aten.div", cost("complex_div")),
        (lambda a, b: a.add_(b), "aten.add_", cost("complex_add")),
        (lambda a, b: torch.add(a, b, alpha=2), "aten.add", cost("complex_add") + 2 * MUL),
        (lambda a, b: a == b, "aten.eq", 2 * cost("compare")),  # both parts compared
        (lambda a, b: torch.abs(a), "aten.abs", cost("complex_abs")),
        (lambda a, b: torch.exp(a), "aten.exp", cost("complex_exp")),
        (lambda a, b: torch.log(a), "aten.log", cost("complex_log")),
        (lambda a, b: torch.sqrt(a), "aten.sqrt", cost("complex_transcendental")),
        (lambda a, b: torch.neg(a), "aten.neg", 2 * cost("neg")),
        (lambda a, b: torch.reciprocal(a), "aten.reciprocal", cost("complex_div")),
        (lambda a, b: torch.angle(a), "aten.angle", cost("transcendental")),  # atan2(b, a)
        (lambda a, b: torch.sgn(a), "aten.sgn", cost("complex_abs") + 2 * cost("div")),
    ],
)
def test_complex_pointwise(fn: Callable[..., Any], op: str, per_element: int) -> None:
    a, b = _c(4, 5), _c(4, 5)
    assert only_row(count(lambda: fn(a, b)), op).flops == 20 * per_element


def test_real_times_complex_is_promoted_to_a_complex_multiply() -> None:
    # torch casts the real operand to complex before the kernel runs
    a, b = torch.randn(4, 1), _c(1, 5)
    assert only_row(count(lambda: a * b), "aten.mul").flops == 20 * cost("complex_mul")


def test_complex_mm_counts_four_real_macs_per_complex_mac() -> None:
    a, b = _c(M, K), _c(K, N)
    row = only_row(count(lambda: torch.mm(a, b)), "aten.mm")
    assert row.macs == 4 * M * K * N  # 4 real multiplies (and 4 adds) per complex MAC
    assert row.flops == 2 * 4 * M * K * N


def test_complex_addmm_bias_is_two_real_adds() -> None:
    bias, a, b = _c(N), _c(M, K), _c(K, N)
    row = only_row(count(lambda: torch.addmm(bias, a, b)), "aten.addmm")
    assert row.macs == 4 * M * K * N
    assert row.flops == 8 * M * K * N + 2 * M * N * cost("bias_add")
    # a real alpha scales both parts: two real multiplies per output element
    row = only_row(count(lambda: torch.addmm(bias, a, b, alpha=2)), "aten.addmm")
    assert row.flops == 8 * M * K * N + 2 * M * N * cost("bias_add") + 2 * M * N


@pytest.mark.parametrize(
    ("fn", "op", "complex_macs"),
    [
        (lambda: torch.bmm(_c(B, M, K), _c(B, K, N)), "aten.bmm", B * M * K * N),
        (lambda: torch.mv(_c(M, K), _c(K)), "aten.mv", M * K),
        (lambda: torch.dot(_c(K), _c(K)), "aten.dot", K),
        (lambda: torch.vdot(_c(K), _c(K)), "aten.vdot", K),
    ],
)
def test_complex_products(fn: Callable[[], Any], op: str, complex_macs: int) -> None:
    row = only_row(count(fn), op)
    assert (row.macs, row.flops) == (4 * complex_macs, 8 * complex_macs)


def test_complex_matmul_operator_and_real_unchanged() -> None:
    a, b = _c(B, M, K), _c(K, N)
    assert count(lambda: a @ b).total_macs == 4 * B * M * K * N
    ra, rb = torch.randn(B, M, K), torch.randn(K, N)
    assert count(lambda: ra @ rb).total_macs == B * M * K * N


def test_complex_foreach_counts_both_parts() -> None:
    xs = [_c(3), torch.randn(4)]
    row = only_row(count(lambda: torch._foreach_mul(xs, xs)), "aten._foreach_mul")
    assert row.flops == 3 * cost("complex_mul") + 4 * MUL


def test_view_as_real_is_free_and_rotary_style_product_is_a_complex_mul() -> None:
    # rotary embeddings: view pairs as complex, multiply by unit phases, view back
    x, freqs = torch.randn(2, 6, 8), torch.rand(6, 4)
    phases = torch.polar(torch.ones_like(freqs), freqs)
    counter = count(
        lambda: torch.view_as_real(torch.view_as_complex(x.reshape(2, 6, 4, 2)) * phases)
    )
    assert only_row(counter, "aten.mul").flops == 2 * 6 * 4 * cost("complex_mul")
    frame = counter.to_dataframe()
    assert set(frame.op[frame.status == "free"]) >= {"aten.view_as_complex", "aten.view_as_real"}
