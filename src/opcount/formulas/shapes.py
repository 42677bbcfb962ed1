"""Small shape helpers shared by the formulas (pure functions of sizes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def prod(sizes: Iterable[int]) -> int:
    """Product of ``sizes`` as a Python int (1 for an empty shape)."""
    result = 1
    for size in sizes:
        result *= int(size)
    return result


def numel(t: Any) -> int:
    """Element count of a tensor, or 0 for anything else (``None``, a Python number)."""
    return int(t.numel()) if isinstance(t, torch.Tensor) else 0


def first_tensor(value: Any) -> torch.Tensor:
    """``value`` itself, or the first element of a tuple/list output."""
    if isinstance(value, (tuple, list)):
        return value[0]  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def arg(args: Any, kwargs: Any, index: int, name: str, default: Any = None) -> Any:
    """Argument ``index`` of an aten call, passed positionally or as ``name``."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)
