"""Charts of a counted run: the top modules by FLOPs and FLOPs by op category, split by phase.

matplotlib is optional and imported only when a chart is asked for; figures are built with the
object-oriented API (no pyplot state), so they work under any backend and in notebooks.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from ..errors import OpCountError, check_count
from .format import format_compact


class CountedRun(Protocol):
    """What a chart reads of a run (an ``OpCounter``): its rows and its module table."""

    def to_dataframe(self) -> pd.DataFrame: ...

    def by_module(self) -> pd.DataFrame: ...


_COLORS = {"forward": "#4C72B0", "backward": "#DD8452", "optimizer": "#55A868"}
_STACKED = ("forward", "backward", "optimizer")  # the bars' segments, in this order


def figure_class() -> Any:
    """matplotlib's ``Figure``, or an error saying how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise OpCountError(
            "plotting needs the 'matplotlib' package, which is not installed: "
            "pip install matplotlib (or pip install 'opcount[plot]')"
        ) from error
    return Figure


def module_bars(frame: pd.DataFrame, top: int = 10, depth: int | None = None) -> pd.DataFrame:
    """The data of :func:`plot_modules`: ``module``, ``forward``, ``backward`` and ``optimizer``
    FLOPs of the ``top`` modules with the most FLOPs, most first. ``depth=None`` ranks each
    module's own ops (``self_`` columns, which never overlap); ``depth=k`` ranks the modules at
    depth ``k`` with everything nested inside them."""
    if depth is None:
        prefix, rows = "self_", frame
    else:
        prefix, rows = "", frame[frame["depth"] == depth]
    data = pd.DataFrame(
        {
            "module": [str(m) or "(root)" for m in rows["module"]],
            "forward": [int(v) for v in rows[f"{prefix}forward_flops"]],
            "backward": [
                int(b) + int(r)  # activation-checkpoint recompute is work done in backward
                for b, r in zip(rows[f"{prefix}backward_flops"], rows[f"{prefix}recompute_flops"])
            ],
            "optimizer": [int(v) for v in rows.get(f"{prefix}optimizer_flops", [0] * len(rows))],
        }
    )
    total = data["forward"] + data["backward"] + data["optimizer"]
    data = data[total > 0]
    data = data.assign(_total=total[total > 0])
    data = data.sort_values("_total", ascending=False, kind="stable").head(top)
    return data.drop(columns="_total").reset_index(drop=True)


def category_bars(rows: pd.DataFrame) -> pd.DataFrame:
    """The data of :func:`plot_categories`: FLOPs per category, ``forward``, ``backward``
    (recompute included) and ``optimizer``, most first, categories with no FLOPs left out."""
    phase = rows["phase"].where(rows["phase"].isin(["forward", "optimizer"]), "backward")
    table = (
        rows.assign(_phase=phase, flops=rows["flops"].astype(float))
        .pivot_table(index="category", columns="_phase", values="flops", aggfunc="sum")
        .reindex(columns=list(_STACKED))
        .fillna(0)
    )
    total = table["forward"] + table["backward"] + table["optimizer"]
    table = table[total > 0]
    table = table.assign(_total=total[total > 0])
    table = table.sort_values("_total", ascending=False, kind="stable")
    return table.drop(columns="_total").reset_index()


def _bars(data: pd.DataFrame, label: str, title: str) -> Any:
    """A horizontal stacked bar chart of ``data``'s forward, backward and optimizer columns."""
    figure = figure_class()(figsize=(8, 0.45 * max(len(data), 2) + 1.4), layout="constrained")
    axes = figure.subplots()
    names = list(data[label])[::-1]  # largest on top
    left = [0.0] * len(names)
    for phase in _STACKED:
        values = [float(v) for v in list(data[phase])[::-1]]
        if any(values):
            axes.barh(names, values, left=left, label=phase, color=_COLORS[phase])
            left = [a + b for a, b in zip(left, values)]
    axes.set_xlabel("FLOPs")
    axes.set_title(title)
    # ticks carry the prefix only ("200M"): the axis label names the unit
    axes.xaxis.set_major_formatter(lambda value, _pos: format_compact(int(value), "").strip())
    if len(data):
        axes.legend(loc="lower right")
    return figure


def plot_modules(counter: CountedRun, top: int = 10, depth: int | None = None) -> Any:
    """A horizontal bar chart of the ``top`` modules by FLOPs, forward and backward stacked;
    returns the matplotlib ``Figure`` (``fig.savefig("modules.png")``)."""
    check_count("top", top, minimum=1)
    check_count("depth", depth, none=True)
    data = module_bars(counter.by_module(), top, depth)
    scope = "own ops" if depth is None else f"depth {depth}, inclusive"
    return _bars(data, "module", f"Top {len(data)} modules by FLOPs ({scope})")


def plot_categories(counter: CountedRun) -> Any:
    """A horizontal bar chart of FLOPs per op category, forward and backward stacked;
    returns the matplotlib ``Figure``."""
    return _bars(category_bars(counter.to_dataframe()), "category", "FLOPs by op category")
