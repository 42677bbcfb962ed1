"""The long tail: pairwise distances, bilinear forms, orthogonal polynomials, histograms, set
membership and hashing.

- Distances (``cdist``, ``pdist``) are products in all but name: every pair of rows meets in
  every coordinate. For ``p = 2`` each coordinate is a multiply-accumulate of the difference
  (``(x - y)^2`` added to the sum), so those count as MACs (category ``matmul``); other ``p``
  have no multiply to accumulate and count FLOPs only. Large ``p = 2`` problems run as a real
  matrix product (``_euclidean_dist``), counted as torch runs it.
- ``_trilinear`` (``nn.Bilinear``) is counted as its kernel runs it: per slice of the unrolled
  dim, two batched products (``sumproduct_pair``) and an add; its MACs are the products'.
- ``torch_nn._linear_cross_entropy_batch_chunked`` (``F.linear_cross_entropy`` with chunking
  options) is one custom op holding a linear layer, a cross-entropy and, for a reduced loss,
  the gradients too; counted as its loop runs (category ``matmul``, the products as MACs).
- Orthogonal polynomials of degree ``n`` cost ``n - 1`` steps of their three-term recurrence per
  element, so their cost depends on the degree's values (a tensor without values, meta or fake,
  cannot be counted and is reported unsupported with that reason). torch evaluates a few
  (Chebyshev T, ``n > 6``, ``|x| < 1``) in closed form instead: the recurrence is the count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import OpCountError
from .costs import cost
from .registry import REGISTRY, Cost, register
from .shapes import arg, first_tensor, prod

# -- distances -----------------------------------------------------------------------------------


def _distance_kind(p: float) -> str:
    """``"2"``, ``"simple"`` (p = 0, 1, inf) or ``"general"``."""
    if p == 2:
        return "2"
    if p in (0, 1) or math.isinf(p):
        return "simple"
    return "general"


def distance_cost(pairs: int, dims: int, p: float) -> Cost:
    """``(flops, macs)`` of ``pairs`` p-distances between vectors of ``dims`` coordinates.

    Per coordinate ``distance`` (``distance_p`` for a general ``p``); per pair
    ``distance_root`` for ``p = 2`` (sqrt) and a general ``p`` (``1/p`` power). For ``p = 2``
    the coordinates are multiply-accumulates: ``macs = pairs * dims``.
    """
    kind = _distance_kind(p)
    per_coordinate = cost("distance_p") if kind == "general" else cost("distance")
    flops = pairs * dims * per_coordinate
    if kind != "simple":
        flops += pairs * cost("distance_root")
    return flops, (pairs * dims if kind == "2" else 0)


def euclidean_dist_cost(batch: int, rows1: int, rows2: int, dims: int) -> Cost:
    """``(flops, macs)`` of torch's ``_euclidean_dist`` on ``[rows1, dims]`` and
    ``[rows2, dims]``, as it runs: squared norms of every row (a multiply and an add per
    element), ``-2 x1``, one product ``[x1 * -2, |x1|^2, 1] @ [x2, 1, |x2|^2]^T`` with
    ``dims + 2`` terms, then ``clamp_min(0)`` and ``sqrt`` per pair."""
    macs = batch * rows1 * rows2 * (dims + 2)
    norms = batch * (rows1 + rows2) * dims * (cost("mul") + cost("add"))
    scale = batch * rows1 * dims * cost("mul")
    finish = batch * rows1 * rows2 * (cost("compare") + cost("transcendental"))
    return 2 * macs + norms + scale + finish, macs


def _uses_mm(p: float, mode: Any, rows1: int, rows2: int) -> bool:
    """Whether ``_cdist_forward`` computes through ``_euclidean_dist`` (torch's rule)."""
    mode = 0 if mode is None else int(mode)
    return p == 2 and (mode == 1 or (mode == 0 and (rows1 > 25 or rows2 > 25)))


@register("_cdist_forward", category="matmul")
def cdist_forward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x1: [*, P, M], x2: [*, R, M] -> [*, P, R]
    x1, x2 = args[0], args[1]
    p = float(arg(args, kwargs, 2, "p", 2.0))
    mode = arg(args, kwargs, 3, "compute_mode")
    rows1, rows2, dims = int(x1.shape[-2]), int(x2.shape[-2]), int(x1.shape[-1])
    batch = prod(out.shape[:-2])
    if _uses_mm(p, mode, rows1, rows2):
        return euclidean_dist_cost(batch, rows1, rows2, dims)
    return distance_cost(batch * rows1 * rows2, dims, p)


@register("_euclidean_dist", category="matmul")
def euclidean_dist(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x1: [*, P, M], x2: [*, R, M] -> [*, P, R], through one matrix product
    x1, x2 = args[0], args[1]
    batch = prod(out.shape[:-2])
    return euclidean_dist_cost(batch, int(x1.shape[-2]), int(x2.shape[-2]), int(x1.shape[-1]))


def distance_backward_cost(pairs: int, dims: int, p: float) -> Cost:
    """``(flops, macs)`` of the gradient of ``pairs`` p-distances with respect to one side.

    ``p = 0`` has a zero gradient (nothing computed); ``p = 1, 2, inf``: ``distance_backward``
    per coordinate; other ``p``: ``distance_backward_p`` per coordinate and ``distance_root``
    per pair (``distance^(p - 1)``). ``p = 2`` accumulates ``dy * diff / dist``: MACs.
    """
    if p == 0:
        return 0, 0
    kind = _distance_kind(p)
    if kind == "general":
        return pairs * dims * cost("distance_backward_p") + pairs * cost("distance_root"), 0
    return pairs * dims * cost("distance_backward"), (pairs * dims if kind == "2" else 0)


@register("_cdist_backward", category="matmul")
def cdist_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad: [*, P, R], x1: [*, P, M], x2: [*, R, M], p, cdist) -> grad of x1: [*, P, M]
    grad, x1 = args[0], args[1]
    p = float(arg(args, kwargs, 3, "p", 2.0))
    pairs = int(grad.numel())
    return distance_backward_cost(pairs, int(x1.shape[-1]), p)


@register("_pdist_forward", category="matmul")
def pdist_forward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x: [N, M] -> the N (N - 1) / 2 distances between its rows
    x = args[0]
    p = float(arg(args, kwargs, 1, "p", 2.0))
    return distance_cost(int(out.numel()), int(x.shape[-1]), p)


@register("_pdist_backward", category="matmul")
def pdist_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad: [N (N - 1) / 2], x: [N, M], p, pdist) -> grad of x: each pair's gradient goes to
    # both of its rows, one more add per coordinate
    x = args[1]
    p = float(arg(args, kwargs, 2, "p", 2.0))
    pairs, dims = int(args[0].numel()), int(x.shape[-1])
    flops, macs = distance_backward_cost(pairs, dims, p)
    if p != 0:
        flops += pairs * dims * cost("add")
    return flops, macs


