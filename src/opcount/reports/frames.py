"""DataFrames from the event store: the per-op rows and the aggregates computed from them.

Every aggregate is a group-by over :func:`rows_frame`, so a user can re-derive any total from the
rows (or from the CSV) with pandas.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..engine.decisions import OpInfo
from ..engine.events import STATUSES, EventStore
from ..engine.tracker import OPTIMIZER, OUTSIDE, PHASES, UNATTRIBUTED
from .params import PARAM_COUNT_COLUMNS
from .regions import region_codes

COLUMNS = (
    "seq",
    "op",
    "overload",
    "category",
    "status",
    "flops",
    "macs",
    "recompute_macs",
    "int_ops",
    "bytes_read",
    "bytes_written",
    "module",
    "module_type",
    "call",
    "phase",
    "fwd_seq",
    "dtype",
    "device",
    "shapes",
    "region",
    "comm_bytes",
)
"""The row schema, in order. Names are public API."""

INTEGER_COLUMNS = (
    "seq",
    "flops",
    "macs",
    "recompute_macs",
    "int_ops",
    "bytes_read",
    "bytes_written",
    "call",
    "fwd_seq",
    "comm_bytes",
)


def _int_column(values: Sequence[int]) -> np.ndarray:
    """Integers as int64, or Python ints (object) if any value does not fit."""
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError:
        return np.asarray(values, dtype=object)


def _dtype_name(dtype: Any) -> str:
    return "" if dtype is None else str(dtype).replace("torch.", "")


def _shapes_text(shapes: tuple[Any, ...]) -> str:
    return "[" + ", ".join(str(list(s)) for s in shapes) + "]"


_STRING_DTYPE: Any = pd.Series(np.array(["a"], dtype=object)).dtype
"""The dtype pandas gives a column of Python strings: ``str`` in pandas 3, else object."""


def _take_strings(values: Sequence[str], codes: np.ndarray) -> Any:
    """``values[codes]`` as the column pandas makes of those strings, built by one vectorised
    take from the few distinct strings rather than by converting one Python string per row."""
    table = np.array(values, dtype=object)
    if isinstance(_STRING_DTYPE, np.dtype):  # object columns (pandas before 3)
        return table[codes]
    return pd.array(table, dtype=_STRING_DTYPE).take(codes)


def _codes(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """``(codes, distinct)`` with ``values[i] == distinct[codes[i]]``, distinct in first-seen
    order; values need only be hashable (dtypes, devices, tuples of shapes)."""
    index: dict[Any, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return np.fromiter(codes, dtype=np.int64, count=len(codes)), list(index)


def rows_frame(
    events: EventStore,
    ops: Sequence[OpInfo],
    frames: Sequence[tuple[str, str, int, int]],
    regions: Sequence[tuple[int, str]] = (),
) -> pd.DataFrame:
    """One row per op call, columns as :data:`COLUMNS`; ``regions`` holds the boundaries
    ``(seq, region path)`` of ``opcount.region`` (see :func:`.regions.region_codes`).

    Built column by column from the store's lists: integers straight into int64 arrays, and
    every string column as a take from its few distinct values (op names, modules, dtypes,
    shapes), which keeps a million rows well under a second.
    """
    n = len(events)
    if n == 0:
        return pd.DataFrame(
            {c: np.array([], dtype=np.int64 if c in INTEGER_COLUMNS else object) for c in COLUMNS},
            columns=list(COLUMNS),
        )
    row_ids = _int_column(events.row_ids)
    frame_ids = _int_column(events.frames)

    def per_call(name: str) -> np.ndarray:
        # a field of the distinct rows, spread to the calls that share each row
        spread: np.ndarray = _int_column(events.field(name))[row_ids]
        return spread

    op_ids = per_call("op_id")
    dtype_codes, dtypes = _codes(events.field("dtype"))
    device_codes, devices = _codes(events.field("device"))
    shape_codes, shapes = per_call("shape_code"), events.shape_table.shapes
    # ops inside an optimizer frame are phase and category "optimizer", whatever the
    # dispatch saw (the hot path records the frame only) and whichever implementation ran
    phase_ids = _int_column(events.phases)
    in_optimizer = np.array([f[3] == OPTIMIZER for f in frames], dtype=bool)[frame_ids]
    phase_ids[in_optimizer] = OPTIMIZER
    category_ids = op_ids.copy()
    category_ids[in_optimizer] = len(ops)
    data = {
        "seq": np.arange(n, dtype=np.int64),
        "op": _take_strings([o.op for o in ops], op_ids),
        "overload": _take_strings([o.overload for o in ops], op_ids),
        "category": _take_strings([o.category for o in ops] + ["optimizer"], category_ids),
        "status": _take_strings(STATUSES, per_call("status")),
        "flops": per_call("flops"),
        "macs": per_call("macs"),
        "recompute_macs": per_call("recompute_macs"),
        "int_ops": per_call("int_ops"),
        "bytes_read": per_call("bytes_read"),
        "bytes_written": per_call("bytes_written"),
        "module": _take_strings([f[0] for f in frames], frame_ids),
        "module_type": _take_strings([f[1] for f in frames], frame_ids),
        "call": np.array([f[2] for f in frames], dtype=np.int64)[frame_ids],
        "phase": _take_strings(PHASES, phase_ids),
        "fwd_seq": _int_column(events.fwd_seqs),
        "dtype": _take_strings([_dtype_name(d) for d in dtypes], dtype_codes[row_ids]),
        "device": _take_strings(
            ["" if d is None else str(d) for d in devices], device_codes[row_ids]
        ),
        "shapes": _take_strings([_shapes_text(s) for s in shapes], shape_codes),
        "region": _take_strings(*region_codes(regions, n)),
        "comm_bytes": per_call("comm_bytes"),
    }
    # copy=False: the arrays are fresh, and pandas would otherwise copy the integer columns
    # into one block
    return pd.DataFrame(data, columns=list(COLUMNS), copy=False)


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
"""pandas 3 always copies on write, so a frame shares its data safely with a shallow copy."""


def handed_out(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` the caller may change without touching ``frame``: shallow (instant)
    where pandas copies on write, deep otherwise."""
    return frame.copy(deep=not _COPY_ON_WRITE)


