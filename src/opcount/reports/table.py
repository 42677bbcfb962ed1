"""The printed report: small pure functions from module records to plain text or HTML.

Records are plain mappings keyed by :func:`opcount.reports.frames.by_module` column names, so
every step can be tested on hand-written data without a model; numbers are scaled to units only
here.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import OpCountError
from .format import (
    elide,
    format_bytes,
    format_compact,
    format_compute,
    format_count,
    format_params,
    format_shape,
    format_shapes,
    format_share,
    render_table,
)

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """One table column: its header, the record field it shows, and how to format it."""

    header: str
    field: str
    kind: str
    align: str = ">"


TABLE_COLUMNS: dict[str, Column] = {
    "type": Column("type", "module_type", "text", "<"),
    "calls": Column("calls", "calls", "count"),
    "input": Column("input shape", "input_shapes", "shapes", "<"),
    "output": Column("output shape", "output_shapes", "shapes", "<"),
    "kernel": Column("kernel", "weight_shape", "shape", "<"),
    "params": Column("params", "params", "params"),
    "macs": Column("fwd MACs", "forward_macs", "macs"),
    "flops": Column("fwd FLOPs", "forward_flops", "flops"),
    "backward_macs": Column("bwd MACs", "backward_macs", "macs"),
    "backward_flops": Column("bwd FLOPs", "backward_flops", "flops"),
    "recompute_flops": Column("recompute FLOPs", "recompute_flops", "flops"),
    "optimizer_flops": Column("optim FLOPs", "optimizer_flops", "flops"),
    "total_macs": Column("MACs", "macs", "macs"),
    "total_flops": Column("FLOPs", "flops", "flops"),
    "share": Column("FLOPs %", "flops_share", "share"),
    "bytes_read": Column("read", "bytes_read", "bytes"),
    "bytes_written": Column("written", "bytes_written", "bytes"),
    "comm_bytes": Column("comm sent", "comm_bytes", "bytes"),
}
"""Columns ``OpCounter.table(columns=...)`` accepts, by key."""

DROP_ORDER = (
    "input",
    "kernel",
    "calls",
    "bytes_read",
    "bytes_written",
    "backward_macs",
    "recompute_flops",
    "share",
    "output",
    "optimizer_flops",
    "type",
    "comm_bytes",  # last: in a distributed run the bytes sent matter as much as the FLOPs
)
"""Columns left out, in this order, while a table is wider than asked; the module name, params,
MACs and FLOPs always stay."""

_TEXT_WIDTH = 20  # a long class name keeps its start: "TransformerEncoderL…"
_SHAPES_WIDTH = 24  # two image-sized shapes: "1x3x224x224, 1x3x224x224"
_MIN_NAME_WIDTH = 20


def default_columns(
    *,
    params: bool,
    shapes: bool,
    backward: bool,
    recompute: bool,
    comm: bool = False,
    optimizer: bool = False,
) -> list[str]:
    """The columns a plain ``print(counter)`` shows, given what the run recorded."""
    columns = ["type"]
    if shapes:
        columns += ["input", "output"]
    if params:
        columns += ["kernel", "params"]
    columns += ["macs", "flops"]
    if backward:
        columns.append("backward_flops")
    if recompute:
        columns.append("recompute_flops")
    if comm:  # collectives ran
        columns.append("comm_bytes")
    if optimizer:
        columns.append("optimizer_flops")
    columns.append("share")
    return columns


def cell(kind: str, value: Any) -> str:
    """One formatted cell; missing values (``None``, absent fields) print empty."""
    if value is None:
        return ""
    if kind == "text":
        return elide(str(value), _TEXT_WIDTH, keep="start")
    if kind == "shapes":
        return elide(format_shapes(value), _SHAPES_WIDTH, keep="start")
    if kind == "shape":
        return format_shape(value)
    if kind == "count":
        return format_count(int(value))
    if kind == "params":
        return format_params(int(value))
    if kind == "macs":
        return format_compact(int(value), "MACs")
    if kind == "flops":
        return format_compact(int(value), "FLOPs")
    if kind == "share":
        return format_share(float(value))
    if kind == "bytes":
        return format_bytes(int(value))
    raise ValueError(f"unknown cell kind {kind!r}")


def module_label(name: str, level: int) -> str:
    """The tree cell: the module's path indented two spaces per level; the root ``(root)``."""
    return "  " * level + (name if name else "(root)")