# -- bilinear forms ------------------------------------------------------------------------------


def _full_shape(t: Any, expand: Sequence[int], total: int) -> list[int]:
    """``t``'s shape after ``_trilinear`` unsqueezes it at the ``expand`` dims."""
    sizes = [int(s) for s in t.shape]
    expanded = set(int(d) % total for d in expand)
    full = []
    for d in range(total):
        full.append(1 if d in expanded else sizes.pop(0))
    return full


def sumproduct_pair_cost(
    left: Sequence[int], right: Sequence[int], sum_dims: Sequence[int]
) -> tuple[int, int, list[int]]:
    """``(macs, adds, result shape)`` of torch's ``sumproduct_pair(left, right, sum_dims,
    keepdim=True)``: a summed dim only one side has is summed out of it first (an add per
    element of that side), then one batched product, a MAC per element of the broadcast."""
    left, right = list(left), list(right)
    adds = 0
    for d in sum_dims:
        if left[d] != 1 and right[d] == 1:
            adds += prod(left)
            left[d] = 1
        elif right[d] != 1 and left[d] == 1:
            adds += prod(right)
            right[d] = 1
    broadcast = [max(a, b) for a, b in zip(left, right)]
    result = [1 if d in sum_dims else size for d, size in enumerate(broadcast)]
    return prod(broadcast), adds, result


