"""Ops that are free by definition: views, metadata queries and uninitialised allocation.

They do no arithmetic and move no data (a view shares its input's storage; ``empty`` only
reserves memory). Every op listed here is recorded with status ``free`` and category ``view``;
an op that is neither here nor in the formula registry is ``unsupported``, never a silent zero.
"""

from __future__ import annotations

import torch
from torch._ops import OpOverloadPacket

from .registry import aten_ops

VIEW_OPS: frozenset[OpOverloadPacket] = frozenset(
    aten_ops(
        # views: the output aliases the input's storage
        "view",
        "_unsafe_view",
        "view_as",
        "reshape",
        "_reshape_alias",
        "expand",
        "expand_as",
        "t",
        "transpose",
        "permute",
        "squeeze",
        "unsqueeze",
        "select",
        "slice",
        "narrow",
        "as_strided",
        "alias",
        "detach",
        "detach_",  # in place: reaches the mode under inference_mode, changes no data
        "unbind",
        "split",
        "split_with_sizes",
        "chunk",
        "tensor_split",
        "unfold",
        "diagonal",
        "movedim",
        "view_as_real",
        "view_as_complex",
        "real",
        "imag",
        "_conj",
        "conj",
        "_neg_view",
        "unflatten",
        "flatten",
        "numpy_T",
        "_nested_view_from_buffer",
        "lift_fresh",
        "lift",
        "_indices",
        "_values",
        "indices",
        "values",
        "crow_indices",
        # in-place views: change the tensor's sizes/strides, never its data
        "squeeze_",
        "unsqueeze_",
        "transpose_",
        "t_",
        "as_strided_",
        "swapdims_",
        "swapaxes_",
        # split variants whose outputs are views without autograd's view tracking
        "unsafe_split",
        "unsafe_split_with_sizes",
        "unsafe_chunk",
        "col_indices",
        "ccol_indices",
        "row_indices",
    )
)

METADATA_OPS: frozenset[OpOverloadPacket] = frozenset(
    aten_ops(
        # read shapes, strides or flags; no tensor data touched
        "size",
        "stride",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "sym_storage_offset",
        "is_same_size",
        "is_nonzero",
        "_nested_tensor_size",
        "_nested_tensor_strides",
        "_nested_tensor_storage_offsets",
        "is_contiguous",
        "is_strides_like_format",
        "is_non_overlapping_and_dense",
        "_has_same_storage_numel",
        "is_coalesced",
        "dim",
        "numel",
        "_local_scalar_dense",
        "record_stream",
        "_version",
        "set_",
        "resize_",
        "resize_as_",
        "_resize_output_",
        "_assert_async",
        # raises if a LAPACK info code is nonzero: a check of a result, like _assert_async
        "_linalg_check_errors",
        "_assert_scalar",
        "sym_constrain_range",
        "sym_constrain_range_for_size",
        "_functional_sym_constrain_range",
        "_make_dep_token",
        "_assert_tensor_metadata",
        "_print",
    )
)

ALLOCATION_OPS: frozenset[OpOverloadPacket] = frozenset(
    aten_ops(
        # uninitialised memory: nothing computed, nothing written
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "empty_permuted",
        "_empty_affine_quantized",
        "_empty_per_channel_affine_quantized",
    )
)

def _packets(namespace: str, *names: str) -> frozenset[OpOverloadPacket]:
    """The packets among ``names`` that exist in ``torch.ops.<namespace>``."""
    found = (getattr(getattr(torch.ops, namespace), name, None) for name in names)
    return frozenset(p for p in found if isinstance(p, OpOverloadPacket))


NON_ATEN_OPS: frozenset[OpOverloadPacket] = _packets(
    # tensor subclasses (fake tensors) answer `.device` / `.layout` through these
    "prim", "device", "layout"
) | _packets(
    # torch.profiler.record_function markers (every Optimizer.step() runs inside one)
    "profiler", "_record_function_enter", "_record_function_enter_new", "_record_function_exit"
)

FREE_OPS: frozenset[OpOverloadPacket] = VIEW_OPS | METADATA_OPS | ALLOCATION_OPS | NON_ATEN_OPS
