"""Columnar event store: one list per column, one cheap append per op call.

Strings (op names, module names) and input shapes live in small side tables; rows hold their
integer indices, so recording an op allocates no dict and keeps no container alive. (A kept
tuple of ``torch.Size`` per op would stay tracked by Python's garbage collector, and every
collection would walk all of them: on long runs that cost more than the recording itself.)
Building a DataFrame is a handful of array takes.
"""

from __future__ import annotations

from typing import Any

COUNTED, FREE, UNSUPPORTED = 0, 1, 2
STATUSES = ("counted", "free", "unsupported")


class EventStore:
    """The rows of one counting run, column by column."""

    __slots__ = (
        "bytes_read",
        "bytes_written",
        "devices",
        "dtypes",
        "flops",
        "frames",
        "fwd_seqs",
        "int_ops",
        "macs",
        "op_ids",
        "phases",
        "shape_table",
        "shapes",
        "statuses",
    )

    def __init__(self) -> None:
        self.op_ids: list[int] = []
        self.statuses: list[int] = []
        self.flops: list[int] = []
        self.macs: list[int] = []
        self.int_ops: list[int] = []
        self.bytes_read: list[int] = []
        self.bytes_written: list[int] = []
        self.frames: list[int] = []
        self.phases: list[int] = []
        self.fwd_seqs: list[int] = []
        self.dtypes: list[Any] = []
        self.devices: list[Any] = []
        self.shapes: list[int] = []
        """Per row, the index in ``shape_table`` of its input shapes."""
        self.shape_table = ShapeTable()

    def __len__(self) -> int:
        return len(self.op_ids)


class ShapeTable:
    """Each distinct tuple of shapes once, in first-seen order: rows (and module calls) keep its
    index. Hot callers look ``index`` up themselves and call :meth:`add` only on a miss."""

    __slots__ = ("index", "shapes")

    def __init__(self) -> None:
        self.shapes: list[tuple[Any, ...]] = []
        self.index: dict[tuple[Any, ...], int] = {}

    def add(self, shapes: tuple[Any, ...]) -> int:
        """Append ``shapes``, not in :attr:`index` yet; return its index."""
        code = self.index[shapes] = len(self.shapes)
        self.shapes.append(shapes)
        return code

    def code(self, shapes: tuple[Any, ...]) -> int:
        """The index of ``shapes``, added if new."""
        code = self.index.get(shapes)
        return self.add(shapes) if code is None else code
