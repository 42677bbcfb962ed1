"""The report's data: plain JSON-ready dicts built from the rows (pure functions, no HTML).

Every figure on the page is read from this payload, so a test can compare it with the counter's
own totals; integers stay Python ints (exact), floats are only the time columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..format import format_bytes, format_compute, format_count, format_params
from ..frames import module_ancestors

SCHEMA = 1
"""Version of the embedded payload."""

BASE_MEASURES = ("flops", "macs", "bytes_read", "bytes_written")
"""Measures every run has, one column of the rows each."""

OPTIONAL_MEASURES = ("time_s", "est_time_s", "comm_bytes")
"""Columns other parts add to the rows (measured time, roofline estimate, bytes sent by
collectives): a measure of the report wherever the column exists."""

MEASURE_LABELS = {
    "flops": "FLOPs",
    "macs": "MACs",
    "bytes_read": "bytes read",
    "bytes_written": "bytes written",
    "params": "parameters",
    "time_s": "measured time (s)",
    "est_time_s": "estimated time (s)",
    "comm_bytes": "bytes sent",
}

ROOT = "(run)"
"""Name of the synthetic root when ops ran outside the model's tree (``<outside>``, ...)."""

PHASE_ORDER = ("forward", "backward", "recompute", "optimizer")


def _plain(value: Any) -> Any:
    """A numpy/pandas scalar as a Python int or float (NaN -> 0.0: an untimed row)."""
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        number = float(value)
        return 0.0 if math.isnan(number) else number
    return int(value)


def measures_of(rows: pd.DataFrame) -> list[str]:
    """The row measures this run has: the base ones, then any optional column present."""
    return list(BASE_MEASURES) + [m for m in OPTIONAL_MEASURES if m in rows.columns]