def tree_levels(names: Sequence[str]) -> list[int]:
    """Indentation level of each module path: how many of its enclosing paths are listed too,
    so a child of an unlisted container (a ``ModuleList`` never called) sits under the root."""
    listed = set(names)
    levels = []
    for name in names:
        if not name or name.startswith("<"):
            levels.append(0)
            continue
        parts = name.split(".")
        enclosing = [".".join(parts[:i]) for i in range(1, len(parts))] + [""]
        levels.append(sum(1 for e in enclosing if e in listed))
    return levels


def resolve_columns(columns: Sequence[str]) -> list[Column]:
    """The :class:`Column` of each key, with an error naming the valid keys."""
    unknown = [c for c in columns if c not in TABLE_COLUMNS]
    if unknown:
        raise OpCountError(
            f"unknown table column(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(TABLE_COLUMNS)}"
        )
    return [TABLE_COLUMNS[c] for c in columns]


def _table_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    return sum(widths) + 2 * (len(widths) - 1)


def fit_columns(
    keys: Sequence[str],
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
) -> list[int]:
    """Indices of the columns to keep so the table fits ``width`` characters, leaving out
    columns in :data:`DROP_ORDER`; column 0 (the module) and unlisted columns always stay."""
    kept = list(range(len(headers)))
    if width is None:
        return kept

    def kept_width() -> int:
        return _table_width([headers[i] for i in kept], [[row[i] for i in kept] for row in rows])

    for key in DROP_ORDER:
        if kept_width() <= width:
            break
        if key in keys:
            kept.remove(keys.index(key) + 1)
    return kept


@dataclass(frozen=True)
class TextTable:
    """A rendered table and the headers of the columns left out to fit the width."""

    text: str
    dropped: list[str]


def module_table(
    records: Sequence[Record],
    columns: Sequence[str],
    totals: Record | None = None,
    width: int | None = 100,
) -> TextTable:
    """The module tree as text, one row per record, a ``total`` footer from ``totals``."""
    specs = resolve_columns(columns)
    headers = ["module", *(s.header for s in specs)]
    levels = tree_levels([str(r["module"]) for r in records])
    body = [
        [module_label(str(r["module"]), level), *(cell(s.kind, r.get(s.field)) for s in specs)]
        for r, level in zip(records, levels)
    ]
    footer = [["total", *(cell(s.kind, totals.get(s.field)) for s in specs)]] if totals else []
    kept = fit_columns(list(columns), headers, [*body, *footer], width)
    pick = [headers[i] for i in kept]
    body = [[row[i] for i in kept] for row in body]
    footer = [[row[i] for i in kept] for row in footer]
    if width is not None:
        # still too wide: shorten the module paths, keeping their ends (the leaf names)
        rest = _table_width(pick[1:], [r[1:] for r in [*body, *footer]]) + 2
        room = max(_MIN_NAME_WIDTH, width - rest)
        for row in body:
            indent = len(row[0]) - len(row[0].lstrip(" "))
            row[0] = row[0][:indent] + elide(row[0][indent:], max(room - indent, 8))
    align = "<" + "".join(TABLE_COLUMNS[columns[i - 1]].align for i in kept[1:])
    dropped = [headers[i] for i in range(len(headers)) if i not in kept]
    return TextTable(render_table(pick, body, align, footer), dropped)


