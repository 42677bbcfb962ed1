"""Columnar event store: one list per column, one cheap append per op call.

Strings (op names, module names) live in small side tables; rows hold their integer indices, so
recording an op allocates no dict and building a DataFrame is a handful of array takes.
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
        self.shapes: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.op_ids)
