"""What to do with each aten overload, decided once and cached: count, free, decompose, or report.

The dispatch handler runs once per op call; everything that depends only on the overload (its
formula, category, whether it is a composite that must be decomposed, which arguments are
write-only ``out=`` tensors) is worked out on first sight and kept in a dict keyed by overload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import torch
from torch._C import DispatchKey
from torch._ops import OpOverload

from ..errors import OpCountError
from ..formulas import COMM_FREE_NAMES, FREE_OPS, FormulaFn, Registry
from ..formulas.registry import OpKey, to_packet
from .events import COUNTED, FREE, UNSUPPORTED
from .row_memo import RowKeyFn, free_row_key, row_key


class Decision(NamedTuple):
    """How one overload is handled, and where its tensor inputs sit in its arguments."""

    op_id: int
    status: int
    fn: FormulaFn | None
    composite: bool | frozenset[str]
    out_names: frozenset[str]
    positions: tuple[int, ...] | None
    """Positional indices whose schema type can hold a tensor (``Tensor``, ``Tensor?``,
    ``Tensor[]``, ``Tensor?[]``); None where the schema is unknown or has an argument of a type
    that might hide one (``Any``, dicts, classes), so every argument must be scanned."""
    kw_names: tuple[str, ...]
    """Keyword-only arguments that can hold an input tensor (``out=`` arguments excluded)."""
    getter: int | itemgetter[Any] | None
    """The fast way to the input tensors, where every tensor slot is a ``Tensor`` or
    ``Tensor?`` without a default (always passed positionally; a tensor, None, or for a
    wrapped scalar a Python number): the one position as an int, or an ``itemgetter`` of
    several; None where ``positions`` and ``kw_names`` must be walked."""
    row_key: RowKeyFn | None
    """How to key a call's row for reuse by later equal calls (see :mod:`.row_memo`); None
    where rows are never reused: tensor slots that are not plain (``getter`` None), ops that
    are decomposed, and formulas that read tensor values."""


class OpInfo(NamedTuple):
    """The names and class of one overload, as reported in rows."""

    op: str
    overload: str
    category: str


class DecisionTable:
    """Decisions for every overload seen, plus the table of op names rows refer to."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.ops: list[OpInfo] = []
        # Keyed by id(): OpOverload.__hash__ is a Python method, too slow for once per op.
        # The overloads seen are kept alive in _funcs, so no id is ever reused for another.
        self.cache: dict[int, Decision] = {}
        self._funcs: list[OpOverload] = []

    def get(self, func: OpOverload) -> Decision:
        decision = self.cache.get(id(func))
        if decision is None:
            decision = self._decide(func)
            self._funcs.append(func)
            self.cache[id(func)] = decision
        return decision

    def _decide(self, func: OpOverload) -> Decision:
        packet = func.overloadpacket
        formula = self.registry.get(packet)
        if formula is None and func.namespace == "torchvision":
            # torchvision is loaded (its op is running): its formulas are registered now
            from ..formulas.torchvision_ops import torchvision_formula

            formula = torchvision_formula(packet)
        composite = _composite_devices(func) if formula is None else False
        reads_values = False
        if formula is not None:
            status, category, fn = COUNTED, formula.category, formula.fn
            reads_values = formula.reads_values
        elif packet in FREE_OPS or str(packet) in COMM_FREE_NAMES:
            status, category, fn = FREE, "view", None
        else:
            status, category, fn = UNSUPPORTED, "other", None
        op_id = len(self.ops)
        self.ops.append(OpInfo(_packet_name(packet), func._overloadname, category))
        try:
            arguments = func._schema.arguments
        except (AttributeError, RuntimeError):  # ops without a parsed schema write no out=
            arguments = []
        out_names = frozenset(a.name for a in arguments if a.is_out)
        positions, kw_names = _tensor_slots(arguments)
        getter = _tensor_getter(arguments, positions, kw_names)
        key: RowKeyFn | None = None
        if getter is not None and not composite and not reads_values:
            key = free_row_key if status == FREE else row_key
        return Decision(op_id, status, fn, composite, out_names, positions, kw_names, getter, key)


