"""Copies, fills and data movement: zero FLOPs, category ``copy``, status counted.

These ops write memory (the core measures their bytes read and written) but do no arithmetic:
dtype/device conversion, concatenation, padding, repetition, flips and rolls, triangular masking
(a select of kept elements), filled and range-initialised tensors (``arange``/``linspace``
generate positions, not arithmetic on data), materialised views (``*_copy``), and the backward
of slicing ops (a zero-filled tensor with the gradient copied in). The exception is the backward
of reflection/replication padding, which adds every ``grad_output`` element into ``grad_input``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .registry import Cost, register


@register(
    # conversion and plain copies
    "_to_copy",
    "copy",
    "copy_",
    "_copy_from",
    "_copy_from_and_resize",
    "clone",
    "_lazy_clone",
    "lift_fresh_copy",
    "_to_dense",
    "to_dense",
    "_pin_memory",
    "complex",  # interleave real and imaginary parts
    # joining, padding, repeating, reordering
    "cat",
    "_cat",
    "stack",
    "_stack",
    "_chunk_cat",
    "block_diag",
    "diag_embed",
    "constant_pad_nd",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
    "repeat",
    "flip",
    "roll",
    "rot90",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "native_channel_shuffle",
    "masked_select",  # keep the elements where mask is true: a compaction, no arithmetic
    # triangular masks: keep or zero each element
    "tril",
    "tril_",
    "triu",
    "triu_",
    # fills and initialised tensors
    "fill",
    "fill_",
    "zero",
    "zero_",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "scalar_tensor",
    "_efficientzerotensor",
    "eye",
    "arange",
    "range",
    "linspace",
    "logspace",
    "tril_indices",
    "triu_indices",
    # backward of views and slicing: zeros with the gradient copied into the viewed region
    "select_backward",
    "slice_backward",
    "diagonal_backward",
    # materialised views
    "alias_copy",
    "as_strided_copy",
    "detach_copy",
    "diagonal_copy",
    "expand_copy",
    "narrow_copy",
    "permute_copy",
    "select_copy",
    "slice_copy",
    "split_copy",
    "split_with_sizes_copy",
    "squeeze_copy",
    "t_copy",
    "transpose_copy",
    "unbind_copy",
    "unfold_copy",
    "unsqueeze_copy",
    "view_copy",
    "view_as_real_copy",
    "view_as_complex_copy",
    "_reshape_copy",
    "_reshape_alias_copy",
    "_indices_copy",
    "_values_copy",
    "indices_copy",
    "values_copy",
    "crow_indices_copy",
    "col_indices_copy",
    "ccol_indices_copy",
    "row_indices_copy",
    "_nested_view_from_buffer_copy",
    "repeat_interleave",  # the Tensor-repeats overload: a data-dependent copy
    category="copy",
)
def data_movement(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # no arithmetic: 0 FLOPs (bytes are measured by the core)
    return 0, 0


@register(
    "reflection_pad1d_backward",
    "reflection_pad2d_backward",
    "reflection_pad3d_backward",
    "replication_pad1d_backward",
    "replication_pad2d_backward",
    "replication_pad3d_backward",
    category="copy",
)
def pad_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_output, self, padding): grad_input is zeroed, then every grad_output element is
    # added into the input position it was read from: one add per grad_output element
    return cost("add") * int(args[0].numel()), 0


@register("unfold_backward", category="copy")
def unfold_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_in, input_sizes, dim, size, step): backward of Tensor.unfold (a view of windows);
    # the gradient is zeroed, then every window element is added into its position (windows
    # may overlap): one add per element of grad_in
    return cost("add") * int(args[0].numel()), 0
