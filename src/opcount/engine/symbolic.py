"""Rows whose costs are symbolic sizes, made integers before any report reads them.

Under a ``ShapeEnv`` a formula or a byte count may come out as a ``SymInt``. A backed one
(a dynamic size with a hint) becomes its int, as it would in any report; an unbacked one
(a data-dependent size such as ``nonzero``'s ``u0``) has no int at all: its row is marked
unsupported, with the expression as the reason, instead of raising in the report.
"""

from __future__ import annotations

from .events import ROW_FIELDS, UNSUPPORTED, EventStore

__all__ = ["settle_rows"]

_NAMES = ROW_FIELDS[2:7]


def settle_rows(events: EventStore, errors: dict[int, str], start: int) -> int:
    """Make the costs of rows ``start:`` ints, or mark the row unsupported where one has no
    int, adding the reason to ``errors`` (by call seq); return the rows settled so far."""
    rows = events.rows
    failed: dict[int, str] = {}
    for row_id in range(start, len(rows)):
        row = rows[row_id]
        values = row[2:7]  # flops, macs, int_ops, bytes_read, bytes_written
        if all(type(v) is int for v in values):
            continue
        fixed: list[int] = []
        problem = None
        for name, value in zip(_NAMES, values):
            try:
                fixed.append(int(value))
            except Exception as error:  # GuardOnDataDependentSymNode: no int exists
                problem = (
                    f"{name} depends on a data-dependent size: {value} ({type(error).__name__})"
                )
                break
        if problem is None:
            rows[row_id] = (*row[:2], *fixed, *row[7:])
        else:
            rows[row_id] = (row[0], UNSUPPORTED, 0, 0, 0, 0, 0, *row[7:10], 0, 0)
            failed[row_id] = problem
    if failed:
        for seq, row_id in enumerate(events.row_ids):
            if row_id in failed:
                errors.setdefault(seq, failed[row_id])
    return len(rows)