_PLAIN_TYPES = (
    torch._C.BoolType,
    torch._C.ComplexType,
    torch._C.DeviceObjType,
    torch._C.FloatType,
    torch._C.IntType,
    torch._C.NumberType,
    torch._C.StringType,
    type(torch._C._GeneratorType.get()),
)
"""Schema types that never hold a tensor (``SymInt``, ``ScalarType``, ``Layout`` are ints)."""


def _tensor_slots(arguments: Sequence[Any]) -> tuple[tuple[int, ...] | None, tuple[str, ...]]:
    """``(positions, kw_names)`` of :class:`Decision`, read from an overload's schema.

    The dispatcher passes positional schema arguments positionally (dropping trailing ones left
    at their defaults) and keyword-only ones by name, so these slots are the only places an
    input tensor can be; reading just them spares the hot path a scan of every argument.
    """
    if not arguments:
        return None, ()
    positions: list[int] = []
    kw_names: list[str] = []
    for index, argument in enumerate(arguments):
        kind = argument.type
        while isinstance(kind, (torch._C.OptionalType, torch._C.ListType)):
            kind = kind.getElementType()
        if isinstance(kind, torch._C.TensorType):
            if not argument.kwarg_only:
                positions.append(index)
            elif not argument.is_out:
                kw_names.append(argument.name)
        elif not isinstance(kind, _PLAIN_TYPES) and str(kind) != "Storage":
            return None, ()  # Any, t, dicts, script classes: scan everything
    return tuple(positions), tuple(kw_names)


def _tensor_getter(
    arguments: Sequence[Any], positions: tuple[int, ...] | None, kw_names: tuple[str, ...]
) -> int | itemgetter[Any] | None:
    """:attr:`Decision.getter`: set where each tensor slot is a ``Tensor`` or ``Tensor?``
    without a default (``add.Tensor``, ``mm``, ``convolution``, ``native_batch_norm``), so
    ``args`` always reaches it; the caller drops what is not a tensor (None, a number)."""
    if not positions or kw_names:
        return None
    for index in positions:
        argument = arguments[index]
        kind = argument.type
        if isinstance(kind, torch._C.OptionalType):
            kind = kind.getElementType()
        if not isinstance(kind, torch._C.TensorType) or argument.has_default_value():
            return None
    return positions[0] if len(positions) == 1 else itemgetter(*positions)


_BACKEND_KEYS = {
    "cpu": DispatchKey.CPU,
    "cuda": DispatchKey.CUDA,
    "meta": DispatchKey.Meta,
    "xpu": DispatchKey.XPU,
    "mps": DispatchKey.MPS,
}


def _composite_devices(func: OpOverload) -> bool | frozenset[str]:
    """Where ``func`` runs as its CompositeImplicitAutograd decomposition.

    Such an op reaches a dispatch mode undecomposed when autograd is skipped (under
    ``torch.inference_mode()``), and the mode decomposes it so its parts are counted as in grad
    mode. ``True``: everywhere (no backend kernel, the common case: linear, conv2d, matmul).
    A set of device types: only there, because the op also has kernels of its own for other
    backends (``mish_backward`` on CPU/CUDA), which must run as they would without the counter.
    ``False``: never.
    """
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    try:
        if not has_kernel(func.name(), DispatchKey.CompositeImplicitAutograd):
            return False
        own = {device for device, key in _BACKEND_KEYS.items() if has_kernel(func.name(), key)}
    except RuntimeError:  # Python-only ops (prim::device) are unknown to the C++ dispatcher
        return False
    if not own:
        return True
    return frozenset(_BACKEND_KEYS) - own


def _packet_name(packet: object) -> str:
    """``aten.addmm`` for ``torch.ops.aten.addmm``."""
    return str(packet).replace("::", ".")


def merge_overrides(base: Registry, overrides: Mapping[OpKey, object] | None) -> Registry:
    """A copy of ``base`` with the user's per-counter formulas added or replacing built-ins.

    Values are a formula function, or a ``(function, category)`` pair.
    """
    if not overrides:
        return base
    merged = base.copy()
    for key, value in overrides.items():
        if isinstance(value, tuple):
            fn, category = value
        else:
            fn, category = value, None
        if not callable(fn):
            raise OpCountError(f"formula for {key!r} must be callable or (callable, category)")
        packet = to_packet(key)
        if category is None:
            existing = base.get(packet)
            category = existing.category if existing is not None else "other"
        merged.add(packet, fn, category, override=True)
    return merged
