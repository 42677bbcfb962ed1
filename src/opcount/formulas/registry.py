"""Formula registry: one pure cost function per aten overload packet.

A formula is called as ``fn(args, kwargs, out)`` with the op's real arguments and its output and
returns ``(flops, macs)`` as Python ints. Keys are overload packets (``torch.ops.aten.mm``), never
single overloads: every overload of an op shares the formula, and lookups normalise
``func.overloadpacket`` once, so ``aten.mm.default`` can never miss an ``aten.mm`` key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

import torch
from torch._ops import OpOverload, OpOverloadPacket

from ..errors import OpCountError, check_bool

Cost = tuple[int, int]
"""``(flops, macs)`` of one op call."""

FormulaFn = Callable[[Sequence[Any], Mapping[str, Any], Any], Cost]
"""``fn(args, kwargs, out) -> (flops, macs)``."""


class CostWith(tuple):  # type: ignore[type-arg]  # a Cost: unpacks as (flops, macs)
    """The ``(flops, macs)`` of a call with the figures only some formulas give, each kept in
    the rows' column of the same name: ``comm_bytes``, the bytes a collective sends, and
    ``recompute_macs``, how many of ``macs`` repeat a product the model's math computed
    already (fused attention backward recomputes the scores)."""

    comm_bytes: int
    recompute_macs: int

    def __new__(
        cls, flops: int, macs: int, *, comm_bytes: int = 0, recompute_macs: int = 0
    ) -> CostWith:
        cost = super().__new__(cls, (flops, macs))
        cost.comm_bytes = comm_bytes
        cost.recompute_macs = recompute_macs
        return cost


class RecomputedCost(CostWith):
    """The cost of a kernel that recomputes part of its own work: ``recompute_macs`` of it."""

    def __new__(cls, flops: int, macs: int, recompute_macs: int) -> RecomputedCost:
        return super().__new__(cls, flops, macs, recompute_macs=recompute_macs)  # type: ignore[return-value]


class CommCost(CostWith):
    """The cost of a collective: its reduction FLOPs, no MACs, and the ``comm_bytes`` it sends."""

    def __new__(cls, flops: int, macs: int, comm_bytes: int) -> CommCost:
        return super().__new__(cls, flops, macs, comm_bytes=comm_bytes)  # type: ignore[return-value]


CATEGORIES = (
    "matmul",
    "conv",
    "attention",
    "norm",
    "activation",
    "elementwise",
    "reduction",
    "pool",
    "resize",
    "embedding",
    "copy",
    "view",
    "comm",
    "optimizer",
    "other",
)

OpKey = Union[OpOverloadPacket, OpOverload, str]
F = TypeVar("F", bound=FormulaFn)


@dataclass(frozen=True)
class Formula:
    """A registered cost function and the category its op belongs to."""

    fn: FormulaFn
    category: str
    reads_values: bool = True
    """Whether the result may depend on tensor values (not only on shapes, dtypes, strides,
    devices and the non-tensor arguments). Only built-ins declared otherwise are False: their
    rows may be reused for calls with equal arguments (see :mod:`opcount.row_memo`)."""


def to_packet(key: OpKey) -> OpOverloadPacket:
    """Normalise a user's op key to its overload packet, with an error naming a bad key.

    Accepts a packet, an overload (its packet is used) or a qualified name such as
    ``"aten.mm"`` / ``"aten::mm"``.
    """
    if isinstance(key, OpOverloadPacket):
        return key
    if isinstance(key, OpOverload):
        return key.overloadpacket  # type: ignore[no-any-return]
    if isinstance(key, str):
        namespace, sep, name = key.replace("::", ".").partition(".")
        name = name.split(".")[0]
        if sep and name:
            try:
                packet = getattr(getattr(torch.ops, namespace), name)
            except (AttributeError, RuntimeError):
                packet = None
            if isinstance(packet, OpOverloadPacket):
                return packet
        raise OpCountError(
            f"no operator named {key!r}; expected e.g. 'aten.mm' or torch.ops.aten.mm"
        )
    raise OpCountError(
        f"formula key must be an op such as torch.ops.aten.mm or 'aten.mm', got {key!r} "
        f"of type {type(key).__name__}"
    )


def check_category(category: str) -> str:
    """Return ``category`` if it is one of :data:`CATEGORIES`, else raise naming it."""
    if category not in CATEGORIES:
        raise OpCountError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    return category


class Registry:
    """Mapping from overload packet to :class:`Formula`; duplicates are refused."""

    def __init__(self) -> None:
        self._formulas: dict[OpOverloadPacket, Formula] = {}
        # formulas for ops that only exist once a library defines them (``fsdp.*`` when FSDP2
        # is imported), keyed by the packet's qualified name; looked up once per overload
        self._by_name: dict[str, Formula] = {}

    def add(
        self,
        key: OpKey,
        fn: FormulaFn,
        category: str,
        *,
        override: bool = False,
        reads_values: bool = True,
    ) -> None:
        """Register ``fn`` for ``key``; refuse a second formula unless ``override``."""
        packet = to_packet(key)
        check_category(category)
        check_bool("override", override)
        if not callable(fn):
            raise OpCountError(f"formula for {packet} must be callable, got {fn!r}")
        if packet in self._formulas and not override:
            raise OpCountError(f"a formula for {packet} is already registered; pass override=True")
        self._formulas[packet] = Formula(fn, category, reads_values)

    def get(self, packet: OpOverloadPacket) -> Formula | None:
        formula = self._formulas.get(packet)
        if formula is None and self._by_name:
            formula = self._by_name.get(str(packet))
        return formula

    def add_by_name(
        self,
        name: str,
        fn: FormulaFn,
        category: str,
        *,
        reads_values: bool = True,
    ) -> None:
        """Register ``fn`` for the op named ``name`` (``"fsdp.chunk_cat"``), which may not
        exist yet: a library defines it later. A formula registered by packet wins."""
        check_category(category)
        if name in self._by_name:
            raise OpCountError(f"a formula for {name} is already registered")
        self._by_name[name] = Formula(fn, category, reads_values)

    def __contains__(self, key: object) -> bool:
        return key in self._formulas

    def __len__(self) -> int:
        return len(self._formulas)

    def packets(self) -> Iterable[OpOverloadPacket]:
        return self._formulas.keys()

    def copy(self) -> Registry:
        new = Registry()
        new._formulas = dict(self._formulas)
        new._by_name = dict(self._by_name)
        return new


REGISTRY = Registry()
"""The default registry every :class:`~opcount.OpCounter` starts from."""


def aten_ops(*names: str) -> list[OpOverloadPacket]:
    """The ``torch.ops.aten`` packets among ``names`` that exist in the installed torch.

    Backend variants come and go between torch releases; a formula for an op this torch lacks
    is simply not registered.
    """
    found = []
    for name in names:
        try:
            packet = getattr(torch.ops.aten, name)
        except (AttributeError, RuntimeError):
            continue
        found.append(packet)
    return found


def register(*names: str, category: str, reads_values: bool = False) -> Callable[[F], F]:
    """Internal decorator: register a built-in formula for the named aten ops.

    A built-in reads only tensor metadata unless it says ``reads_values=True`` (sparse nnz,
    sequence lengths held in a tensor, a matrix norm). Returns the function unchanged so it
    stays a plain, testable function.
    """

    def decorate(fn: F) -> F:
        for packet in aten_ops(*names):
            REGISTRY.add(packet, fn, category, reads_values=reads_values)
        return fn

    return decorate


def register_formula(
    *ops: OpKey, category: str = "other", override: bool = False
) -> Callable[[F], F]:
    """Register a cost formula for one or more ops, for every OpCounter made afterwards.

    ``fn(args, kwargs, out)`` receives the op's real arguments and output and returns
    ``(flops, macs)`` as ints::

        @opcount.register_formula(torch.ops.mylib.fused_gemm, category="matmul")
        def fused_gemm(args, kwargs, out):
            a, b = args[0], args[1]
            macs = a.shape[0] * a.shape[1] * b.shape[1]
            return 2 * macs, macs

    The decorator returns the function unchanged.
    """
    if not ops:
        raise OpCountError("register_formula needs at least one op")
    packets = [to_packet(op) for op in ops]
    check_category(category)
    check_bool("override", override)

    def decorate(fn: F) -> F:
        for packet in packets:
            REGISTRY.add(packet, fn, category, override=override)
        return fn

    return decorate
