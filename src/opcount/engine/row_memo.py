"""Reuse of measured rows: an op called again with equal arguments costs what it cost before.

Models repeat themselves (the same layer shapes block after block, step after step), and working
out a row (formula, bytes, shape interning) is most of what the dispatch mode does per op. So
for overloads whose formula reads only tensor metadata, a row is kept under a key made of
everything it can depend on, and a later call with an equal key takes the kept row instead of
measuring again. The key holds:

- the overload (its op id);
- every positional and keyword argument: a tensor by its shape, dtype and contiguity (its
  strides too when not contiguous, as bytes follow them), anything else by its type and value;
- the device of the first tensor (the row's device);
- the output tensors by shape, dtype and contiguity (strides when not contiguous), since an
  output's size can depend on values (``nonzero``) and its bytes are counted.

A free op's row (a view, an allocation) holds no costs or bytes, so its key is only the
overload, the input shapes and the first input's dtype and device (:func:`free_row_key`).

Anything the key cannot hold exactly (a symbolic size, an unhashable argument, a sparse or
nested tensor) makes the call measure as usual. Formulas that read tensor values are registered
with ``reads_values=True`` and never reuse rows; so are all user formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

RowKeyFn = Callable[[int, Sequence[Any], Mapping[str, Any] | None, Any], tuple[Any, ...] | None]
"""``key(op_id, args, kwargs, out)``: :func:`row_key` or :func:`free_row_key`."""

MEMO_LIMIT = 100_000
"""Most rows kept per counter: enough for every distinct call of a large model, while a run
whose shapes never repeat (a new length per call) stops adding rather than growing."""

_STRIDED = torch.strided


def row_key(
    op_id: int, args: Sequence[Any], kwargs: Mapping[str, Any] | None, out: Any
) -> tuple[Any, ...] | None:
    """The key of one call's row, or None where the call must be measured.

    Raises TypeError for an unhashable part (hashing happens at lookup), or RuntimeError for
    tensors without strides; the caller treats both as None.
    """
    key: list[Any] = [op_id]
    device = None
    for value in args:
        if isinstance(value, Tensor):
            if device is None:
                device = value.device
            if not _add_tensor(key, value):
                return None
        else:
            _add_value(key, value)
    if kwargs:
        for name, value in kwargs.items():
            if isinstance(value, Tensor):
                return None  # an out= tensor (or an input a caller passed by name)
            key.append(name)
            _add_value(key, value)
    key.append(device)
    if isinstance(out, Tensor):
        if not _add_tensor(key, out):
            return None
    elif isinstance(out, (tuple, list)):
        for value in out:
            if isinstance(value, Tensor):
                if not _add_tensor(key, value):
                    return None
            else:
                _add_value(key, value)
    else:
        _add_value(key, out)
    return tuple(key)


def free_row_key(
    op_id: int, args: Sequence[Any], kwargs: Mapping[str, Any] | None, out: Any
) -> tuple[Any, ...] | None:
    """The key of a free op's row (a view or an allocation): it moves no bytes and has no
    formula, so its row holds only the input shapes and the first input's dtype and device."""
    key: list[Any] = [op_id]
    first = None
    for value in args:
        if isinstance(value, Tensor):
            if first is None:
                first = value
            key.append(value.shape)
    if first is None:
        return None  # the row takes the output's dtype and device
    key.append(first.dtype)
    key.append(first.device)
    return tuple(key)


def _add_value(key: list[Any], value: Any) -> None:
    """Append a non-tensor argument or result: a list as a tuple (it must hash), anything
    else with its type, since ``2 == 2.0 == 2 + 0j`` but a complex factor costs more."""
    if type(value) is list:
        key.append(tuple(value))
    else:
        key.append(type(value))
        key.append(value)


def _add_tensor(key: list[Any], t: Tensor) -> bool:
    """Append what a row can depend on in ``t``; False for a tensor the key cannot describe."""
    key.append(t.shape)
    key.append(t.dtype)
    if t.is_contiguous():
        key.append(True)
        return True
    if t.layout is not _STRIDED:
        return False  # sparse: its stored elements are not in its metadata
    key.append(t.stride())
    return True
