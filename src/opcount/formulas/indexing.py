"""Embeddings, gathers, scatters and indexed updates, and index searches (nonzero, unique, ...).

Gathering, scattering and copying by index move data and cost 0 FLOPs (``embedding``,
``index_select``, ``gather``, ``index``, ``take``, ``scatter``, ``index_copy``, ``*_scatter``, ...).
An indexed update that combines values costs one operation per value combined: an accumulating
``index_put``/``put``, ``scatter_add``, ``index_add`` and ``scatter_reduce``/``index_reduce``
count ``reduce_add`` (sum), ``reduce_mul`` (prod) or ``reduce_compare`` (amax/amin) per source
element used; ``mean`` also counts the per-destination element counts (one add per source
element) and one ``reduce_divide`` per destination element.

Counts never depend on tensor values where shapes suffice: ``embedding_dense_backward`` counts one
add per gradient element (rows at ``padding_idx`` included), ``embedding_renorm_`` counts every
looked-up row as measured and rescaled. Value-dependent shapes (boolean masks) are read from
the data, as the op itself must.

Searches: ``nonzero`` compares every element with zero; ``unique`` sorts then compares
neighbours; ``searchsorted``/``bucketize`` binary-search ``ceil(log2(m + 1))`` compares per
query among ``m`` boundaries.

Categories: ``embedding`` for embedding ops, ``copy`` for gathers, scatters and indexed updates,
``other`` for index searches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .costs import cost
from .norm import renorm_cost
from .reduction import ceil_log2, sort_compares
from .registry import Cost, register
from .shapes import arg, first_tensor, numel, prod

# _embedding_bag modes
_SUM, _MEAN, _MAX = 0, 1, 2


# -- embeddings ----------------------------------------------------------------------------


@register("embedding", category="embedding")
def embedding(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (weight, indices, ...): a gather of rows
    return 0, 0


@register("embedding_dense_backward", category="embedding")
def embedding_dense_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output [*, dim], indices, num_weights, padding_idx, scale_grad_by_freq): add every
    # gradient row into its weight row; scale_grad_by_freq also divides by the row's count
    n = numel(args[0])
    flops = n * cost("reduce_add")
    if arg(args, kwargs, 4, "scale_grad_by_freq", False):
        flops += n * cost("index_scale")
    return flops, 0


@register("embedding_renorm", "embedding_renorm_", category="embedding")
def embedding_renorm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self [num, dim], indices, max_norm, norm_type): per looked-up row its norm, a compare,
    # and the rescale of the row (counted for every row, whatever its norm)
    weight, indices = args[0], args[1]
    rows, dim = numel(indices), int(weight.shape[-1])
    norm_type = arg(args, kwargs, 3, "norm_type", 2.0)
    return renorm_cost(rows * dim, rows, norm_type), 0


def embedding_bag_cost(
    weight: Any, indices: Any, bags: int, mode: int, per_sample_weights: Any
) -> int:
    """FLOPs of reducing the looked-up rows into ``bags`` bags."""
    dim = int(weight.shape[-1])
    values = numel(indices) * dim
    if mode == _MAX:
        return values * cost("reduce_compare")
    flops = values * cost("reduce_add")
    if per_sample_weights is not None:
        flops += values * cost("index_scale")
    if mode == _MEAN:
        flops += bags * dim * cost("reduce_divide")
    return flops


@register("_embedding_bag", "_embedding_bag_forward_only", category="embedding")
def embedding_bag(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
    #  include_last_offset, padding_idx) -> (output [bags, dim], ...)
    bags = int(first_tensor(out).shape[0])
    mode = int(arg(args, kwargs, 4, "mode", _SUM))
    psw = arg(args, kwargs, 6, "per_sample_weights")
    return embedding_bag_cost(args[0], args[1], bags, mode, psw), 0


def embedding_bag_backward_cost(
    grad: Any, indices: Any, mode: int, per_sample_weights: Any, scale_grad_by_freq: bool
) -> int:
    """FLOPs of the dense weight gradient of an embedding bag."""
    bags, dim = int(grad.shape[0]), int(grad.shape[-1])
    if mode == _MAX:
        return bags * dim * cost("reduce_add")  # each bag's gradient added at its argmax rows
    values = numel(indices) * dim
    flops = values * cost("reduce_add")
    if per_sample_weights is not None:
        flops += values * cost("index_scale")
    if mode == _MEAN:
        flops += values * cost("reduce_divide")  # the bag's gradient divided by its size
    if scale_grad_by_freq:
        flops += values * cost("index_scale")
    return flops


@register("_embedding_bag_backward", category="embedding")
def embedding_bag_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, indices, offsets, offset2bag, bag_size, maximum_indices, num_weights,
    #  scale_grad_by_freq, mode, sparse, per_sample_weights, padding_idx)
    return (
        embedding_bag_backward_cost(
            args[0],
            args[1],
            int(arg(args, kwargs, 8, "mode", _SUM)),
            arg(args, kwargs, 10, "per_sample_weights"),
            bool(arg(args, kwargs, 7, "scale_grad_by_freq", False)),
        ),
        0,
    )


@register("_embedding_bag_dense_backward", category="embedding")
def embedding_bag_dense_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad, indices, offset2bag, bag_size, maximum_indices, num_weights, scale_grad_by_freq,
    #  mode, per_sample_weights, padding_idx)
    return (
        embedding_bag_backward_cost(
            args[0],
            args[1],
            int(arg(args, kwargs, 7, "mode", _SUM)),
            arg(args, kwargs, 8, "per_sample_weights"),
            bool(arg(args, kwargs, 6, "scale_grad_by_freq", False)),
        ),
        0,
    )


@register("_embedding_bag_per_sample_weights_backward", category="embedding")
def embedding_bag_per_sample_weights_backward(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> Cost:
    # (grad [bags, dim], weight, indices, offsets, offset2bag, mode, padding_idx): per looked-up
    # row, the dot product of its bag's gradient with the row (multiply, add per element)
    dim = int(args[0].shape[-1])
    return numel(args[2]) * dim * (cost("index_scale") + cost("reduce_add")), 0


# -- gathers, scatters, copies by index ----------------------------------------------------


@register(
    "index_select",
    "gather",
    "index",
    "_unsafe_index",
    "_unsafe_masked_index",
    "take",
    "masked_scatter",
    "masked_scatter_",
    "masked_scatter_backward",
    "index_copy",
    "index_copy_",
    "index_fill",
    "index_fill_",
    "select_scatter",
    "slice_scatter",
    "diagonal_scatter",
    "as_strided_scatter",
    category="copy",
)
def gather_scatter_copy(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # elements copied by index (or mask, or view): data movement only
    return 0, 0


def reduce_cost(reduce: str, sources: int, destinations: int) -> int:
    """FLOPs of combining ``sources`` values into ``destinations`` elements by ``reduce``."""
    if reduce in ("sum", "add"):
        return sources * cost("reduce_add")
    if reduce in ("prod", "multiply"):
        return sources * cost("reduce_mul")
    if reduce in ("amax", "amin"):
        return sources * cost("reduce_compare")
    if reduce == "mean":
        # add each source, count it (one add), divide each destination by its count
        return 2 * sources * cost("reduce_add") + destinations * cost("reduce_divide")
    raise ValueError(f"unknown reduce {reduce!r}")


@register("scatter", "scatter_", category="copy")
def scatter(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, index, src | value, *, reduce=None): index.numel() elements written; with
    # reduce="add"/"multiply" each is combined with the destination
    reduce = kwargs.get("reduce", args[4] if len(args) > 4 else None)
    if reduce is None:
        return 0, 0
    return reduce_cost(str(reduce), numel(args[2]), numel(args[0])), 0


@register("scatter_add", "scatter_add_", category="copy")
def scatter_add(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, index, src): one add per index element (src may be larger than index)
    return numel(args[2]) * cost("reduce_add"), 0


@register("scatter_reduce", "scatter_reduce_", category="copy")
def scatter_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, index, src, reduce, *, include_self=True)
    reduce = str(arg(args, kwargs, 4, "reduce"))
    return reduce_cost(reduce, numel(args[2]), numel(args[0])), 0


@register("index_add", "index_add_", category="copy")
def index_add(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, index, source, *, alpha=1): add every source element; alpha != 1 scales it
    n = numel(args[3])
    alpha = arg(args, kwargs, 4, "alpha", 1)
    return n * cost("reduce_add") + (n * cost("index_scale") if alpha != 1 else 0), 0


@register("index_reduce", "index_reduce_", category="copy")
def index_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, index, source, reduce, *, include_self=True)
    reduce = str(arg(args, kwargs, 4, "reduce"))
    return reduce_cost(reduce, numel(args[3]), numel(args[0])), 0


def indexed_numel(x: Any, indices: Sequence[Any]) -> int:
    """Elements of ``x[indices]`` (advanced indexing): the broadcast index shape times the
    dims no index covers. A boolean mask covers as many dims as it has and contributes its
    number of True elements."""
    position = 0  # the dim of x the next index applies to
    sliced = 1  # dims taken whole (a None index)
    shapes: list[tuple[int, ...]] = []
    for index in indices:
        if index is None:
            sliced *= int(x.shape[position])
            position += 1
        elif index.dtype in (torch.bool, torch.uint8):
            shapes.append((int(index.count_nonzero()),))
            position += index.dim()
        else:
            shapes.append(tuple(int(s) for s in index.shape))
            position += 1
    indexed = prod(torch.broadcast_shapes(*shapes)) if shapes else 1
    return indexed * sliced * prod(x.shape[position:])


@register(
    "index_put",
    "index_put_",
    "_index_put_impl",
    "_index_put_impl_",
    "_unsafe_index_put",
    category="copy",
    reads_values=True,  # a boolean mask index counts its True elements
)
def index_put(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, indices, values, accumulate=False, ...): accumulate adds one value per indexed
    # element (values broadcast to the indexed shape)
    if not arg(args, kwargs, 3, "accumulate", False):
        return 0, 0
    return indexed_numel(args[0], args[1]) * cost("reduce_add"), 0


@register("_unsafe_masked_index_put_accumulate", category="copy", reads_values=True)
def unsafe_masked_index_put_accumulate(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> Cost:
    # (self, mask, indices, values): add the values where mask is set (counted for all)
    return indexed_numel(args[0], args[2]) * cost("reduce_add"), 0


@register("put", "put_", category="copy")
def put(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, index, source, accumulate=False): accumulate adds one source element per index
    if not arg(args, kwargs, 3, "accumulate", False):
        return 0, 0
    return numel(args[1]) * cost("reduce_add"), 0


# -- index searches ------------------------------------------------------------------------


@register("nonzero", "nonzero_static", category="other")
def nonzero(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # compare every element with zero
    return numel(args[0]) * cost("reduce_compare"), 0


@register("_unique", "_unique2", category="other")
def unique(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, sorted=True, ...): sort the flattened input, compare neighbours (counted sorted,
    # as the CPU and CUDA kernels sort whatever ``sorted`` asks)
    n = numel(args[0])
    return (sort_compares(1, n) + n) * cost("sort_compare"), 0


@register("unique_consecutive", "unique_dim_consecutive", category="other")
def unique_consecutive(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, return_inverse, return_counts, dim=None) / (self, dim, ...): compare each element
    # (or slice along dim, element by element) with its predecessor
    return numel(args[0]) * cost("sort_compare"), 0


@register("unique_dim", category="other")
def unique_dim(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, dim, ...): sort the r slices along dim (each comparison reads a whole slice of w
    # elements), then compare neighbours
    x = args[0]
    dim = int(arg(args, kwargs, 1, "dim"))
    r = int(x.shape[dim])
    w = numel(x) // r if r else 0
    return (sort_compares(1, r) + r) * w * cost("sort_compare"), 0


@register("searchsorted", category="other")
def searchsorted(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (sorted_sequence [..., m], self, ...): binary search per query
    boundaries = int(args[0].shape[-1]) if args[0].dim() else 1
    return _queries(args[1], out) * ceil_log2(boundaries + 1) * cost("sort_compare"), 0


@register("bucketize", category="other")
def bucketize(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (self, boundaries [m], ...): binary search per element
    boundaries = numel(args[1])
    return _queries(args[0], out) * ceil_log2(boundaries + 1) * cost("sort_compare"), 0


def _queries(values: Any, out: Any) -> int:
    """Queries of a search: the elements of ``values``, or 1 for a scalar."""
    return numel(values) if isinstance(values, Tensor) else max(numel(first_tensor(out)), 1)
