"""Collectives (category ``comm``): the bytes this rank sends, and the adds of reductions.

A collective's formula returns a :class:`~.registry.CommCost`: ``(flops, macs)`` with
``comm_bytes``, which follows the bus-bandwidth model of nccl-tests (their PERFORMANCE.md), with
``S`` the bytes of the buffer the call really moves and ``n`` the size of the call's own process
group (see docs/comm.md):

- all-reduce ``2(n-1)/n * S``; all-gather ``(n-1)/n * S`` (S the output); reduce-scatter and
  all-to-all ``(n-1)/n * S`` (S the input); broadcast and reduce ``S``; send ``S``; recv 0;
- reductions add ``(n-1)/n`` of the input's elements, as a ring performs them.

Fractions are floored to whole bytes and FLOPs. FSDP2's own copy ops (``fsdp.*``) are copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .registry import REGISTRY, CommCost, Cost, FormulaFn

# -- the model: pure functions of S (bytes), E (elements) and n (group size) -------------------


def all_reduce_bytes(size: int, n: int) -> int:
    """Ring all-reduce: a reduce-scatter then an all-gather, each ``(n-1)/n * S``."""
    return 2 * (n - 1) * size // n


def all_gather_bytes(output_size: int, n: int) -> int:
    """Each rank sends its ``S/n`` chunk to the ``n-1`` others (``S`` the gathered output)."""
    return (n - 1) * output_size // n


def reduce_scatter_bytes(input_size: int, n: int) -> int:
    """Each rank sends the ``n-1`` chunks it does not keep (``S`` the full input)."""
    return (n - 1) * input_size // n


def all_to_all_bytes(input_size: int, n: int) -> int:
    """Each rank keeps its own ``1/n`` of its input and sends the rest."""
    return (n - 1) * input_size // n


def ring_reduction_flops(elements: int, n: int) -> int:
    """Adds a rank performs in a ring reduction: ``(n-1)/n`` of the input's elements."""
    return (n - 1) * elements // n


# -- reading the calls ----------------------------------------------------------------------


def group_size(args: Sequence[Any]) -> int:
    """The size of the process group a collective runs on: read from its ProcessGroup argument
    (a TorchScript object for c10d ops) or its group name (functional collectives)."""
    import torch.distributed as dist
    from torch.distributed import distributed_c10d

    for value in args:
        if isinstance(value, torch.ScriptObject):
            try:
                return int(dist.ProcessGroup.unbox(value).size())
            except (RuntimeError, TypeError):
                continue  # a ReduceOp or Work object, not the group
        if isinstance(value, dist.ProcessGroup):
            return int(value.size())
    name = args[-1]
    if isinstance(name, str):
        return int(distributed_c10d._resolve_process_group(name).size())  # type: ignore[arg-type, attr-defined]
    raise ValueError(f"no process group among the arguments: {[type(a).__name__ for a in args]}")


def group_rank(args: Sequence[Any]) -> int:
    """This process's rank in the call's group (for rooted collectives)."""
    import torch.distributed as dist

    for value in args:
        if isinstance(value, torch.ScriptObject):
            try:
                return int(dist.ProcessGroup.unbox(value).rank())
            except (RuntimeError, TypeError):
                continue
    raise ValueError("no process group among the arguments")


