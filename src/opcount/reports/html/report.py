"""A counted run or a sweep to an HTML file: gathers what the page shows, renders, writes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from torch import nn

from ...errors import OpCountError
from ..format import format_shapes
from ..params import params_by_module
from .data import run_payload, sweep_payload
from .page import render_page


def _inputs_text(modules: pd.DataFrame | None) -> str:
    """The root call's input shapes (``1x3x224x224``), from ``by_module``'s first row."""
    if modules is None or "input_shapes" not in modules.columns or modules.empty:
        return ""
    root = modules[modules["module"] == ""]
    if root.empty:
        return ""
    shapes = root["input_shapes"].iloc[0]
    return format_shapes(shapes) if shapes else ""


def _title(rows: pd.DataFrame, model: nn.Module | None) -> str:
    if model is not None:
        return type(model).__name__
    root = rows[rows["module"] == ""]
    return str(root["module_type"].iloc[0]) if len(root) else "opcount report"


def run_page(
    rows: pd.DataFrame,
    totals: Mapping[str, Any],
    *,
    unsupported: pd.DataFrame | None = None,
    modules: pd.DataFrame | None = None,
    model: nn.Module | None = None,
    title: str | None = None,
    peak_flops: float | None = None,
    bandwidth: float | None = None,
) -> str:
    """The page of one run: ``rows`` and ``totals`` as the counter gives them, ``modules`` its
    ``by_module()`` (for the input shapes), ``model`` for module types and parameters."""
    for name, value in (("peak_flops", peak_flops), ("bandwidth", bandwidth)):
        if value is not None and not value > 0:
            raise OpCountError(f"to_html: {name}={value!r} must be a positive number (per second)")
    if (peak_flops is None) != (bandwidth is None):
        raise OpCountError("to_html: give both peak_flops and bandwidth for the roofline, or none")
    types = self_params = None
    if model is not None:
        params = params_by_module(model)
        types = {str(m): str(t) for m, t in zip(params["module"], params["module_type"])}
        self_params = {str(m): int(p) for m, p in zip(params["module"], params["self_params"])}
    payload = run_payload(
        rows,
        totals,
        title=title if title is not None else _title(rows, model),
        inputs=_inputs_text(modules),
        unsupported=unsupported,
        types=types,
        self_params=self_params,
        peak_flops=peak_flops,
        bandwidth=bandwidth,
    )
    return render_page(payload)


def sweep_page(models: Sequence[Mapping[str, Any]], title: str = "opcount: models compared") -> str:
    """The page comparing several models (records as the sweep's CSV rows)."""
    return render_page(sweep_payload(models, title=title))


def write_page(page: str, path: str | os.PathLike[str]) -> None:
    """Write ``page`` to ``path`` (UTF-8), naming the path if that fails."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(page)
    except OSError as error:
        raise OpCountError(
            f"cannot write the HTML report to {os.fspath(path)!r}: {error}"
        ) from error
