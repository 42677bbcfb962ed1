"""Event store: per op call, a row id and where the call ran; each distinct row once.

A row (op, status, costs, bytes, dtype, device, input shapes) is kept once in :attr:`rows`
and op calls refer to it by index, so recording an op appends four small ints and allocates
nothing: calls equal to an earlier one share its row (see :mod:`.row_memo`), and input shapes
live in a side table too. (A kept tuple of ``torch.Size`` per op would stay tracked by
Python's garbage collector, and every collection would walk all of them: on long runs that
cost more than the recording itself.) Building a DataFrame is a handful of array takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COUNTED, FREE, UNSUPPORTED = 0, 1, 2
STATUSES = ("counted", "free", "unsupported")

Row = tuple[int, int, int, int, int, int, int, Any, Any, int, int, int]
"""``(op_id, status, flops, macs, int_ops, bytes_read, bytes_written, dtype, device,
shape_code, comm_bytes, recompute_macs)``: what one op call cost, apart from where it ran."""

ROW_FIELDS = (
    "op_id",
    "status",
    "flops",
    "macs",
    "int_ops",
    "bytes_read",
    "bytes_written",
    "dtype",
    "device",
    "shape_code",
    # -- figures only some formulas give, last so the fields above keep their place: the
    # bytes a collective sends, and the MACs a fused kernel spends recomputing its own work
    "comm_bytes",
    "recompute_macs",
)
"""The names of a :data:`Row`'s fields, in order."""


class EventStore:
    """The op calls of one counting run: per call a row id, frame, phase and forward seq."""

    __slots__ = ("frames", "fwd_seqs", "phases", "row_ids", "rows", "shape_table")

    def __init__(self) -> None:
        self.row_ids: list[int] = []
        """Per call, its index in :attr:`rows`."""
        self.frames: list[int] = []
        self.phases: list[int] = []
        self.fwd_seqs: list[int] = []
        self.rows: list[Row] = []
        """Distinct rows; every one is referred to by at least one call."""
        self.shape_table = ShapeTable()

    def __len__(self) -> int:
        return len(self.row_ids)

    def add_row(self, row: Row) -> int:
        """Keep ``row``; return its id."""
        self.rows.append(row)
        return len(self.rows) - 1

    def field(self, name: str) -> list[Any]:
        """One field of every distinct row (index these by :attr:`row_ids`)."""
        index = ROW_FIELDS.index(name)
        return [row[index] for row in self.rows]

    def has_status(self, status: int) -> bool:
        """Whether any call's row has ``status``."""
        return status in self.field("status")

    def total(self, name: str) -> int:
        """The sum of an integer field over every call."""
        index = ROW_FIELDS.index(name)
        ids = np.fromiter(self.row_ids, dtype=np.int64, count=len(self.row_ids))
        calls = np.bincount(ids, minlength=len(self.rows)).tolist()
        return sum(row[index] * n for row, n in zip(self.rows, calls, strict=True) if n)


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
