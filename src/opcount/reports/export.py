"""Files and paper tables from the rows: JSON with a schema version, Parquet, LaTeX, Markdown.

Every file writer has a reader giving back the exact rows (CSV lives beside the rows in
``frames.py``); the paper tables are pure functions of a ``by_module`` frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any, Union

import pandas as pd

from ..errors import OpCountError
from .frames import COLUMNS, INTEGER_COLUMNS, restore_types
from .table import tree_levels

SCHEMA = "opcount.rows"
SCHEMA_VERSION = 1
"""Bumped whenever a column changes meaning; readers refuse files from a newer schema."""

PathLike = Union[str, "os.PathLike[str]"]


def _header() -> dict[str, Any]:
    from .. import __version__  # late: the package imports this module while initialising

    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "opcount_version": __version__}


def _check_header(header: Mapping[str, Any], source: str) -> None:
    if header.get("schema") != SCHEMA:
        raise OpCountError(
            f"{source} is not an opcount rows file (schema {header.get('schema')!r})"
        )
    version = header.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise OpCountError(
            f"{source} has rows schema version {version!r}; this opcount reads up to "
            f"{SCHEMA_VERSION}: upgrade opcount"
        )


# -- JSON ------------------------------------------------------------------------------------


def rows_to_json(rows: pd.DataFrame, totals: Mapping[str, Any] | None = None) -> str:
    """The rows as one JSON object: a schema header, ``columns`` and the values column by
    column (integers exact, whatever their size), plus optional ``totals``."""
    data = {
        c: [int(v) for v in rows[c]] if c in INTEGER_COLUMNS else [str(v) for v in rows[c]]
        for c in COLUMNS
    }
    payload = {**_header(), "columns": list(COLUMNS), "rows": data, "totals": dict(totals or {})}
    return json.dumps(payload, separators=(",", ":"))


def read_json(source: PathLike | IO[str]) -> pd.DataFrame:
    """Read rows written by ``OpCounter.to_json`` (a path or an open text file) exactly."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as handle:
            payload = json.load(handle)
        name = os.fspath(source)
    else:
        payload = json.load(source)
        name = "the JSON input"
    if not isinstance(payload, dict):
        raise OpCountError(f"{name} is not an opcount rows file")
    _check_header(payload, name)
    return restore_types(pd.DataFrame({c: payload["rows"][c] for c in COLUMNS}))


# -- Parquet ---------------------------------------------------------------------------------


def _pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, imported only when Parquet is asked for."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise OpCountError(
            "Parquet needs the 'pyarrow' package, which is not installed: "
            "pip install pyarrow (or pip install 'opcount[parquet]')"
        ) from error
    return pyarrow, pyarrow.parquet


def write_parquet(rows: pd.DataFrame, path: PathLike) -> None:
    """Write the rows to a Parquet file with the schema header in its metadata."""
    pa, pq = _pyarrow()
    frame = rows.copy()
    for column in INTEGER_COLUMNS:
        if frame[column].dtype == object:  # Python ints beyond int64: keep them exact as text
            frame[column] = frame[column].map(str)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[b"opcount"] = json.dumps(_header()).encode()
    pq.write_table(table.replace_schema_metadata(metadata), os.fspath(path))


def read_parquet(path: PathLike) -> pd.DataFrame:
    """Read rows written by ``OpCounter.to_parquet`` back exactly."""
    _, pq = _pyarrow()
    table = pq.read_table(os.fspath(path))
    raw = (table.schema.metadata or {}).get(b"opcount")
    header = json.loads(raw) if raw else {}
    _check_header(header, os.fspath(path))
    return restore_types(table.to_pandas())


# -- paper tables ----------------------------------------------------------------------------

_SCALES = {
    "params": ((10**9, "B"), (10**6, "M"), (10**3, "K")),
    "compute": ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")),
}


def column_scale(values: Sequence[int], kind: str) -> tuple[int, str]:
    """One ``(scale, prefix)`` for a whole column, from its largest value: ``(10**9, "G")``."""
    largest = max((abs(int(v)) for v in values), default=0)
    for scale, prefix in _SCALES[kind]:
        if largest >= scale:
            return scale, prefix
    return 1, ""


def _latex_escape(text: str) -> str:
    special = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
    }
    return "".join(special.get(ch, ch) for ch in text)


