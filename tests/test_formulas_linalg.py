"""Linear algebra formulas against closed forms.

The pure counts are checked against explicit loops of their reference algorithms (every
multiply, divide, root, add and subtract of the loop is one FLOP) and against LAPACK Working
Note 41's polynomials; the dispatch tests check that each aten op's row carries that count for
its shapes, batch, options and dtype. The matrix exponential, whose cost depends on the input's
norms, is checked against the matrix products torch's own kernel runs (seen by the profiler).
"""

from __future__ import annotations

import pytest
import torch

from helpers import count, only_row, op_rows
from opcount.formulas import linalg
from opcount.formulas.costs import cost
from opcount.formulas.linalg import (
    cholesky_flops,
    eig_flops,
    eigh_flops,
    form_q_flops,
    householder_flops,
    lu_flops,
    lu_solve_flops,
    reflector_apply_flops,
    svd_flops,
    triangular_gram_flops,
    triangular_inverse_flops,
    triangular_solve_flops,
)

SIZES = [(m, n) for m in range(0, 9) for n in range(0, 9)]

# -- reference loops -----------------------------------------------------------------------------


def loop_cholesky(n: int) -> int:
    flops = 0
    for j in range(n):
        t = n - j - 1
        flops += 1 + t + 2 * (t * (t + 1) // 2)  # sqrt, divides, trailing lower triangle
    return flops


def loop_lu(m: int, n: int) -> int:
    return sum((m - k - 1) + 2 * (m - k - 1) * (n - k - 1) for k in range(min(m, n)))


def loop_substitution(n: int, k: int, unit: bool) -> int:
    return k * sum(2 * i + (0 if unit else 1) for i in range(n))


def loop_householder(m: int, n: int) -> int:
    flops = 0
    for k in range(min(m, n)):
        rows, cols = m - k, n - k - 1
        flops += 3 * rows + 4 * rows * cols + cols
    return flops


def loop_form_q(m: int, n: int, reflectors: int) -> int:
    return sum(4 * (m - k) * (n - k) + (n - k) for k in range(reflectors))


def loop_apply(m: int, reflectors: int, cols: int) -> int:
    return sum(4 * (m - k) * cols + cols for k in range(reflectors))


def loop_triangular_inverse(n: int) -> int:
    flops = 0
    for j in range(n):
        flops += 1  # reciprocal of the diagonal
        for i in range(j + 1, n):
            flops += 2 * (i - j) + 1
    return flops


def loop_triangular_gram(n: int) -> int:
    return sum(2 * (n - i) - 1 for i in range(n) for _ in range(i + 1))


# -- pure counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), SIZES)
def test_counts_match_their_reference_loops(m: int, n: int) -> None:
    assert lu_flops(m, n) == loop_lu(m, n)
    assert householder_flops(m, n) == loop_householder(m, n)
    assert triangular_solve_flops(m, n) == loop_substitution(m, n, unit=False)
    assert triangular_solve_flops(m, n, unitriangular=True) == loop_substitution(m, n, True)
    for r in range(min(m, n) + 1):
        assert form_q_flops(m, n, r) == loop_form_q(m, n, r)
        assert reflector_apply_flops(m, r, n) == loop_apply(m, r, n)
    assert cholesky_flops(n) == loop_cholesky(n)
    assert triangular_inverse_flops(n) == loop_triangular_inverse(n)
    assert triangular_gram_flops(n) == loop_triangular_gram(n)


@pytest.mark.parametrize("n", range(0, 40))
def test_counts_equal_lapack_working_note_41(n: int) -> None:
    # xPOTRF: n^3/6 + n^2/2 + n/3 multiplies and n^3/6 - n/6 adds
    assert 6 * cholesky_flops(n) == (n**3 + 3 * n**2 + 2 * n) + (n**3 - n)
    # xGETRF, m = n: 2n^3/3 - n^2/2 - n/6
    assert 6 * lu_flops(n, n) == 4 * n**3 - 3 * n**2 - n
    assert lu_solve_flops(n, 3) == 3 * n * (2 * n - 1)


def test_estimates_of_golub_and_van_loan() -> None:
    assert svd_flops(6, 4, compute_uv=False, full_matrices=False) == (12 * 6 * 16 - 4 * 64) // 3
    assert svd_flops(6, 4, compute_uv=True, full_matrices=False) == 14 * 6 * 16 + 8 * 64
    assert svd_flops(6, 4, compute_uv=True, full_matrices=True) == 4 * 36 * 4 + 8 * 96 + 9 * 64
    assert svd_flops(4, 6, True, False) == svd_flops(6, 4, True, False)  # transposed
    assert eigh_flops(5, compute_v=True) == 9 * 125
    assert eigh_flops(5, compute_v=False) == 4 * 125 // 3
    assert eig_flops(5, compute_v=True) == 25 * 125
    assert eig_flops(5, compute_v=False) == 10 * 125


# -- one aten op per row -------------------------------------------------------------------------


def spd(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Symmetric (Hermitian) positive-definite matrices of shape ``[*, n, n]``."""
    a = torch.randn(*shape, dtype=dtype)
    return a @ a.mH + shape[-1] * torch.eye(shape[-1], dtype=dtype)


def flops_of(fn: object, op: str) -> int:
    row = only_row(count(fn), op)  # type: ignore[arg-type]
    assert row["status"] == "counted"
    assert row["macs"] == 0
    assert row["category"] in ("other", "copy")
    return int(row["flops"])


def test_cholesky_batched_and_complex() -> None:
    a = spd(3, 5, 5)
    assert flops_of(lambda: torch.linalg.cholesky(a), "aten.linalg_cholesky_ex") == 3 * 55
    c = spd(5, 5, dtype=torch.complex64)
    # a complex factorisation costs 4 times the real one
    assert flops_of(lambda: torch.linalg.cholesky(c), "aten.linalg_cholesky_ex") == 4 * 55


def test_cholesky_solve_and_inverse() -> None:
    factor = torch.linalg.cholesky(spd(4, 4))
    b = torch.randn(4, 3)
    assert flops_of(lambda: torch.cholesky_solve(b, factor), "aten.cholesky_solve") == 2 * 3 * 16
    expected = triangular_inverse_flops(4) + triangular_gram_flops(4)
    assert flops_of(lambda: torch.cholesky_inverse(factor), "aten.cholesky_inverse") == expected


@pytest.mark.parametrize(("left", "unit"), [(True, False), (False, False), (True, True)])
def test_solve_triangular(left: bool, unit: bool) -> None:
    a = torch.randn(2, 5, 5).triu() + 5 * torch.eye(5)
    b = torch.randn(2, 5, 3) if left else torch.randn(2, 3, 5)
    op = "aten.linalg_solve_triangular"
    flops = flops_of(
        lambda: torch.linalg.solve_triangular(a, b, upper=True, left=left, unitriangular=unit), op
    )
    assert flops == 2 * triangular_solve_flops(5, 3, unit)


def test_legacy_triangular_solve() -> None:
    a, b = torch.randn(4, 4).tril() + 4 * torch.eye(4), torch.randn(4, 2)
    flops = flops_of(lambda: torch.triangular_solve(b, a, upper=False), "aten.triangular_solve")
    assert flops == 2 * 16


def test_lu_factor_non_square_and_unpack() -> None:
    a = torch.randn(5, 3)
    assert flops_of(lambda: torch.linalg.lu_factor(a), "aten.linalg_lu_factor_ex") == lu_flops(5, 3)
    assert flops_of(lambda: torch.linalg.lu(a), "aten.linalg_lu") == lu_flops(5, 3)
    lu, pivots = torch.linalg.lu_factor(torch.randn(4, 4))
    assert flops_of(lambda: torch.lu_unpack(lu, pivots), "aten.lu_unpack") == 0


def test_lu_solve() -> None:
    lu, pivots = torch.linalg.lu_factor(torch.randn(3, 4, 4))
    b = torch.randn(3, 4, 2)
    flops = flops_of(lambda: torch.linalg.lu_solve(lu, pivots, b), "aten.linalg_lu_solve")
    assert flops == 3 * lu_solve_flops(4, 2)


def test_solve_matrix_vector_and_broadcast() -> None:
    a = torch.randn(3, 4, 4) + 4 * torch.eye(4)
    op = "aten._linalg_solve_ex"
    # three systems with two right-hand sides each: 3 LUs, 6 pairs of substitutions
    assert flops_of(lambda: torch.linalg.solve(a, torch.randn(3, 4, 2)), op) == 3 * (
        lu_flops(4, 4) + 2 * lu_solve_flops(4, 1)
    )
    # one vector right-hand side per system
    assert flops_of(lambda: torch.linalg.solve(a, torch.randn(3, 4)), op) == 3 * (
        lu_flops(4, 4) + lu_solve_flops(4, 1)
    )
    # one matrix, its factorisation shared by a batch of right-hand sides
    single = a[0]
    assert flops_of(lambda: torch.linalg.solve(single, torch.randn(5, 4, 2)), op) == (
        lu_flops(4, 4) + 10 * lu_solve_flops(4, 1)
    )


def test_inverse_det_slogdet() -> None:
    a = torch.randn(2, 4, 4) + 4 * torch.eye(4)
    assert flops_of(lambda: torch.linalg.inv(a), "aten.linalg_inv_ex") == 2 * (
        lu_flops(4, 4) + lu_solve_flops(4, 4)
    )
    assert flops_of(lambda: torch.linalg.det(a), "aten._linalg_det") == 2 * (
        lu_flops(4, 4) + 4 * cost("mul")
    )
    per_entry = cost("abs") + cost("transcendental") + cost("add") + cost("sign") + cost("mul")
    assert flops_of(lambda: torch.linalg.slogdet(a), "aten._linalg_slogdet") == 2 * (
        lu_flops(4, 4) + 4 * per_entry
    )


@pytest.mark.parametrize(("mode", "q_columns"), [("reduced", 4), ("complete", 6), ("r", 0)])
def test_qr_modes(mode: str, q_columns: int) -> None:
    a = torch.randn(6, 4)
    expected = householder_flops(6, 4) + (form_q_flops(6, q_columns, 4) if q_columns else 0)
    assert flops_of(lambda: torch.linalg.qr(a, mode=mode), "aten.linalg_qr") == expected


def test_householder_pieces() -> None:
    a = torch.randn(6, 4)
    assert flops_of(lambda: torch.geqrf(a), "aten.geqrf") == householder_flops(6, 4)
    reflectors, tau = torch.geqrf(a)
    flops = flops_of(
        lambda: torch.linalg.householder_product(reflectors, tau),
        "aten.linalg_householder_product",
    )
    assert flops == form_q_flops(6, 4, 4)
    c = torch.randn(6, 3)
    assert flops_of(lambda: torch.ormqr(reflectors, tau, c), "aten.ormqr") == (
        reflector_apply_flops(6, 4, 3)
    )
    right = torch.randn(2, 6)
    assert flops_of(lambda: torch.ormqr(reflectors, tau, right, left=False), "aten.ormqr") == (
        reflector_apply_flops(6, 4, 2)
    )


def test_svd_variants() -> None:
    a = torch.randn(2, 6, 4)
    op = "aten._linalg_svd"
    assert flops_of(lambda: torch.linalg.svd(a, full_matrices=False), op) == 2 * (
        svd_flops(6, 4, True, False)
    )
    assert flops_of(lambda: torch.linalg.svd(a), op) == 2 * svd_flops(6, 4, True, True)
    values_only = flops_of(lambda: torch.ops.aten._linalg_svd(a, compute_uv=False), op)
    assert values_only == 2 * svd_flops(6, 4, False, False)
    # under any dispatch mode torch's svdvals asks for U and V too (isTensorSubclassLike is
    # true while a mode is active, so it cannot rule out needing them): counted as run
    assert flops_of(lambda: torch.linalg.svdvals(a), op) == 2 * svd_flops(6, 4, True, False)


def test_eigen_decompositions() -> None:
    s, g = spd(5, 5), torch.randn(5, 5)
    assert flops_of(lambda: torch.linalg.eigh(s), "aten._linalg_eigh") == 9 * 125
    values_only = flops_of(
        lambda: torch.ops.aten._linalg_eigh(s, compute_v=False), "aten._linalg_eigh"
    )
    assert values_only == 4 * 125 // 3
    assert flops_of(lambda: torch.linalg.eig(g), "aten.linalg_eig") == 25 * 125
    assert flops_of(lambda: torch.ops.aten._linalg_eigvals(g), "aten._linalg_eigvals") == 10 * 125
    # like svdvals, eigvalsh asks for eigenvectors while a dispatch mode is active
    assert flops_of(lambda: torch.linalg.eigvalsh(s), "aten._linalg_eigh") == 9 * 125


def test_lstsq_drivers() -> None:
    a, b = torch.randn(6, 4), torch.randn(6, 2)
    qr = householder_flops(6, 4) + reflector_apply_flops(6, 4, 2) + triangular_solve_flops(4, 2)
    assert flops_of(lambda: torch.linalg.lstsq(a, b), "aten.linalg_lstsq") == qr  # gelsy
    svd = svd_flops(6, 4, True, False) + 2 * 6 * 4 * 2 + 4 * 2 + 2 * 4 * 4 * 2
    assert flops_of(lambda: torch.linalg.lstsq(a, b, driver="gelsd"), "aten.linalg_lstsq") == svd


def test_ldl_factor_and_solve() -> None:
    a = spd(4, 4)
    assert flops_of(lambda: torch.linalg.ldl_factor(a), "aten.linalg_ldl_factor_ex") == (
        cholesky_flops(4)
    )
    ld, pivots = torch.linalg.ldl_factor(a)
    b = torch.randn(4, 3)
    assert flops_of(lambda: torch.linalg.ldl_solve(ld, pivots, b), "aten.linalg_ldl_solve") == (
        lu_solve_flops(4, 3)
    )


def test_pinv_and_square_root() -> None:
    a = torch.randn(6, 4)
    svd = svd_flops(6, 4, True, False)
    assert flops_of(lambda: torch.linalg.pinv(a), "aten.linalg_pinv") == (
        svd + 3 * 4 + 4 * 4 + 2 * 4 * 4 * 6
    )
    s = spd(5, 5)
    assert flops_of(lambda: torch.linalg.pinv(s, hermitian=True), "aten.linalg_pinv") == (
        9 * 125 + 5 * 5 + 25 + 2 * 125
    )


@pytest.mark.skipif(not hasattr(torch.linalg, "polar"), reason="torch.linalg.polar is newer")
def test_polar_and_hermitian_square_root() -> None:
    a, s = torch.randn(6, 4), spd(5, 5)
    svd = svd_flops(6, 4, True, False)
    assert flops_of(lambda: torch.linalg.polar(a), "aten.linalg_polar") == (
        svd + 3 * 16 + 2 * 64 + 2 * 6 * 16
    )
    assert flops_of(lambda: torch.linalg.matrix_sqrth(s), "aten.linalg_matrix_sqrth") == (
        9 * 125 + 2 * 5 + 3 * 25 + 2 * 125
    )


# -- matrix exponential ----------------------------------------------------------------------------


def profiled_macs(a: torch.Tensor) -> int:
    """The MACs of the matrix products torch's kernel runs for ``matrix_exp(a)``."""
    from torch.profiler import profile

    with profile(record_shapes=True) as prof:
        torch.linalg.matrix_exp(a)
    macs = 0
    for event in prof.events():
        if event.name == "aten::mm":
            (m, k), (_, n) = event.input_shapes[:2]
            macs += m * k * n
        elif event.name == "aten::bmm":
            (b, m, k), (_, _, n) = event.input_shapes[:2]
            macs += b * m * k * n
    return macs


# one matrix per Taylor degree 1, 2, 4, 8, 12, 18, and 18 with 2 and 9 squarings
SCALES = [1e-8, 1e-4, 0.03, 0.3, 1.0, 2.5, 10.0, 1000.0]
PRODUCTS = [0, 1, 2, 3, 4, 5, 7, 14]


@pytest.mark.parametrize(("scale", "products"), list(zip(SCALES, PRODUCTS)))
def test_matrix_exp_follows_the_norm(scale: float, products: int) -> None:
    a = scale * torch.eye(4)
    row = only_row(count(lambda: torch.linalg.matrix_exp(a)), "aten.linalg_matrix_exp")
    assert row["category"] == "matmul"
    assert row["macs"] == products * 64 == profiled_macs(a)
    degree = PRODUCTS.index(min(products, 5))
    combinations = linalg.MEXP_COMBINATIONS[degree] + (1 if products >= 5 else 0)
    assert row["flops"] == 2 * row["macs"] + (2 * 16 + 4) + combinations * 16


def test_matrix_exp_batch_takes_degree_18_for_every_matrix() -> None:
    eye = torch.eye(4)
    a = torch.stack([1e-8 * eye, 0.3 * eye, 10.0 * eye])
    row = only_row(count(lambda: torch.linalg.matrix_exp(a)), "aten.linalg_matrix_exp")
    # degree 18 (5 products) for all three, plus 0, 0 and 2 squarings
    assert row["macs"] == (3 * 5 + 2) * 64 == profiled_macs(a)
    assert row["flops"] == 2 * row["macs"] + 3 * (2 * 16 + 4) + 3 * 49 * 16


def test_matrix_exp_without_values_is_reported_not_guessed() -> None:
    a = torch.empty(4, 4, device="meta")
    counter = count(lambda: torch.linalg.matrix_exp(a))
    unsupported = counter.unsupported_ops()
    assert list(unsupported["op"]) == ["aten.linalg_matrix_exp"]
    assert "norms" in unsupported["reason"].iloc[0]


def test_backward_of_a_factorisation_is_counted_by_its_parts() -> None:
    a = spd(4, 4).requires_grad_()
    counter = count(lambda: torch.linalg.cholesky(a).sum().backward())
    assert counter.complete
    backward = op_rows(counter, "aten.linalg_solve_triangular")
    assert len(backward) >= 1
    assert set(backward["phase"]) == {"backward"}
