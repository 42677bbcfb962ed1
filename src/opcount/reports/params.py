"""Parameter counts, without running the model; a weight shared by two modules counts once.

A parameter is identified by the ``nn.Parameter`` object, as ``model.parameters()`` does, so tied
weights (an embedding reused as the LM head) are one parameter held by two modules: both rows
show it, marked shared, and every total counts it once. Uninitialised lazy parameters count 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..errors import check_bool

PARAM_COLUMNS = (
    "module",
    "module_type",
    "depth",
    "params",
    "trainable_params",
    "frozen_params",
    "buffers",
    "param_bytes",
    "buffer_bytes",
    "self_params",
    "self_buffers",
    "shared_params",
    "shared_with",
    "uninitialized",
    "weight_shape",
)
"""Columns of :func:`params_by_module`, in order."""

PARAM_COUNT_COLUMNS = tuple(
    c
    for c in PARAM_COLUMNS
    if c not in ("module", "module_type", "depth", "shared_with", "weight_shape")
)
"""The integer counts among :data:`PARAM_COLUMNS` (params, bytes, buffers, ...)."""


def _is_lazy(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, (nn.UninitializedParameter, nn.UninitializedBuffer))


def _numel(tensor: torch.Tensor) -> int:
    return 0 if _is_lazy(tensor) else int(tensor.numel())


def _nbytes(tensor: torch.Tensor) -> int:
    return 0 if _is_lazy(tensor) else int(tensor.numel()) * tensor.element_size()


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of distinct parameter elements of ``model``.

    Tied weights (one ``nn.Parameter`` held by two modules) are counted once, as
    ``model.parameters()`` yields them. Uninitialised lazy parameters count as 0.
    """
    check_bool("trainable_only", trainable_only)
    total = 0
    for param in model.parameters():
        if trainable_only and not param.requires_grad:
            continue
        total += _numel(param)
    return total


def _direct(module: nn.Module) -> tuple[dict[str, nn.Parameter], dict[str, torch.Tensor]]:
    """Parameters and buffers registered on ``module`` itself (``None`` entries skipped)."""
    params = {n: p for n, p in module._parameters.items() if p is not None}
    buffers = {n: b for n, b in module._buffers.items() if b is not None}
    return params, buffers


def _module_paths(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every path to every module, a module reachable by two paths listed under both."""
    yield from model.named_modules(remove_duplicate=False)


def _ancestor_paths(name: str) -> Iterator[str]:
    """``"a.b.c"`` -> ``"a.b.c"``, ``"a.b"``, ``"a"``, ``""``."""
    yield name
    parts = name.split(".") if name else []
    for i in range(len(parts) - 1, -1, -1):
        yield ".".join(parts[:i])


def _shape_of(params: dict[str, nn.Parameter]) -> tuple[int, ...] | None:
    """The kernel shape users look for: ``weight`` if the module has one and it is initialised."""
    weight = params.get("weight")
    if weight is None or _is_lazy(weight):
        return None
    return tuple(int(d) for d in weight.shape)


def params_by_module(model: nn.Module) -> pd.DataFrame:
    """One row per module path (``named_modules()`` names, root ``""``), without running it.

    Unprefixed columns are inclusive (every distinct tensor in the subtree, counted once);
    ``self_params`` counts the parameters registered on the module itself, a shared one only at
    the first module holding it, so ``self_params`` sums to :func:`count_params`.
    ``shared_params`` / ``shared_with`` mark parameters that other modules also hold.
    ``weight_shape`` is the module's own ``weight`` (the kernel of a conv), or ``None``.
    """
    paths = list(_module_paths(model))
    holders: dict[int, list[str]] = {}  # parameter id -> paths of the modules holding it
    for path, module in paths:
        for param in _direct(module)[0].values():
            holders.setdefault(id(param), []).append(path)
    inclusive: dict[str, dict[int, torch.Tensor]] = {p: {} for p, _ in paths}
    inclusive_buffers: dict[str, dict[int, torch.Tensor]] = {p: {} for p, _ in paths}
    records: list[dict[str, Any]] = []
    for path, module in paths:
        params, buffers = _direct(module)
        for ancestor in _ancestor_paths(path):
            if ancestor in inclusive:
                inclusive[ancestor].update((id(p), p) for p in params.values())
                inclusive_buffers[ancestor].update((id(b), b) for b in buffers.values())
        others = sorted({h for p in params.values() for h in holders[id(p)] if h != path})
        records.append(
            {
                "module": path,
                "module_type": type(module).__name__,
                "depth": 0 if path == "" else path.count(".") + 1,
                "self_params": sum(_numel(p) for p in params.values() if holders[id(p)][0] == path),
                "self_buffers": sum(_numel(b) for b in buffers.values()),
                "shared_params": sum(_numel(p) for p in params.values() if len(holders[id(p)]) > 1),
                "shared_with": ", ".join(others),
                "weight_shape": _shape_of(params),
            }
        )
    for record in records:
        held = inclusive[record["module"]].values()
        held_buffers = inclusive_buffers[record["module"]].values()
        record["params"] = sum(_numel(p) for p in held)
        record["trainable_params"] = sum(_numel(p) for p in held if p.requires_grad)
        record["frozen_params"] = record["params"] - record["trainable_params"]
        record["buffers"] = sum(_numel(b) for b in held_buffers)
        record["param_bytes"] = sum(_nbytes(p) for p in held)
        record["buffer_bytes"] = sum(_nbytes(b) for b in held_buffers)
        record["uninitialized"] = sum(1 for p in held if _is_lazy(p))
    return pd.DataFrame.from_records(records, columns=list(PARAM_COLUMNS))


def params_by_dtype(model: nn.Module) -> pd.DataFrame:
    """Per dtype: distinct parameter and buffer elements and their bytes."""
    totals: dict[str, dict[str, int]] = {}

    def add(tensor: torch.Tensor, kind: str) -> None:
        name = "uninitialized" if _is_lazy(tensor) else str(tensor.dtype).replace("torch.", "")
        entry = totals.setdefault(
            name, {"params": 0, "param_bytes": 0, "buffers": 0, "buffer_bytes": 0}
        )
        entry[kind] += _numel(tensor)
        entry[f"{kind[:-1]}_bytes"] += _nbytes(tensor)

    for param in model.parameters():
        add(param, "params")
    for buffer in model.buffers():
        add(buffer, "buffers")
    records = [{"dtype": name, **values} for name, values in sorted(totals.items())]
    return pd.DataFrame.from_records(
        records, columns=["dtype", "params", "param_bytes", "buffers", "buffer_bytes"]
    )