def trilinear_cost(
    shapes: Sequence[Sequence[int]], expand3: set[int], sumdim: set[int], unroll_dim: int
) -> Cost:
    """``(flops, macs)`` of ``_trilinear`` on inputs already unsqueezed to ``shapes``.

    For each of the ``u`` slices of ``unroll_dim``: ``i1 * i2`` summed over the summed dims
    ``i3`` lacks, then times ``i3`` summed over the other summed dims (each a
    :func:`sumproduct_pair`), then the slice is added into the output.
    """
    total = len(shapes[0])
    sum12 = [d for d in range(total) if d in sumdim and d in expand3 and d != unroll_dim]
    sum23 = [d for d in range(total) if d in sumdim and d not in expand3 and d != unroll_dim]
    unroll = max(int(s[unroll_dim]) for s in shapes)
    s1, s2, s3 = ([1 if d == unroll_dim else int(x) for d, x in enumerate(s)] for s in shapes)
    macs1, adds1, buf = sumproduct_pair_cost(s1, s2, sum12)
    macs2, adds2, result = sumproduct_pair_cost(buf, s3, sum23)
    macs = unroll * (macs1 + macs2)
    adds = unroll * (adds1 + adds2 + prod(result))
    return 2 * macs + adds * cost("add"), macs


@register("_trilinear", category="matmul")
def trilinear(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # nn.Bilinear: _trilinear(x1, W, x2, expand1, expand2, expand3, sumdim, unroll_dim)
    tensors = args[0:3]
    expands = [arg(args, kwargs, 3 + i, f"expand{i + 1}") for i in range(3)]
    sumdim = arg(args, kwargs, 6, "sumdim")
    total = tensors[0].dim() + len(expands[0])
    unroll_dim = int(arg(args, kwargs, 7, "unroll_dim", 1)) % total
    shapes = [_full_shape(t, e, total) for t, e in zip(tensors, expands)]
    if any(prod(s) == 0 for s in shapes):
        return 0, 0
    expand3 = {int(d) % total for d in expands[2]}
    return trilinear_cost(shapes, expand3, {int(d) % total for d in sumdim}, unroll_dim)


# -- orthogonal polynomials ------------------------------------------------------------------------


def _has_values(t: Tensor) -> bool:
    if t.device.type == "meta":
        return False
    try:
        from torch._subclasses.fake_tensor import FakeTensor
    except ImportError:  # pragma: no cover - very old torch
        return True
    return not isinstance(t, FakeTensor)


def recurrence_steps(degree: Any, out: Tensor) -> int:
    """Sum over the output's elements of ``max(n - 1, 0)``, ``n`` the (broadcast, truncated)
    degree: a Python number or a tensor holding values."""
    if not isinstance(degree, Tensor):
        return max(int(degree) - 1, 0) * int(out.numel())
    if not _has_values(degree):
        raise OpCountError("a polynomial's cost depends on its degree's values; none here")
    with torch.no_grad():
        steps = (degree.detach().to(torch.int64) - 1).clamp_min(0)
        return int(steps.expand(out.shape).sum().item()) if out.numel() else 0


@register(
    "special_chebyshev_polynomial_t",
    "special_chebyshev_polynomial_u",
    "special_chebyshev_polynomial_v",
    "special_chebyshev_polynomial_w",
    "special_shifted_chebyshev_polynomial_t",
    "special_shifted_chebyshev_polynomial_u",
    "special_shifted_chebyshev_polynomial_v",
    "special_shifted_chebyshev_polynomial_w",
    "special_hermite_polynomial_h",
    "special_hermite_polynomial_he",
    "special_laguerre_polynomial_l",
    "special_legendre_polynomial_p",
    category="elementwise",
    reads_values=True,  # a degree given as a tensor: the steps follow its values
)
def orthogonal_polynomial(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (x, n) -> p_n(x) per broadcast element: n - 1 recurrence steps
    degree = arg(args, kwargs, 1, "n")
    return recurrence_steps(degree, out) * cost("polynomial_step"), 0


# -- histograms ----------------------------------------------------------------------------------


def _search_compares(edges: int) -> int:
    """Compares of one binary search among ``edges`` sorted edges: ``ceil(log2(edges + 1))``."""
    return math.ceil(math.log2(edges + 1)) if edges > 0 else 0


def _density_flops(bins: int) -> int:
    """``density=True``: add the bins into the total, then one multiply and one divide per bin
    (count over total times width)."""
    return bins * (cost("add") + cost("mul") + cost("div"))


@register("histogram", category="reduction")
def histogram(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (x, bins: int or edges tensor, range=None, weight=None, density=False) -> (hist, edges)
    x, bins = args[0], arg(args, kwargs, 1, "bins", 100)
    n = int(x.numel())
    hist = first_tensor(out)
    if isinstance(bins, Tensor):
        # per element: binary search among the edges, add to its bin
        flops = n * (_search_compares(int(bins.numel())) * cost("sort_compare") + cost("add"))
    else:
        # per element like histc; without a range, a min and a max compare first
        flops = n * cost("histogram_bin")
        if arg(args, kwargs, 2, "range") is None:
            flops += 2 * n * cost("reduce_compare")
    if kwargs.get("density", False):
        flops += _density_flops(int(hist.numel()))
    return flops, 0


@register("_histogramdd_bin_edges", category="reduction")
def histogramdd_bin_edges(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x: [*, D] -> D edge tensors; without a range, the min and max of every coordinate
    x = args[0]
    if arg(args, kwargs, 2, "range") is not None:
        return 0, 0
    return 2 * int(x.numel()) * cost("reduce_compare"), 0


@register("_histogramdd_from_bin_cts", category="reduction")
def histogramdd_from_bin_cts(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x: [*, D], bins per coordinate: every coordinate binned like histc (its min and max
    # found first without a range), one add per sample into its bin
    x = args[0]
    values = int(x.numel())
    samples = values // int(x.shape[-1]) if x.dim() and x.shape[-1] else 0
    flops = values * (cost("histogram_bin") - cost("add")) + samples * cost("add")
    if arg(args, kwargs, 2, "range") is None:
        flops += 2 * values * cost("reduce_compare")
    if kwargs.get("density", False):
        flops += _density_flops(int(out.numel()))
    return flops, 0


@register("_histogramdd_from_bin_tensors", category="reduction")
def histogramdd_from_bin_tensors(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # x: [*, D], D edge tensors: a binary search per coordinate, one add per sample
    x, edges = args[0], arg(args, kwargs, 1, "bins")
    dims = int(x.shape[-1]) if x.dim() else 1
    samples = int(x.numel()) // dims if dims else 0
    searches = sum(_search_compares(int(e.numel())) for e in edges)
    flops = samples * (searches * cost("sort_compare") + cost("add"))
    if kwargs.get("density", False):
        flops += _density_flops(int(out.numel()))
    return flops, 0


# -- set membership, hashing -------------------------------------------------------------------


def _count(value: Any) -> int:
    return int(value.numel()) if isinstance(value, Tensor) else 1


@register("isin", category="other")
def isin(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (elements, test_elements): torch compares every pair when the test set is small
    # (fewer than 10 * n^0.145 values, numpy's rule), else sorts both together and compares
    # neighbours
    elements = _count(arg(args, kwargs, 0, "elements"))
    tests = _count(arg(args, kwargs, 1, "test_elements"))
    if elements == 0:
        return 0, 0
    if tests < int(10.0 * elements**0.145):
        return elements * tests * cost("compare"), 0
    total = elements + tests
    sort = total * (math.ceil(math.log2(total)) if total > 1 else 0)
    return sort * cost("sort_compare") + total * cost("compare"), 0


@register("hash_tensor", category="reduction")
def hash_tensor(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # the bits of every element folded into the hash: one logical operation each
    return int(args[0].numel()) * cost("logical"), 0


# -- fused linear + cross-entropy (torch.nn.functional.linear_cross_entropy, chunked) ----------


def linear_cross_entropy_cost(
    rows: int,
    features: int,
    classes: int,
    *,
    bias: bool,
    probability_target: bool,
    grads: tuple[bool, bool, bool] = (False, False, False),
) -> Cost:
    """``(flops, macs)`` of torch's chunked linear + cross-entropy on ``rows`` inputs of
    ``features`` and ``classes`` classes, summed over its chunks as its loop runs them.

    Per (row, class): the logit ``x . w`` (``features`` MACs), the bias add, the row max
    (compare), the shift (subtract), ``exp`` and the row sum (add). Per row: ``log`` of the sum
    and two dot-product terms of the loss (a multiply and an add each); a probability target
    adds its dense dot product and row mass (3 per element). With gradients (``grads`` =
    input, weight, bias), computed in the same pass: the scale to the softmax (a multiply per
    element, a divide per row), minus the target (an add per row, per element for a
    probability target), the bias gradient's column sums (an add per element), and the input
    and weight gradients, ``features`` MACs per element each.
    """
    elements = rows * classes
    macs = elements * features
    flops = elements * (cost("compare") + cost("add") + cost("transcendental") + cost("add"))
    flops += rows * (cost("transcendental") + 2 * (cost("mul") + cost("add")))
    if bias:
        flops += elements * cost("bias_add")
    if probability_target:
        flops += elements * (cost("mul") + 2 * cost("add"))
    if any(grads):
        flops += elements * cost("mul") + rows * cost("div")
        flops += (elements if probability_target else rows) * cost("add")
        if grads[2]:
            flops += elements * cost("add")
        macs += elements * features * (int(grads[0]) + int(grads[1]))
    return 2 * macs + flops, macs


def _linear_cross_entropy(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input [N, H], linear_weight [C, H], target, linear_bias, weight, ...); the scalar
    # variant's last three arguments ask for the gradients, computed in the forward pass
    x, w, target, bias = args[0], args[1], args[2], args[3]
    flags = [bool(g) for g in args[12:15]] if len(args) >= 15 else []
    grads = (*flags, False, False, False)
    return linear_cross_entropy_cost(
        int(x.shape[0]),
        int(w.shape[-1]),
        int(w.shape[0]),
        bias=bias is not None,
        probability_target=bool(target.is_floating_point()),
        grads=(grads[0], grads[1], grads[2]),
    )


def _register_linear_cross_entropy() -> None:
    """Register the formula for torch's custom ops, where this torch has them (defining
    them needs their module imported, as ``F.linear_cross_entropy`` does on first use)."""
    try:
        import torch.nn.modules.linear_cross_entropy
    except ImportError:
        return
    namespace = torch.ops.torch_nn
    for name in (
        "_linear_cross_entropy_batch_chunked",
        "_linear_cross_entropy_batch_chunked_no_reduction",
    ):
        try:
            packet = getattr(namespace, name)
        except (AttributeError, RuntimeError):
            continue
        REGISTRY.add(packet, _linear_cross_entropy, "matmul")


_register_linear_cross_entropy()