def _markdown_escape(text: str) -> str:
    return text.replace("|", r"\|").replace("_", r"\_").replace("<", "&lt;").replace(">", "&gt;")


def paper_rows(
    frame: pd.DataFrame, depth: int = 1, phase: str | None = "forward"
) -> tuple[list[str], list[list[int | None]], list[int | None], list[int]]:
    """``(names, values, total, levels)`` for a paper table from a full ``by_module`` frame:
    one row per module down to tree level ``depth`` below the root (levels count the modules
    that ran, so the blocks of a ``ModuleList`` are level 1), values ``[params, MACs, FLOPs]``
    (params ``None`` without a model), and the total of the top-level rows (the root plus any
    ops outside it)."""
    prefix = f"{phase}_" if phase else ""
    has_params = "params" in frame.columns
    names, values, kept_levels = [], [], []
    total: list[int | None] = [None, 0, 0]
    levels = tree_levels([str(m) for m in frame["module"]])
    for record, level in zip(frame.to_dict("records"), levels):
        cells: list[int | None] = [
            int(record["params"]) if has_params else None,
            int(record[f"{prefix}macs"]),
            int(record[f"{prefix}flops"]),
        ]
        if level == 0:
            total[1] = int(total[1] or 0) + int(cells[1] or 0)
            total[2] = int(total[2] or 0) + int(cells[2] or 0)
            if record["module"] == "" and has_params:
                total[0] = cells[0]
            if str(record["module"]) == "" or not any(cells[1:]):
                continue  # the root is the total; empty special rows say nothing
        elif level > depth:
            continue
        names.append(str(record["module"]))
        values.append(cells)
        kept_levels.append(max(level, 1))
    return names, values, total, kept_levels


def paper_table(
    frame: pd.DataFrame,
    fmt: str,
    *,
    depth: int = 1,
    phase: str | None = "forward",
    digits: int = 2,
    caption: str | None = None,
) -> str:
    """A LaTeX (``fmt="latex"``, booktabs) or Markdown (``"markdown"``) table of params, MACs
    and FLOPs per module of ``frame`` (a ``by_module()`` frame) down to ``depth``, with a total.
    Each column has one unit, chosen from its largest value and named in its header."""
    if fmt not in ("latex", "markdown"):
        raise OpCountError(f"unknown table format {fmt!r}; use 'latex' or 'markdown'")
    names, values, total, depths = paper_rows(frame, depth, phase)
    has_params = total[0] is not None
    kinds = [("Params", "params"), ("MACs", "compute"), ("FLOPs", "compute")]
    columns = [i for i in range(3) if has_params or i > 0]
    scales = [column_scale([v[i] or 0 for v in [*values, total]], kinds[i][1]) for i in range(3)]
    headers = ["Module"]
    for i in columns:
        prefix = scales[i][1]
        name = kinds[i][0]
        headers.append(f"Params ({prefix})" if i == 0 and prefix else f"{prefix}{name}")

    def number(i: int, value: int | None) -> str:
        scale = scales[i][0]
        return f"{(value or 0) / scale:.{digits}f}" if scale > 1 else str(value or 0)

    body = [[name, *(number(i, v[i]) for i in columns)] for name, v in zip(names, values)]
    total_row = ["Total", *(number(i, total[i]) for i in columns)]
    what = f"{phase} pass" if phase else "all phases"
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(headers) + " |",
            "|:--" + "|--:" * len(columns) + "|",
        ]
        for depth, row in zip(depths, body):
            label = "&nbsp;&nbsp;" * (depth - 1) + _markdown_escape(row[0])
            lines.append("| " + " | ".join([label, *row[1:]]) + " |")
        lines.append("| " + " | ".join(f"**{c}**" for c in total_row) + " |")
        if caption:
            lines += ["", caption]
        return "\n".join(lines) + "\n"
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_escape(caption or f'Parameters and compute per module ({what}).')}}}",
        r"\begin{tabular}{l" + "r" * len(columns) + "}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
    ]
    for depth, row in zip(depths, body):
        indent = r"\quad " * (depth - 1)
        lines.append(" & ".join([indent + _latex_escape(row[0]), *row[1:]]) + r" \\")
    lines += [
        r"\midrule",
        " & ".join(total_row) + r" \\",
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