def summary_lines(totals: Record) -> list[str]:
    """The lines above the table: per-phase and total MACs and FLOPs, op calls, bytes, params.

    ``totals`` holds ``phases`` (``{phase: {"macs": int, "flops": int}}`` for the phases that
    ran), ``macs``, ``flops``, ``ops``, ``bytes_read``, ``bytes_written``, for a training step
    ``model_flops`` and ``hardware_flops``, and, when the model is known, ``params``,
    ``trainable_params`` and ``param_bytes``.
    """
    phases: Mapping[str, Mapping[str, int]] = totals.get("phases", {})
    rows = [(p, v["macs"], v["flops"]) for p, v in phases.items()]
    if len(rows) != 1:
        rows.append(("total", totals["macs"], totals["flops"]))
    label_width = max(len(r[0]) for r in rows) + 1
    lines = [
        f"{(name + ':').ljust(label_width)} {format_compute(macs, 'MACs')}, "
        f"{format_compute(flops, 'FLOPs')}"
        for name, macs, flops in rows
    ]
    if "model_flops" in totals:  # a training step: MFU's and HFU's numerators
        lines.append(
            f"model FLOPs: {format_compute(totals['model_flops'], 'FLOPs')} (MFU), "
            f"hardware FLOPs: {format_compute(totals['hardware_flops'], 'FLOPs')} (HFU)"
        )
    lines.append(
        f"{format_count(totals['ops'])} aten op calls, {format_bytes(totals['bytes_read'])} "
        f"read, {format_bytes(totals['bytes_written'])} written"
    )
    params = totals.get("params")
    if params is not None:
        trainable = totals.get("trainable_params", params)
        train_text = (
            "all trainable" if trainable == params else f"{format_count(trainable)} trainable"
        )
        exact = f"{format_count(params)}, " if params >= 1000 else ""
        lines.append(
            f"parameters: {format_params(params)} ({exact}{train_text}), "
            f"{format_bytes(totals.get('param_bytes', 0))}"
        )
    return lines


def note_lines(
    dropped: Sequence[str],
    unsupported: Sequence[tuple[str, int]],
    problems: Sequence[str] = (),
    width: int | None = 100,
) -> list[str]:
    """The lines below the table: columns left out, ops without a formula, tracking problems."""
    notes = []
    if dropped:
        notes.append(
            f"left out to fit {width} characters: {', '.join(dropped)} "
            "(table(width=None) shows every column)"
        )
    if unsupported:
        listing = ", ".join(f"{op} x{calls}" for op, calls in unsupported)
        notes.append(f"not counted (no formula yet; totals are a lower bound): {listing}")
    notes += [f"tracking problem: {p}" for p in problems]
    wrap = width or 100
    return [textwrap.fill(n, wrap, subsequent_indent="  ", break_on_hyphens=False) for n in notes]


def render_report(summary: Sequence[str], table: str, notes: Sequence[str]) -> str:
    """Summary, table and notes, separated by blank lines."""
    parts = ["\n".join(summary), table]
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts)


def render_html(
    summary: Sequence[str],
    records: Sequence[Record],
    columns: Sequence[str],
    totals: Record | None,
    notes: Sequence[str],
) -> str:
    """The report as an HTML fragment for Jupyter: every column, the tree shown by indenting."""
    specs = resolve_columns(columns)
    esc = html.escape

    def row(tag: str, cells: Sequence[tuple[str, str]], indent: int = 0) -> str:
        parts = []
        for i, (text, align) in enumerate(cells):
            style = f"text-align:{'left' if align == '<' else 'right'}"
            if i == 0 and indent:
                style += f";padding-left:{indent * 1.2:.1f}em"
            parts.append(f'<{tag} style="{style}">{esc(text)}</{tag}>')
        return "<tr>" + "".join(parts) + "</tr>"

    head = row("th", [("module", "<"), *((s.header, s.align) for s in specs)])
    levels = tree_levels([str(r["module"]) for r in records])
    body = [
        row(
            "td",
            [
                (str(r["module"]) or "(root)", "<"),
                *((cell(s.kind, r.get(s.field)), s.align) for s in specs),
            ],
            level,
        )
        for r, level in zip(records, levels)
    ]
    if totals:
        body.append(
            row(
                "th",
                [("total", "<"), *((cell(s.kind, totals.get(s.field)), s.align) for s in specs)],
            )
        )
    lines = "<br>".join(esc(line) for line in summary)
    notes_html = "".join(f"<p>{esc(n)}</p>" for n in notes)
    return (
        f'<div class="opcount"><p style="font-family:monospace">{lines}</p>'
        f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>{notes_html}</div>"
    )
