"""Linear algebra: factorisations, solves, decompositions, inverses and the matrix exponential.

Each count is the arithmetic of a named reference algorithm on one ``[m, n]`` matrix, times the
batch. Exact sums are used where the algorithm is direct (Cholesky, LU, triangular solves,
Householder QR): every multiply, divide, square root, add and subtract of the algorithm is one
FLOP, written as a closed form of the loop; comparisons of pivot searches are not counted (as in
LAPACK's operation counts, LAPACK Working Note 41). Iterative algorithms (SVD, eigenvalues) have
no exact count; they use the standard estimates of Golub & Van Loan, *Matrix Computations*
(3rd ed., §5.4.5 and §8.3/§7.5), rounded down to an integer.

A complex matrix costs 4 times the real count (a complex multiply-add is 4 real multiplies and
4 real adds), as complex matrix products are counted. Factorisations are category ``other``
with 0 MACs (MACs are only the products of matmul, convolution and attention); the matrix
exponential, a sequence of matrix products, is ``matmul`` with those products as MACs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import OpCountError
from .costs import cost
from .registry import Cost, register
from .shapes import arg, prod

COMPLEX_FACTOR = 4
"""Real FLOPs per FLOP of a factorisation when the matrix is complex."""


def _sum_poly(p: int, c0: int, c1: int, c2: int = 0) -> int:
    """``sum(c0 + c1 k + c2 k^2 for k in range(p))`` in closed form (exact integers)."""
    if p <= 0:
        return 0
    s1 = p * (p - 1) // 2
    s2 = (p - 1) * p * (2 * p - 1) // 6
    return c0 * p + c1 * s1 + c2 * s2


# -- pure counts for one real matrix -------------------------------------------------------------


def cholesky_flops(n: int) -> int:
    """Cholesky ``A = L L^T`` of ``[n, n]``: ``n (n + 1) (2n + 1) / 6``.

    Column ``j`` takes one square root, ``n - j - 1`` divides, and updates the trailing lower
    triangle with ``(n - j - 1)(n - j) / 2`` multiply-subtract pairs: ``n(n+1)(n+2)/6``
    multiplies/divides/roots and ``(n^3 - n)/6`` adds, LAPACK Working Note 41's count for xPOTRF
    (leading term ``n^3 / 3``, Golub & Van Loan's Cholesky count).
    """
    return n * (n + 1) * (2 * n + 1) // 6


def lu_flops(m: int, n: int) -> int:
    """LU with partial pivoting of ``[m, n]`` (right-looking Gaussian elimination).

    Step ``k < min(m, n)`` divides ``m - k - 1`` multipliers and updates the trailing
    ``(m - k - 1) x (n - k - 1)`` block with one multiply and one subtract per element:
    ``sum_k (m-k-1) + 2 (m-k-1)(n-k-1)``. For ``m = n`` this is ``2n^3/3 - n^2/2 - n/6``
    (LAPACK Working Note 41, xGETRF).
    """
    p = min(m, n)
    a, b = m - 1, n - 1
    divides = _sum_poly(p, a, -1)
    updates = _sum_poly(p, a * b, -(a + b), 1)
    return divides + 2 * updates


def triangular_solve_flops(n: int, k: int, unitriangular: bool = False) -> int:
    """Substitution with an ``[n, n]`` triangular matrix for ``k`` right-hand sides.

    Per right-hand side, row ``i`` takes ``i`` multiply-subtract pairs and one divide by the
    diagonal (none if unit): ``k n^2``, or ``k n (n - 1)`` unit-triangular (xTRSM's count).
    """
    return k * (n * (n - 1) + (0 if unitriangular else n))


def lu_solve_flops(n: int, k: int) -> int:
    """Solving with an LU factorisation of ``[n, n]`` for ``k`` right-hand sides.

    A unit lower and an upper substitution: ``k (n (n - 1) + n^2) = k n (2n - 1)`` (row
    exchanges move data only).
    """
    return triangular_solve_flops(n, k, unitriangular=True) + triangular_solve_flops(n, k)


def triangular_inverse_flops(n: int) -> int:
    """Inverse of an ``[n, n]`` triangular matrix (xTRTRI): ``(n - 1) n (2n + 5) / 6 + n``.

    The ``n`` diagonal entries are reciprocals; entry ``(i, j)``, ``i > j``, is an inner product
    of ``i - j`` terms (``i - j`` multiplies and adds) and one divide.
    """
    return (n - 1) * n * (2 * n + 5) // 6 + n


def triangular_gram_flops(n: int) -> int:
    """``X^H X`` for an ``[n, n]`` triangular ``X``, lower triangle only (xLAUUM):
    ``n (n + 1) (2n + 1) / 6``; entry ``(i, j)``, ``i >= j``, sums ``n - i`` products."""
    return n * (n + 1) * (2 * n + 1) // 6


def householder_flops(m: int, n: int) -> int:
    """Householder QR of ``[m, n]``, ``R`` and the reflectors only (xGEQRF).

    Step ``k < min(m, n)`` on the ``L = m - k`` rows below the diagonal: the reflector costs
    ``3L`` (the norm, a multiply and an add per element, and scaling by one divide per
    element; O(1) scalar work not counted), applying it to the ``C = n - k - 1`` columns to its
    right costs ``4LC + C`` (``w = A^T v``: a multiply and an add per element; ``w *= tau``;
    ``A -= v w^T``: a multiply and a subtract per element). Leading term ``2mn^2 - 2n^3/3``
    (Golub & Van Loan, Algorithm 5.2.1).
    """
    p = min(m, n)
    # L = m - k, C = n - 1 - k: 3L + 4LC + C summed over k
    c = n - 1
    three_l = _sum_poly(p, 3 * m, -3)
    four_lc = _sum_poly(p, 4 * m * c, -4 * (m + c), 4)
    return three_l + four_lc + _sum_poly(p, c, -1)


def reflector_apply_flops(m: int, reflectors: int, columns: int) -> int:
    """Applying ``reflectors`` Householder reflectors of an ``[m, *]`` factorisation to
    ``columns`` columns (xORMQR): reflector ``k`` touches ``m - k`` rows, ``4 (m - k) c + c``."""
    return _sum_poly(reflectors, 4 * m * columns + columns, -4 * columns)


def form_q_flops(m: int, n: int, reflectors: int) -> int:
    """Forming the first ``n`` columns of ``Q`` (``[m, n]``) from ``reflectors`` reflectors
    (xORGQR): reflector ``k`` is applied to the ``(m - k) x (n - k)`` block at its corner,
    ``4 (m - k)(n - k) + (n - k)``."""
    # (m - k)(n - k) = mn - (m + n) k + k^2
    return _sum_poly(reflectors, 4 * m * n + n, -4 * (m + n) - 1, 4)


def svd_flops(m: int, n: int, compute_uv: bool, full_matrices: bool) -> int:
    """Golub-Reinsch SVD of ``[m, n]`` (Golub & Van Loan, 3rd ed., §5.4.5), with ``m >= n``
    (else transposed): singular values only ``4mn^2 - 4n^3/3``; with thin ``U`` and ``V``
    ``14mn^2 + 8n^3``; with full ``U`` and ``V`` ``4m^2n + 8mn^2 + 9n^3``. An estimate: the
    algorithm is iterative."""
    m, n = max(m, n), min(m, n)
    if not compute_uv:
        return (12 * m * n * n - 4 * n**3) // 3
    if full_matrices:
        return 4 * m * m * n + 8 * m * n * n + 9 * n**3
    return 14 * m * n * n + 8 * n**3


def eigh_flops(n: int, compute_v: bool) -> int:
    """Symmetric QR algorithm on ``[n, n]`` (Golub & Van Loan §8.3): eigenvalues only
    ``4n^3/3`` (the tridiagonalisation), with eigenvectors ``9n^3``. An estimate."""
    return 9 * n**3 if compute_v else (4 * n**3) // 3


def eig_flops(n: int, compute_v: bool) -> int:
    """Francis QR algorithm on ``[n, n]`` (Golub & Van Loan §7.5.6): eigenvalues only
    ``10n^3``, with the Schur vectors that give the eigenvectors ``25n^3``. An estimate."""
    return 25 * n**3 if compute_v else 10 * n**3


# -- adapters --------------------------------------------------------------------------------


def _batch(t: Any, core: int = 2) -> int:
    """Matrices in a ``[*, m, n]`` tensor (the product of its leading dims)."""
    return prod(t.shape[:-core]) if t.dim() > core else 1


def _scale(flops: int, t: Any) -> int:
    """``flops`` in real FLOPs: ``COMPLEX_FACTOR`` times for a complex matrix."""
    return COMPLEX_FACTOR * flops if t.is_complex() else flops


@register("linalg_cholesky_ex", "cholesky", category="other")
def cholesky(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] -> L
    a = args[0]
    return _scale(_batch(a) * cholesky_flops(int(a.shape[-1])), a), 0


@register("cholesky_solve", "_cholesky_solve_helper", category="other")
def cholesky_solve(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # B: [*, n, k], L: [*, n, n]: solve L y = b, then L^H x = y
    b, factor = args[0], args[1]
    n = int(factor.shape[-1])
    k = int(b.shape[-1])
    return _scale(_batch(out) * 2 * triangular_solve_flops(n, k), factor), 0


@register("cholesky_inverse", category="other")
def cholesky_inverse(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (L L^H)^-1 = L^-H L^-1: invert the triangle, then the triangular Gram product (xPOTRI)
    a = args[0]
    n = int(a.shape[-1])
    return _scale(_batch(a) * (triangular_inverse_flops(n) + triangular_gram_flops(n)), a), 0


@register("linalg_solve_triangular", category="other")
def solve_triangular(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] triangular, B: [*, n, k] (left) or [*, k, n] (right) -> X like B
    a = args[0]
    n = int(a.shape[-1])
    left = kwargs.get("left", True)
    k = int(out.shape[-1] if left else out.shape[-2])
    unit = bool(kwargs.get("unitriangular", False))
    return _scale(_batch(out) * triangular_solve_flops(n, k, unit), a), 0


@register("triangular_solve", category="other")
def triangular_solve(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (B: [*, n, k], A: [*, n, n]) -> (X: [*, n, k], a copy of A)
    a = args[1]
    solution = out[0]
    unit = bool(arg(args, kwargs, 4, "unitriangular", False))
    n, k = int(a.shape[-1]), int(solution.shape[-1])
    return _scale(_batch(solution) * triangular_solve_flops(n, k, unit), a), 0


@register("linalg_lu_factor_ex", "linalg_lu", "_lu_with_info", category="other")
def lu_factor(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, m, n] -> LU (linalg_lu also unpacks P, L, U: copies, no arithmetic)
    a = args[0]
    return _scale(_batch(a) * lu_flops(int(a.shape[-2]), int(a.shape[-1])), a), 0


@register("lu_unpack", category="copy")
def lu_unpack(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # split LU into its triangles and turn pivots into a permutation: data movement only
    return 0, 0


@register("linalg_lu_solve", category="other")
def lu_solve(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # LU: [*, n, n], B: [*, n, k] (left) or [*, k, n] -> X like B
    lu = args[0]
    n = int(lu.shape[-1])
    left = kwargs.get("left", True)
    k = int(out.shape[-1] if left else out.shape[-2])
    return _scale(_batch(out) * lu_solve_flops(n, k), lu), 0


@register("lu_solve", category="other")
def lu_solve_legacy(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (B: [*, n, k], LU: [*, n, n], pivots) -> X
    lu = args[1]
    return _scale(_batch(out) * lu_solve_flops(int(lu.shape[-1]), int(out.shape[-1])), lu), 0


@register("_linalg_solve_ex", category="other")
def solve(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A X = B (left) or X A = B: LU of A (the LU output), then both substitutions for each
    # right-hand side of the broadcast result, of which there are result.numel() / n
    a, result, factors = args[0], out[0], out[1]
    n = int(a.shape[-1])
    rhs = int(result.numel()) // n if n else 0
    flops = _batch(factors) * lu_flops(n, n) + rhs * lu_solve_flops(n, 1)
    return _scale(flops, a), 0


@register("linalg_inv_ex", category="other")
def inverse(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # torch computes A^-1 by solving A X = I: LU, then n right-hand sides
    a = args[0]
    n = int(a.shape[-1])
    return _scale(_batch(a) * (lu_flops(n, n) + lu_solve_flops(n, n)), a), 0


@register("_linalg_det", category="other")
def det(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # LU, then the product of U's diagonal times the permutation's sign: n multiplies
    a = args[0]
    n = int(a.shape[-1])
    return _scale(_batch(a) * (lu_flops(n, n) + n * cost("mul")), a), 0


@register("_linalg_slogdet", category="other")
def slogdet(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # LU, then per diagonal entry: log|u| (abs, log) added to the sum, its sign multiplied in
    a = args[0]
    n = int(a.shape[-1])
    per_entry = cost("abs") + cost("transcendental") + cost("add") + cost("sign") + cost("mul")
    return _scale(_batch(a) * (lu_flops(n, n) + n * per_entry), a), 0


@register("geqrf", category="other")
def geqrf(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, m, n] -> (R and the reflectors, tau)
    a = args[0]
    return _scale(_batch(a) * householder_flops(int(a.shape[-2]), int(a.shape[-1])), a), 0


@register("orgqr", "linalg_householder_product", category="other")
def householder_product(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (reflectors: [*, m, n], tau: [*, t]) -> Q's first n columns
    a, tau = args[0], args[1]
    m, n = int(a.shape[-2]), int(a.shape[-1])
    return _scale(_batch(a) * form_q_flops(m, n, int(tau.shape[-1])), a), 0


@register("ormqr", category="other")
def ormqr(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (reflectors: [*, m, t'], tau: [*, t], C: [*, m, c] (left) or [*, c, m]) -> Q C or C Q
    a, tau, c = args[0], args[1], args[2]
    left = arg(args, kwargs, 3, "left", True)
    m = int(a.shape[-2])
    columns = int(c.shape[-1] if left else c.shape[-2])
    return _scale(_batch(out) * reflector_apply_flops(m, int(tau.shape[-1]), columns), a), 0


@register("linalg_qr", category="other")
def qr(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # Householder QR; mode 'reduced' forms Q's min(m, n) columns, 'complete' all m, 'r' none
    a = args[0]
    mode = arg(args, kwargs, 1, "mode", "reduced")
    m, n = int(a.shape[-2]), int(a.shape[-1])
    p = min(m, n)
    flops = householder_flops(m, n)
    if mode == "reduced":
        flops += form_q_flops(m, p, p)
    elif mode == "complete":
        flops += form_q_flops(m, m, p)
    return _scale(_batch(a) * flops, a), 0


@register("_linalg_svd", category="other")
def svd(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, m, n] -> (U, S, Vh)
    a = args[0]
    full = bool(arg(args, kwargs, 1, "full_matrices", False))
    compute_uv = bool(arg(args, kwargs, 2, "compute_uv", True))
    m, n = int(a.shape[-2]), int(a.shape[-1])
    return _scale(_batch(a) * svd_flops(m, n, compute_uv, full), a), 0


@register("_linalg_eigh", category="other")
def eigh(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] symmetric/Hermitian -> (eigenvalues, eigenvectors)
    a = args[0]
    compute_v = bool(arg(args, kwargs, 2, "compute_v", True))
    return _scale(_batch(a) * eigh_flops(int(a.shape[-1]), compute_v), a), 0


@register("linalg_eig", category="other")
def eig(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] -> (eigenvalues, eigenvectors)
    a = args[0]
    return _scale(_batch(a) * eig_flops(int(a.shape[-1]), True), a), 0


@register("_linalg_eigvals", category="other")
def eigvals(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] -> eigenvalues
    a = args[0]
    return _scale(_batch(a) * eig_flops(int(a.shape[-1]), False), a), 0


def lstsq_flops(m: int, n: int, k: int, driver: str | None) -> int:
    """Least squares ``min ||A x - B||`` for ``A: [m, n]`` and ``k`` right-hand sides.

    QR drivers (``gels``, ``gelsy``, the CPU default): Householder QR of ``A`` (of ``A^T`` if
    ``m < n``), its reflectors applied to ``B`` (to the solution if ``m < n``) and one triangular
    substitution (Golub & Van Loan §5.3.3); ``gelsy``'s column pivoting is not counted. SVD
    drivers (``gelsd``, ``gelss``): a thin SVD, ``U^H B`` (``2mpk``), the division by the
    singular values (``pk``) and ``V`` times the result (``2npk``), ``p = min(m, n)``.
    """
    p = min(m, n)
    if driver in ("gelsd", "gelss"):
        return svd_flops(m, n, True, False) + 2 * m * p * k + p * k + 2 * n * p * k
    tall, wide = max(m, n), min(m, n)
    return (
        householder_flops(tall, wide)
        + reflector_apply_flops(tall, p, k)
        + (triangular_solve_flops(p, k))
    )


@register("linalg_lstsq", category="other")
def lstsq(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (A: [*, m, n], B: [*, m, k] or [*, m]) -> (X, residuals, rank, singular values)
    a, b = args[0], args[1]
    m, n = int(a.shape[-2]), int(a.shape[-1])
    k = 1 if b.dim() == a.dim() - 1 else int(b.shape[-1])
    driver = kwargs.get("driver")
    if driver is None:
        driver = "gelsy" if a.device.type == "cpu" else "gels"
    batch = _batch(out[0], 1 if b.dim() == a.dim() - 1 else 2)
    return _scale(batch * lstsq_flops(m, n, k, driver), a), 0


@register("linalg_ldl_factor_ex", category="other")
def ldl_factor(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] symmetric -> L D L^T (Bunch-Kaufman): the arithmetic of symmetric
    # elimination, Cholesky's count (the 2x2 pivots change lower-order terms only)
    a = args[0]
    return _scale(_batch(a) * cholesky_flops(int(a.shape[-1])), a), 0


@register("linalg_ldl_solve", category="other")
def ldl_solve(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # unit-lower substitution, divide by D, unit-upper substitution: k (2n(n-1) + n)
    ld = args[0]
    n = int(ld.shape[-1])
    k = int(out.shape[-1])
    return _scale(_batch(out) * lu_solve_flops(n, k), ld), 0


def pinv_flops(m: int, n: int, hermitian: bool) -> int:
    """Pseudo-inverse of ``[m, n]`` as torch computes it, ``p = min(m, n)``.

    General: a thin SVD, then per singular value a reciprocal, a compare with the cutoff and a
    select (3p), ``V * S^-1`` (``np``) and ``(V S^-1) U^H`` (``2npm``). Hermitian: eigenvectors
    (``eigh``), ``|lambda|`` and its max (``2n``), the same ``3n``, ``n^2`` and ``2n^3``. The
    cutoff ``max(atol, rtol * sigma_max)`` is O(1) per matrix and not counted.
    """
    if hermitian:
        return eigh_flops(n, True) + 5 * n + n * n + 2 * n**3
    p = min(m, n)
    return svd_flops(m, n, True, False) + 3 * p + n * p + 2 * n * p * m


@register("linalg_pinv", category="other")
def pinv(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, m, n] -> [*, n, m]
    a = args[0]
    hermitian = bool(kwargs.get("hermitian", args[2] if len(args) > 2 else False))
    m, n = int(a.shape[-2]), int(a.shape[-1])
    return _scale(_batch(a) * pinv_flops(m, n, hermitian), a), 0


def polar_flops(m: int, n: int) -> int:
    """Polar decomposition ``A = U H`` of ``[m, n]``, ``m >= n``, through the SVD
    ``A = W S V^H`` as torch runs it on CPU: a thin SVD, ``H = (V S) V^H`` (``n^2 + 2n^3``),
    made exactly Hermitian as ``(H + H^H) / 2`` (``2n^2``), and ``U = W V^H`` (``2mn^2``)."""
    return svd_flops(m, n, True, False) + 3 * n * n + 2 * n**3 + 2 * m * n * n


@register("linalg_polar", category="other")
def polar(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, m, n] -> (U: [*, m, n], H: [*, n, n])
    a = args[0]
    m, n = int(a.shape[-2]), int(a.shape[-1])
    return _scale(_batch(a) * polar_flops(m, n), a), 0


def matrix_sqrth_flops(n: int) -> int:
    """Principal square root of a symmetric positive-definite ``[n, n]`` as torch computes
    it: eigenvectors (``eigh``), ``sqrt(max(lambda, 0))`` (``2n``), ``(V sqrt(L)) V^H``
    (``n^2 + 2n^3``), made exactly symmetric as ``(X + X^H) / 2`` (``2n^2``)."""
    return eigh_flops(n, True) + 2 * n + 3 * n * n + 2 * n**3


@register("linalg_matrix_sqrth", category="other")
def matrix_sqrth(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] -> X with X X = A
    a = args[0]
    return _scale(_batch(a) * matrix_sqrth_flops(int(a.shape[-1])), a), 0


# -- matrix exponential ------------------------------------------------------------------------

_MEXP_THETAS = {
    # torch's norm bounds of the Taylor degrees 1, 2, 4, 8, 12, 18 (Bader, Blanes & Casas 2019)
    "single": (
        1.192092800768788e-07,
        5.978858893805233e-04,
        5.116619363445086e-02,
        5.800524627688768e-01,
        1.461661507209034e00,
        3.010066362817634e00,
    ),
    "double": (
        2.220446049250313e-16,
        2.580956802971767e-08,
        3.397168839976962e-04,
        4.991228871115323e-02,
        2.996158913811580e-01,
        1.090863719290036e00,
    ),
}

MEXP_PRODUCTS = (0, 1, 2, 3, 4, 5)
"""Matrix products of torch's Taylor approximations of degree 1, 2, 4, 8, 12, 18."""

MEXP_COMBINATIONS = (1, 3, 12, 22, 31, 48)
"""FLOPs per matrix element of the same approximations' linear combinations of matrix powers
(a multiply and an add per term: e.g. degree 18 combines 5 powers into 5 matrices, 45, and
adds 3 matrices, 3)."""


def matrix_exp_cost(n: int, norms: Sequence[float], double: bool) -> Cost:
    """``(flops, macs)`` of torch's ``linalg_matrix_exp`` on matrices ``[n, n]`` whose
    1-norms are ``norms``, as torch's kernel runs it.

    A single matrix takes the lowest Taylor degree whose bound its norm does not exceed;
    beyond degree 12's bound, degree 18 on ``A / 2^s`` followed by ``s = max(0,
    ceil(log2(norm / theta_18)))`` squarings (a norm exactly at degree 12's bound is computed
    both ways, as torch does). A batch of several matrices takes degree 18 with its own ``s``
    for every matrix. Per matrix: the 1-norm (``2n^2 + n``), ``n^3`` MACs per product, the
    linear combinations of matrix powers (:data:`MEXP_COMBINATIONS` per element) and, for
    degree 18, the scaling (one per element).
    """
    thetas = _MEXP_THETAS["double" if double else "single"]
    products = 0
    elementwise = 0
    for norm in norms:
        elementwise += 2 * n * n + n
        if len(norms) == 1:
            lower = -1.0
            for degree in range(5):
                if lower < norm <= thetas[degree]:
                    products += MEXP_PRODUCTS[degree]
                    elementwise += MEXP_COMBINATIONS[degree] * n * n
                lower = thetas[degree]
            if norm < thetas[4]:
                continue
        squarings = max(0, math.ceil(math.log2(norm / thetas[5]))) if norm > 0 else 0
        products += MEXP_PRODUCTS[5] + squarings
        elementwise += (MEXP_COMBINATIONS[5] + 1) * n * n
    macs = products * n**3
    return 2 * macs + elementwise, macs


@register("linalg_matrix_exp", category="matmul", reads_values=True)
def matrix_exp(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # A: [*, n, n] -> exp(A); the Taylor degree depends on each matrix's 1-norm
    a = args[0]
    n = int(a.shape[-1])
    batch = _batch(a)
    if n <= 1:  # exp of a scalar per matrix (n == 1) or nothing
        return batch * n * cost("transcendental"), 0
    if a.device.type == "meta" or not _has_data(a):
        raise OpCountError("linalg_matrix_exp's cost depends on the matrix norms; no values")
    with torch.no_grad():
        norms = a.detach().abs().sum(-2).amax(-1).reshape(-1).tolist()
    double = a.dtype in (torch.float64, torch.complex128)
    flops, macs = matrix_exp_cost(n, norms, double)
    if a.is_complex():
        return COMPLEX_FACTOR * flops, COMPLEX_FACTOR * macs
    return flops, macs


def _has_data(t: Any) -> bool:
    """Whether a tensor subclass instance holds real values (fake tensors do not)."""
    try:
        from torch._subclasses.fake_tensor import FakeTensor
    except ImportError:  # pragma: no cover - very old torch
        return True
    return not isinstance(t, FakeTensor)