def phases_of(rows: pd.DataFrame) -> list[str]:
    """The phases that ran, in the order forward, backward, recompute, optimizer, others."""
    seen = [str(p) for p in pd.unique(rows["phase"])]
    known = [p for p in PHASE_ORDER if p in seen]
    return known + [p for p in seen if p not in PHASE_ORDER]


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` -> ``["a.b", "a", ""]``; names such as ``<outside>`` have none."""
    return [] if name.startswith("<") else module_ancestors(name)


def module_tree(
    rows: pd.DataFrame,
    measures: Sequence[str],
    phases: Sequence[str],
    types: Mapping[str, str] | None = None,
    self_params: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The module tree with each node's own (self) figures per phase and measure.

    Nodes are listed parents first, siblings in the order they first ran; a module that holds
    others but never ran (a ``ModuleList``) is a node with no own figures, so the tree follows
    the call paths. ``self`` is ``{phase: {measure: [value per node]}}``; inclusive figures are
    sums over a node's subtree (the page adds them up, so the payload holds each figure once).
    """
    order = [str(m) for m in pd.unique(rows["module"])]
    pairs = rows[["module", "module_type"]].drop_duplicates("module")  # not a loop over rows
    known_types = {str(m): str(t) for m, t in zip(pairs["module"], pairs["module_type"])}
    if types:
        known_types = {**types, **known_types}
    names: dict[str, None] = {}
    for name in order:
        for parent in reversed(_ancestors(name)):
            names.setdefault(parent, None)
        names.setdefault(name, None)
    for name, count in (self_params or {}).items():
        if count:  # a module whose parameters some other module's code used: still holds them
            for parent in reversed(_ancestors(name)):
                names.setdefault(parent, None)
            names.setdefault(name, None)
    synthetic = any(n.startswith("<") for n in names) or not names
    children: dict[str | None, list[str]] = {}
    # under the synthetic root: the model's tree first, then <outside> and the like
    for name in sorted(names, key=lambda n: n.startswith("<")):
        ancestors = _ancestors(name)
        above: str | None = ancestors[0] if ancestors else (ROOT if synthetic else None)
        children.setdefault(above, []).append(name)
    listed: list[str] = []
    parents: list[int] = []

    def visit(name: str, parent: int) -> None:
        index = len(listed)
        listed.append(name)
        parents.append(parent)
        for child in children.get(name, []):
            visit(child, index)

    if synthetic:
        visit(ROOT, -1)
    else:
        for top in children.get(None, []):
            visit(top, -1)
    position = {name: i for i, name in enumerate(listed)}
    grouped = rows.groupby(["module", "phase"], sort=False)[list(measures)].sum()
    own: dict[str, dict[str, list[Any]]] = {
        p: {m: [0] * len(listed) for m in measures} for p in phases
    }
    for key, values in grouped.iterrows():
        module, phase = (str(k) for k in key)  # type: ignore[attr-defined]  # (module, phase)
        index = position[module]
        for measure in measures:
            own[phase][measure][index] = _plain(values[measure])
    nodes = [
        {
            "name": name,
            "label": _label(name),
            "type": known_types.get(name, ""),
            "parent": parent,
        }
        for name, parent in zip(listed, parents)
    ]
    tree: dict[str, Any] = {"nodes": nodes, "self": own}
    if self_params is not None:
        tree["self_params"] = [int(self_params.get(name, 0)) for name in listed]
    return tree


def _label(name: str) -> str:
    if name == "":
        return "(root)"
    if name.startswith("<") or name == ROOT:
        return name
    return name.rsplit(".", 1)[-1]


def _grouped(rows: pd.DataFrame, keys: list[str], measures: Sequence[str]) -> list[dict[str, Any]]:
    """Calls and summed measures per group of ``keys``, most FLOPs first (stable)."""
    frame = rows.groupby(keys, sort=False, as_index=False).agg(
        calls=("seq", "size"), **{m: (m, "sum") for m in measures}
    )
    frame = frame.sort_values(["flops", "calls"], ascending=False, kind="stable")
    return [
        {str(k): (str(v) if k in keys else _plain(v)) for k, v in record.items()}
        for record in frame.to_dict("records")
    ]


def roofline(
    rows: pd.DataFrame,
    ops: Sequence[Mapping[str, Any]],
    time_column: str,
    peak_flops: float | None,
    bandwidth: float | None,
) -> dict[str, Any]:
    """Per op (all its calls): arithmetic intensity (FLOPs per byte moved) and attained FLOP/s
    from ``time_column``. Roofs: the ones given, or else the envelope of the calls (the highest
    FLOP/s and bytes/s any single call reached), labelled as such."""
    points = []
    for op in ops:
        moved = op["bytes_read"] + op["bytes_written"]
        seconds = float(op[time_column])
        if seconds > 0 and op["flops"] > 0 and moved > 0:
            points.append(
                {
                    "op": op["op"],
                    "category": op["category"],
                    "intensity": op["flops"] / moved,
                    "flops_per_s": op["flops"] / seconds,
                    "time_s": seconds,
                }
            )
    timed = rows[rows[time_column].fillna(0) > 0]
    per_call = timed[time_column].astype(float)
    moved_per_call = (timed["bytes_read"] + timed["bytes_written"]).astype(float)
    best_flops = float((timed["flops"].astype(float) / per_call).max()) if len(timed) else 0.0
    best_bandwidth = float((moved_per_call / per_call).max()) if len(timed) else 0.0
    given = peak_flops is not None and bandwidth is not None
    return {
        "time_column": time_column,
        "points": points,
        "peak_flops": float(peak_flops) if peak_flops is not None else best_flops,
        "bandwidth": float(bandwidth) if bandwidth is not None else best_bandwidth,
        "roof_source": "device" if given else "envelope of the calls",
    }


def _seconds(value: float) -> str:
    """``8.3e-05`` -> ``"83.0 µs"``: three significant digits in s, ms or µs."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(value) >= scale or unit == "µs":
            return f"{value / scale:.3g} {unit}" if value else "0 s"
    raise AssertionError("unreachable")


def _header_totals(totals: Mapping[str, Any], extra: Mapping[str, Any]) -> list[dict[str, str]]:
    """The header's cards: label, value with units (as the printed table says it), exact."""
    cards = [
        {"key": "macs", "label": "MACs", "text": format_compute(totals["macs"], "MACs")},
        {"key": "flops", "label": "FLOPs", "text": format_compute(totals["flops"], "FLOPs")},
        {"key": "bytes_read", "label": "read", "text": format_bytes(totals["bytes_read"])},
        {
            "key": "bytes_written",
            "label": "written",
            "text": format_bytes(totals["bytes_written"]),
        },
        {"key": "ops", "label": "aten op calls", "text": format_count(totals["ops"])},
    ]
    if "params" in totals:
        cards.append(
            {"key": "params", "label": "parameters", "text": format_params(totals["params"])}
        )
    for key, value in extra.items():
        if key == "comm_bytes":
            cards.append({"key": key, "label": "sent", "text": format_bytes(int(value))})
        else:
            cards.append({"key": key, "label": MEASURE_LABELS[key], "text": _seconds(value)})
    for card in cards:
        value = totals.get(card["key"], extra.get(card["key"]))
        card["exact"] = format_count(value) if isinstance(value, int) else f"{value!r} s"
    return cards


def run_payload(
    rows: pd.DataFrame,
    totals: Mapping[str, Any],
    *,
    title: str,
    inputs: str = "",
    unsupported: pd.DataFrame | None = None,
    types: Mapping[str, str] | None = None,
    self_params: Mapping[str, int] | None = None,
    peak_flops: float | None = None,
    bandwidth: float | None = None,
) -> dict[str, Any]:
    """Everything the page of one run shows. ``totals`` is the counter's (macs, flops, ops,
    bytes, complete, params...); ``self_params`` the parameters registered on each module."""
    measures = measures_of(rows)
    phases = phases_of(rows)
    extra = {m: _plain(rows[m].sum()) for m in OPTIONAL_MEASURES if m in rows.columns}
    all_totals = {**dict(totals), **extra}
    ops = _grouped(rows, ["op", "category", "status"], measures)
    time_column = next((c for c in ("time_s", "est_time_s") if c in rows.columns), None)
    listing = []
    if unsupported is not None:
        listing = [
            {
                "op": str(r["op"]),
                "calls": int(r["calls"]),
                "modules": [str(m) for m in r["modules"]],
                "reason": str(r["reason"]),
            }
            for r in unsupported.to_dict("records")
        ]
    return {
        "schema": SCHEMA,
        "kind": "run",
        "title": title,
        "inputs": inputs,
        "phases": phases,
        "measures": measures + (["params"] if self_params is not None else []),
        "labels": MEASURE_LABELS,
        "totals": all_totals,
        "cards": _header_totals(totals, extra),
        "complete": bool(totals["complete"]),
        "unsupported": listing,
        "tree": module_tree(rows, measures, phases, types, self_params),
        "ops": ops,
        "categories": _grouped(rows, ["category"], measures),
        "roofline": (
            roofline(rows, ops, time_column, peak_flops, bandwidth)
            if time_column is not None
            else None
        ),
    }


def _cell(value: Any) -> Any:
    """A sweep cell as JSON: ints and text as they are, NaN (no published figure) as null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (bool, int)) or hasattr(value, "dtype"):
        return int(value)
    return str(value)


SWEEP_MEASURES = (
    "forward_macs",
    "forward_flops",
    "backward_macs",
    "backward_flops",
    "params",
    "unsupported_ops",
)


def sweep_payload(models: Sequence[Mapping[str, Any]], *, title: str) -> dict[str, Any]:
    """The page comparing several models: one record of integer totals per model (the sweep
    table's rows), an ``error`` text for a model that failed."""
    records = [{str(k): _cell(v) for k, v in m.items()} for m in models]
    return {
        "schema": SCHEMA,
        "kind": "sweep",
        "title": title,
        "measures": [m for m in SWEEP_MEASURES if any(m in r for r in records)],
        "labels": {
            "forward_macs": "forward MACs",
            "forward_flops": "forward FLOPs",
            "backward_macs": "backward MACs",
            "backward_flops": "backward FLOPs",
            "params": "parameters",
            "unsupported_ops": "unsupported op calls",
        },
        "models": records,
    }
