"""Seconds per module: a time column of the rows summed per module and phase, own and inclusive.

The same sums ``by_module`` makes of FLOPs (``self_`` = the module's own ops, unprefixed = with
every module nested below it in the call path), for a float column of seconds: measured
``time_s`` or estimated ``est_time_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..engine.tracker import PHASES
from ..reports.frames import enclosing_modules


def share_column(column: str) -> str:
    """``time_s`` -> ``time_share``: the column of a module's share of the total seconds."""
    return column.removesuffix("_s") + "_share"


def time_columns(column: str) -> list[str]:
    """The columns :func:`module_times` makes of ``column``, in order."""
    names = [column, f"self_{column}"]
    names += [f"{p}_{column}" for p in PHASES] + [f"self_{p}_{column}" for p in PHASES]
    return [*names, share_column(column)]


def module_times(
    rows: pd.DataFrame, frames: Sequence[tuple[str, str, int, int]], column: str
) -> pd.DataFrame:
    """Per module that ran: ``column`` summed over its own ops and over its subtree, in total
    and per phase, and its share of the rows' total (columns :func:`time_columns`).

    Sums are ``math.fsum`` of the rows' values (correctly rounded), so each one equals the
    fsum a user makes of the same rows, whatever the order."""
    known = {f[0] for f in frames} | {str(m) for m in pd.unique(rows["module"])}
    own: dict[str, dict[str, list[np.ndarray]]] = {
        name: {phase: [] for phase in PHASES} for name in known
    }
    groups = rows.groupby(["module", "phase"], sort=False)[column]
    for (module, phase), values in groups:
        own[str(module)][str(phase)].append(values.to_numpy(dtype=np.float64))
    subtree = {name: {phase: list(parts) for phase, parts in by_phase.items()}
               for name, by_phase in own.items()}  # fmt: skip
    for name, by_phase in own.items():
        for parent in enclosing_modules(name, known):
            for phase, parts in by_phase.items():
                subtree[parent][phase].extend(parts)
    total = _fsum(rows[column].to_numpy(dtype=np.float64))
    records = []
    for name in own:
        inclusive = {p: _fsum(*subtree[name][p]) for p in PHASES}
        mine = {p: _fsum(*own[name][p]) for p in PHASES}
        everything = _fsum(*(part for p in PHASES for part in subtree[name][p]))
        record: dict[str, object] = {
            "module": name,
            column: everything,
            f"self_{column}": _fsum(*(part for p in PHASES for part in own[name][p])),
        }
        for phase in PHASES:
            record[f"{phase}_{column}"] = inclusive[phase]
        for phase in PHASES:
            record[f"self_{phase}_{column}"] = mine[phase]
        record[share_column(column)] = everything / total if total else 0.0
        records.append(record)
    return pd.DataFrame.from_records(records, columns=["module", *time_columns(column)])


def _fsum(*parts: np.ndarray) -> float:
    """The correctly rounded sum of every value in ``parts``."""
    return math.fsum(value for part in parts for value in part.tolist())


def join_times(frame: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    """A ``by_module`` frame with the columns of :func:`module_times` (0 for a module that
    ran no op of the rows, e.g. under a phase filter)."""
    joined = frame.merge(times, on="module", how="left")
    for column in times.columns[1:]:
        joined[column] = joined[column].fillna(0.0).astype(np.float64)
    return joined
