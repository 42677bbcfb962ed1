"""Count several models into one comparison table (one row per model)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import torch

from ..reports.format import format_compute, format_params, render_table
from ..reports.params import count_params
from .inputs import InputSpec
from .models import ModelError, UsageError, load_model


@dataclass
class SweepRow:
    """Totals of one model (integers), or the error that stopped it."""

    model: str
    params: int = 0
    forward_macs: int = 0
    forward_flops: int = 0
    backward_macs: int = 0
    backward_flops: int = 0
    unsupported_ops: int = 0
    published_gmacs: float | None = None
    error: str = ""


def _progress(names: Sequence[str]) -> object:
    try:
        from tqdm import tqdm
    except ImportError:
        return names
    return tqdm(names, file=sys.stderr, unit="model", leave=False)


def sweep_models(
    names: Sequence[str],
    *,
    device: str,
    specs: Sequence[InputSpec] | None,
    batch: int | None,
    backward: bool,
    train: bool,
    dtype: torch.dtype | None,
) -> list[SweepRow]:
    """Count each model in turn; a model that fails is a row with its error, not an abort."""
    from .runner import count_run

    rows = []
    for name in _progress(names):  # type: ignore[attr-defined]
        row = SweepRow(str(name))
        try:
            loaded = load_model(str(name), device, specs, batch)
            row.published_gmacs = loaded.published_gmacs
            counter = count_run(loaded, backward=backward, train=train, dtype=dtype)
        except UsageError:
            raise
        except ModelError as error:
            row.error = str(error)
            rows.append(row)
            continue
        frame = counter.to_dataframe()
        forward = frame[frame["phase"] != "backward"]
        backward_rows = frame[frame["phase"] == "backward"]
        row.forward_macs, row.forward_flops = (
            int(forward["macs"].sum()),
            int(forward["flops"].sum()),
        )
        row.backward_macs = int(backward_rows["macs"].sum())
        row.backward_flops = int(backward_rows["flops"].sum())
        row.unsupported_ops = int((frame["status"] == "unsupported").sum())
        row.params = count_params(loaded.model)
        rows.append(row)
    return rows


def sweep_frame(rows: Sequence[SweepRow]) -> pd.DataFrame:
    """The comparison table as data (integers, one row per model)."""
    return pd.DataFrame([asdict(r) for r in rows])


def render_sweep(rows: Sequence[SweepRow], *, backward: bool) -> str:
    """The comparison table with human units."""
    headers = ["model", "params", "forward MACs", "forward FLOPs"]
    if backward:
        headers += ["backward MACs", "backward FLOPs"]
    headers += ["published", "note"]
    lines = []
    for r in rows:
        cells = [
            r.model,
            format_params(r.params),
            format_compute(r.forward_macs, "MACs"),
            format_compute(r.forward_flops, "FLOPs"),
        ]
        if backward:
            cells += [
                format_compute(r.backward_macs, "MACs"),
                format_compute(r.backward_flops, "FLOPs"),
            ]
        published = f"{r.published_gmacs:.3f} GMACs" if r.published_gmacs is not None else ""
        note = r.error or (f"{r.unsupported_ops} unsupported op calls" if r.unsupported_ops else "")
        lines.append([*cells, published, note])
    align = "<" + ">" * (len(headers) - 2) + "<"
    return render_table(headers, lines, align)