def _tensors(value: Any) -> list[Tensor]:
    """Tensors in a value, a list of them, or a list of lists (``Tensor[][]``)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _size(value: Any) -> int:
    return sum(t.numel() * t.element_size() for t in _tensors(value))


def _elements(value: Any) -> int:
    return sum(t.numel() for t in _tensors(value))


# -- c10d ops (torch.distributed's eager API) -----------------------------------------------


def c10d_all_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # allreduce_(Tensor[] tensors, ProcessGroup, ReduceOp, ...)
    n = group_size(args)
    return CommCost(
        ring_reduction_flops(_elements(args[0]), n), 0, all_reduce_bytes(_size(args[0]), n)
    )


def c10d_all_gather(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # allgather_(Tensor[][] outputs, Tensor[] inputs, pg) and _allgather_base_(output, input,
    # pg): the output is n inputs, padded shards included
    n = group_size(args)
    return CommCost(0, 0, all_gather_bytes(n * _size(args[1]), n))


def c10d_reduce_scatter(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # reduce_scatter_(Tensor[] outputs, Tensor[][] inputs, pg, op) and the _base_/coalesced
    # forms: S is the input, n times the output
    n = group_size(args)
    return CommCost(
        ring_reduction_flops(_elements(args[1]), n),
        0,
        reduce_scatter_bytes(_size(args[1]), n),
    )


def c10d_all_to_all(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # alltoall_(Tensor[] outputs, Tensor[] inputs, pg) / alltoall_base_(output, input, pg, ...)
    return CommCost(0, 0, all_to_all_bytes(_size(args[1]), group_size(args)))


def c10d_broadcast(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # broadcast_(Tensor[] tensors, pg, root_rank, ...): S, as nccl-tests' busbw = algbw
    return CommCost(0, 0, _size(args[0]))


def c10d_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # reduce_(Tensor[] tensors, pg, op, root_rank, ...): S, and a ring's share of the adds
    n = group_size(args)
    return CommCost(ring_reduction_flops(_elements(args[0]), n), 0, _size(args[0]))


def c10d_send(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    return CommCost(0, 0, _size(args[0]))


def c10d_receive(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    return CommCost(0, 0, 0)


def c10d_gather(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # gather_(Tensor[][] outputs, Tensor[] inputs, pg, root_rank): every rank but the root
    # sends its input; the root's own chunk stays put
    root = args[3]
    return CommCost(0, 0, 0 if group_rank(args) == root else _size(args[1]))


def c10d_scatter(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # scatter_(Tensor[] outputs, Tensor[][] inputs, pg, root_rank): the root sends n-1 chunks
    root = args[3]
    if group_rank(args) != root:
        return CommCost(0, 0, 0)
    return CommCost(0, 0, (group_size(args) - 1) * _size(args[0]))


def no_data(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    """A barrier: synchronises, moves no payload (gloo's one-element all-reduce is not data)."""
    return CommCost(0, 0, 0)


# -- functional collectives (DTensor, torch.compile, funcol) --------------------------------


def functional_all_reduce(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # all_reduce(Tensor input, str reduce_op, group_name) and the coalesced / in-place forms
    n = group_size(args)
    return CommCost(
        ring_reduction_flops(_elements(args[0]), n), 0, all_reduce_bytes(_size(args[0]), n)
    )


def functional_all_gather(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # all_gather_into_tensor(Tensor input, int group_size, group_name)
    n = group_size(args)
    return CommCost(0, 0, all_gather_bytes(n * _size(args[0]), n))


def functional_reduce_scatter(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # reduce_scatter_tensor(Tensor input, str reduce_op, int group_size, group_name)
    n = group_size(args)
    return CommCost(
        ring_reduction_flops(_elements(args[0]), n),
        0,
        reduce_scatter_bytes(_size(args[0]), n),
    )


def functional_all_to_all(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    # all_to_all_single(Tensor input, output_split_sizes, input_split_sizes, group_name)
    return CommCost(0, 0, all_to_all_bytes(_size(args[0]), group_size(args)))


def functional_broadcast(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> CommCost:
    return CommCost(0, 0, _size(args[0]))


def fsdp_copy(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    """FSDP2's packing ops (``all_gather_copy_in``, ``split_with_sizes_copy``, ``chunk_cat``):
    plain copies into or out of the collective's buffer; their bytes are measured."""
    return 0, 0


COMM_FORMULAS: dict[str, FormulaFn] = {
    # c10d: one op per torch.distributed call
    "c10d.allreduce_": c10d_all_reduce,
    "c10d.allreduce_coalesced_": c10d_all_reduce,
    "c10d.allgather_": c10d_all_gather,
    "c10d._allgather_base_": c10d_all_gather,
    "c10d.allgather_coalesced_": c10d_all_gather,
    "c10d.allgather_into_tensor_coalesced_": c10d_all_gather,
    "c10d.reduce_scatter_": c10d_reduce_scatter,
    "c10d._reduce_scatter_base_": c10d_reduce_scatter,
    "c10d.reduce_scatter_tensor_coalesced_": c10d_reduce_scatter,
    "c10d.alltoall_": c10d_all_to_all,
    "c10d.alltoall_base_": c10d_all_to_all,
    "c10d.broadcast_": c10d_broadcast,
    "c10d.reduce_": c10d_reduce,
    "c10d.send": c10d_send,
    "c10d.recv_": c10d_receive,
    "c10d.recv_any_source_": c10d_receive,
    "c10d.gather_": c10d_gather,
    "c10d.scatter_": c10d_scatter,
    "c10d.barrier": no_data,
    "c10d.monitored_barrier_": no_data,
    # functional collectives and their autograd variants (same schemas)
    "_c10d_functional.all_reduce": functional_all_reduce,
    "_c10d_functional.all_reduce_": functional_all_reduce,
    "_c10d_functional.all_reduce_coalesced": functional_all_reduce,
    "_c10d_functional.all_reduce_coalesced_": functional_all_reduce,
    "_c10d_functional.all_gather_into_tensor": functional_all_gather,
    "_c10d_functional.all_gather_into_tensor_out": functional_all_gather,
    "_c10d_functional.all_gather_into_tensor_coalesced": functional_all_gather,
    "_c10d_functional.reduce_scatter_tensor": functional_reduce_scatter,
    "_c10d_functional.reduce_scatter_tensor_out": functional_reduce_scatter,
    "_c10d_functional.reduce_scatter_tensor_coalesced": functional_reduce_scatter,
    "_c10d_functional.all_to_all_single": functional_all_to_all,
    "_c10d_functional.broadcast": functional_broadcast,
    "_c10d_functional.broadcast_": functional_broadcast,
    "_c10d_functional_autograd.all_reduce": functional_all_reduce,
    "_c10d_functional_autograd.all_gather_into_tensor": functional_all_gather,
    "_c10d_functional_autograd.reduce_scatter_tensor": functional_reduce_scatter,
    "_c10d_functional_autograd.all_to_all_single": functional_all_to_all,
}
"""Collective formulas by op name; registered by name, as some namespaces (the autograd
variants) exist only once torch.distributed has defined them."""

FSDP_COPY_OPS = ("fsdp.all_gather_copy_in", "fsdp.split_with_sizes_copy", "fsdp.chunk_cat")

COMM_FREE_NAMES = frozenset(
    {
        # waits for a result already counted at its collective; wraps it for autograd
        "_c10d_functional.wait_tensor",
        "_c10d_functional._wrap_tensor_autograd",
    }
)
"""Functional-collective plumbing: free by definition, like views."""

for _name, _fn in COMM_FORMULAS.items():
    REGISTRY.add_by_name(_name, _fn, "comm", reads_values=False)
for _name in FSDP_COPY_OPS:
    REGISTRY.add_by_name(_name, fsdp_copy, "copy", reads_values=False)