def write_csv(rows: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``rows`` to ``path`` as CSV, without the index.

    With pyarrow installed this uses its C++ writer, about ten times faster than pandas' at a
    million rows (it quotes every text field, which any CSV reader undoes); without pyarrow, or
    when a column holds integers beyond int64, pandas writes it. :func:`read_csv` reads either
    back exactly.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:
        rows.to_csv(path, index=False)
        return
    try:
        table = pa.Table.from_pandas(rows, preserve_index=False)
    except (OverflowError, pa.ArrowException):  # Python ints beyond int64, odd objects
        rows.to_csv(path, index=False)
        return
    pa_csv.write_csv(table, os.fspath(path))


def read_csv(path: Any) -> pd.DataFrame:
    """Read a CSV written by ``OpCounter.to_csv`` back into the exact DataFrame.

    Empty strings (the root module's name ``""``) stay strings instead of becoming NaN.
    """
    frame = pd.read_csv(
        path, keep_default_na=False, dtype={c: str for c in COLUMNS if c not in INTEGER_COLUMNS}
    )
    return restore_types(frame)


LATER_COLUMNS: Mapping[str, Any] = {"recompute_macs": 0, "region": "", "comm_bytes": 0}
"""Columns added after the first schema, with the value a row written before them reads back as
(no region, no collective)."""


def restore_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Give rows read back from a file the dtypes :func:`rows_frame` makes: integer columns as
    int64 (Python ints where a value does not fit), the others as strings."""
    for column, default in LATER_COLUMNS.items():  # files written before the column existed
        if column not in frame.columns:
            frame[column] = default
    for column in INTEGER_COLUMNS:
        values = frame[column]
        if pd.api.types.is_integer_dtype(values.dtype) and values.dtype != np.uint64:
            frame[column] = values.astype(np.int64)
        else:  # written as text because some value exceeded int64
            frame[column] = _int_column([int(v) for v in values])
    for column in COLUMNS:
        if column not in INTEGER_COLUMNS:
            frame[column] = frame[column].fillna("").astype(str)
    return frame[list(COLUMNS)]


Shapes = tuple[tuple[int, ...], ...]
"""Shapes of the tensors a module call took or returned."""


def module_ancestors(path: str) -> list[str]:
    """Every path enclosing ``path``, innermost first: ``"a.b.c"`` -> ``["a.b", "a", ""]``."""
    if path == "":
        return []
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)] + [""]


def enclosing_modules(name: str, known: set[str]) -> list[str]:
    """The module paths enclosing ``name`` that ran (in ``known``); names outside the root's
    tree (``<outside>``, ``<Linear>`` roots) are not under ``""``."""
    outside_root = name.startswith("<")
    return [p for p in module_ancestors(name) if p in known and not (p == "" and outside_root)]


def module_depth(name: str) -> int:
    """0 for the root ``""``, 1 for ``"layer1"``, 2 for ``"layer1.0"``."""
    return 0 if name == "" else name.count(".") + 1


def by_module(
    rows: pd.DataFrame,
    frames: Sequence[tuple[str, str, int, int]],
    depth: int | None = None,
    phase: str | None = None,
    params: pd.DataFrame | None = None,
    shapes: Mapping[str, tuple[Shapes, Shapes]] | None = None,
) -> pd.DataFrame:
    """Per module: self and inclusive FLOPs, MACs and bytes, in total and per phase, call
    counts and each module's share of the total FLOPs and MACs.

    ``self_*`` columns hold the module's own ops (their sum over all modules is the total);
    the unprefixed columns include every module nested below it in the call path. ``params``
    (a :func:`~opcount.reports.params.params_by_module` frame) adds parameter columns; ``shapes``
    (``{module: (input_shapes, output_shapes)}``) adds the shapes of each module's first call.
    """
    if phase is not None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
        rows = rows[rows["phase"] == phase]
    names: dict[str, str] = {}
    calls: dict[str, int] = {}
    used = set(rows["module"].unique())  # distinct first: iterating a million rows is slow
    for fqn, module_type, _call, frame_phase in frames:
        special = fqn in (OUTSIDE, UNATTRIBUTED)
        if special and fqn not in used:
            continue
        names.setdefault(fqn, module_type)
        if frame_phase in (0, OPTIMIZER) and not special:
            calls[fqn] = calls.get(fqn, 0) + 1
    known = set(names)
    metrics = ["flops", "macs", "bytes_read", "bytes_written", "comm_bytes"]
    value_columns = []
    for p in PHASES:
        for m in metrics:
            value_columns.append(f"{p}_{m}")
    sums = rows.groupby(["module", "phase"], sort=False)[metrics].sum()
    self_values: dict[str, dict[str, int]] = {n: dict.fromkeys(value_columns, 0) for n in names}
    for (module, p), *sums_row in zip(sums.index, *(sums[m] for m in metrics)):
        values = self_values.setdefault(str(module), dict.fromkeys(value_columns, 0))
        for metric, value in zip(metrics, sums_row):
            values[f"{p}_{metric}"] = int(value)
    inclusive = {n: dict(v) for n, v in self_values.items()}
    for name, values in self_values.items():
        for parent in enclosing_modules(name, known):
            target = inclusive[parent]
            for column, value in values.items():
                target[column] += value

    def make_record(name: str, own: dict[str, int], incl: dict[str, int]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "module": name,
            "module_type": names.get(name, ""),
            "depth": module_depth(name) if not name.startswith("<") else 0,
            "calls": calls.get(name, 0),
            "flops": sum(incl[f"{p}_flops"] for p in PHASES),
            "macs": sum(incl[f"{p}_macs"] for p in PHASES),
            "self_flops": sum(own[f"{p}_flops"] for p in PHASES),
            "self_macs": sum(own[f"{p}_macs"] for p in PHASES),
        }
        phase_columns = [
            c for c in value_columns if not c.endswith(("_read", "_written", "_comm_bytes"))
        ]
        for column in phase_columns:
            record[column] = incl[column]
        for column in phase_columns:
            record[f"self_{column}"] = own[column]
        for metric in ("bytes_read", "bytes_written", "comm_bytes"):
            record[metric] = sum(incl[f"{p}_{metric}"] for p in PHASES)
            record[f"self_{metric}"] = sum(own[f"{p}_{metric}"] for p in PHASES)
        return record

    records = [make_record(n, own, inclusive[n]) for n, own in self_values.items()]
    zeros = dict.fromkeys(value_columns, 0)
    # a run without ops still gets the columns, so callers can select them
    frame = pd.DataFrame.from_records(records, columns=list(make_record("", zeros, zeros)))
    first_seen: dict[str, int] = {}
    for index, (fqn, *_rest) in enumerate(frames):
        first_seen.setdefault(fqn, index if not fqn.startswith("<") else (1 << 40) + index)
    order = _tree_order(list(frame["module"]), first_seen)
    frame = frame.set_index("module").loc[order].reset_index()
    for metric in ("flops", "macs"):
        total = int(rows[metric].sum())
        frame[f"{metric}_share"] = [int(v) / total if total else 0.0 for v in frame[metric]]
    if params is not None:
        frame = _join_params(frame, params)
    if shapes is not None:
        for i, column in enumerate(("input_shapes", "output_shapes")):
            cells = [shapes.get(n, ((), ()))[i] for n in frame["module"]]
            frame[column] = pd.Series(cells, index=frame.index, dtype=object)
    if depth is not None:
        frame = frame[frame["depth"] <= depth].reset_index(drop=True)
    return frame


def _tree_order(names: list[str], first_seen: dict[str, int]) -> list[str]:
    """Modules as a tree: each parent before its children, siblings in the order they first
    ran; names outside the root's tree (``<outside>``, other roots) after it."""
    known = set(names)
    children: dict[str | None, list[str]] = {}
    for name in names:
        parents = enclosing_modules(name, known)
        children.setdefault(parents[0] if parents else None, []).append(name)
    order: list[str] = []

    def visit(parent: str | None) -> None:
        for child in sorted(children.get(parent, []), key=lambda n: first_seen.get(n, 1 << 62)):
            order.append(child)
            visit(child)

    visit(None)
    return order


def aggregate(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Calls and summed costs per group of ``keys``, groups in order of first appearance,
    with each group's share of the total FLOPs."""
    grouped = rows.groupby(keys, as_index=False, sort=False).agg(
        calls=("seq", "size"),
        flops=("flops", "sum"),
        macs=("macs", "sum"),
        bytes_read=("bytes_read", "sum"),
        bytes_written=("bytes_written", "sum"),
        int_ops=("int_ops", "sum"),
        comm_bytes=("comm_bytes", "sum"),
    )
    total = int(rows["flops"].sum())
    grouped["flops_share"] = [int(v) / total if total else 0.0 for v in grouped["flops"]]
    return grouped


def _most_flops_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["flops", "calls"], ascending=False, kind="stable").reset_index(
        drop=True
    )


def by_op(rows: pd.DataFrame) -> pd.DataFrame:
    """Per aten op: calls, FLOPs, MACs and bytes, most FLOPs first."""
    return _most_flops_first(aggregate(rows, ["op", "category", "status"]))


def by_category(rows: pd.DataFrame) -> pd.DataFrame:
    """Per op category (matmul, conv, attention, ...): calls and costs, most FLOPs first."""
    return _most_flops_first(aggregate(rows, ["category"]))


def by_region(rows: pd.DataFrame) -> pd.DataFrame:
    """Per region (``""``: outside every region), in order of first appearance: calls and
    summed costs; the columns sum to the rows' totals."""
    return aggregate(rows, ["region"])


def by_phase(rows: pd.DataFrame) -> pd.DataFrame:
    """Per phase (forward, backward, recompute) that ran: calls and costs."""
    frame = aggregate(rows, ["phase"])
    order = {p: i for i, p in enumerate(PHASES)}
    return frame.sort_values("phase", key=lambda c: c.map(order)).reset_index(drop=True)


def by_dtype(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dtype of the ops' first tensor: calls and costs (``int_ops`` for integer dtypes)."""
    return _most_flops_first(aggregate(rows, ["dtype"]))


def by_module_and_op(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (module, op) pair: each module's own ops (not its children's), modules in the order
    they first ran, then most FLOPs first."""
    frame = aggregate(rows, ["module", "module_type", "op"])
    first = {m: i for i, m in enumerate(pd.unique(rows["module"]))}
    frame["_first"] = frame["module"].map(first)
    frame = frame.sort_values(["_first", "flops"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_first").reset_index(drop=True)


def module_shapes(
    frames: Sequence[tuple[str, str, int, int]],
    input_shapes: Mapping[int, int],
    output_shapes: Mapping[int, int],
    shape_table: Sequence[Shapes],
) -> dict[str, tuple[Shapes, Shapes]]:
    """``{module: (input_shapes, output_shapes)}`` of each module's first forward call; the
    tracker's maps give, per frame, an index into ``shape_table``."""
    found: dict[str, tuple[Shapes, Shapes]] = {}
    for index, (fqn, _type, _call, phase) in enumerate(frames):
        if phase == 0 and fqn not in found and index in input_shapes:
            output = output_shapes.get(index)
            found[fqn] = (
                _plain(shape_table[input_shapes[index]]),
                _plain(shape_table[output]) if output is not None else (),
            )
    return found


def _plain(shapes: Shapes) -> Shapes:
    """Shapes as plain tuples of ints (the tracker keeps the ``torch.Size`` it was handed)."""
    return tuple(tuple(shape) for shape in shapes)


def _join_params(frame: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the parameter columns of each module path; 0 where the path is unknown
    (``<outside>``, modules called by a path the model does not name)."""
    extra = params.drop(columns=["module_type", "depth"]).drop_duplicates("module")
    joined = frame.merge(extra, on="module", how="left")
    for column in PARAM_COUNT_COLUMNS:
        joined[column] = joined[column].fillna(0).astype(np.int64)
    joined["shared_with"] = joined["shared_with"].fillna("").astype(str)
    joined["weight_shape"] = (
        joined["weight_shape"].astype(object).where(joined["weight_shape"].notna(), None)
    )
    return joined


_CONTAINER_TYPES = frozenset({"ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})
"""Module types that hold others but have no forward of their own: never "uncalled"."""


def uncalled_modules(
    params: pd.DataFrame, module_ids: Sequence[int], called: set[int]
) -> pd.DataFrame:
    """Modules of the model that never ran forward: ``params`` is the model's
    :func:`~opcount.reports.params.params_by_module` frame, ``module_ids`` the ``id()`` of each
    of its rows' module and ``called`` the ids of the modules that ran (by any path)."""
    keep = [
        i not in called and t not in _CONTAINER_TYPES
        for i, t in zip(module_ids, params["module_type"])
    ]
    columns = ["module", "module_type", "depth", "params"]
    return params.loc[keep, columns].reset_index(drop=True)


def unsupported_ops(rows: pd.DataFrame, errors: dict[int, str]) -> pd.DataFrame:
    """Ops without a formula: name, calls, the modules that ran them, and any formula error."""
    unsupported = rows[rows["status"] == "unsupported"]
    records = []
    for op, group in unsupported.groupby("op", sort=True):
        reasons = sorted({errors[s] for s in group["seq"] if s in errors})
        records.append(
            {
                "op": op,
                "calls": len(group),
                "modules": sorted(set(group["module"])),
                "reason": "; ".join(reasons) if reasons else "no formula",
            }
        )
    return pd.DataFrame.from_records(records, columns=["op", "calls", "modules", "reason"])
