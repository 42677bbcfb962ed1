"""What to do with each aten overload, decided once and cached: count, free, decompose, or report.

The dispatch handler runs once per op call; everything that depends only on the overload (its
formula, category, whether it is a composite that must be decomposed, which arguments are
write-only ``out=`` tensors) is worked out on first sight and kept in a dict keyed by overload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch._C import DispatchKey
from torch._ops import OpOverload

from .errors import OpCountError
from .events import COUNTED, FREE, UNSUPPORTED
from .formulas import FREE_OPS, FormulaFn, Registry
from .formulas.registry import OpKey, to_packet


class Decision(NamedTuple):
    """How one overload is handled."""

    op_id: int
    status: int
    fn: FormulaFn | None
    composite: bool
    out_names: frozenset[str]


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
        self._cache: dict[OpOverload, Decision] = {}

    def get(self, func: OpOverload) -> Decision:
        decision = self._cache.get(func)
        if decision is None:
            decision = self._cache[func] = self._decide(func)
        return decision

    def _decide(self, func: OpOverload) -> Decision:
        packet = func.overloadpacket
        formula = self.registry.get(packet)
        composite = formula is None and _is_composite(func)
        if formula is not None:
            status, category, fn = COUNTED, formula.category, formula.fn
        elif packet in FREE_OPS:
            status, category, fn = FREE, "view", None
        else:
            status, category, fn = UNSUPPORTED, "other", None
        op_id = len(self.ops)
        self.ops.append(OpInfo(_packet_name(packet), func._overloadname, category))
        try:
            out_names = frozenset(a.name for a in func._schema.arguments if a.is_out)
        except (AttributeError, RuntimeError):  # ops without a parsed schema write no out=
            out_names = frozenset()
        return Decision(op_id, status, fn, composite, out_names)


def _is_composite(func: OpOverload) -> bool:
    """Whether ``func`` has a CompositeImplicitAutograd kernel (it reaches a dispatch mode
    undecomposed only when autograd is skipped, as under ``torch.inference_mode()``)."""
    try:
        return bool(
            torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), DispatchKey.CompositeImplicitAutograd
            )
        )
    except RuntimeError:  # Python-only ops (prim::device) are unknown to the C++ dispatcher
        return False


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
