"""Plots: each chart function writes a PNG; the chart data comes from the rows; a clear error
names matplotlib when it is missing."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib
import pytest
import torch

from opcount import OpCounter, OpCountError, plot_categories, plot_modules
from opcount.reports.plot import category_bars, module_bars
from report_models import TinyTransformer

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def counter() -> OpCounter:
    torch.manual_seed(0)
    model = TinyTransformer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model) as c:
            model(torch.randn(2, 5, 8)).sum().backward()
    return c


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png(counter: OpCounter, tmp_path: Path) -> None:
    modules = plot_modules(counter, top=5)
    modules.savefig(tmp_path / "modules.png")
    plot_modules(counter, top=3, depth=2).savefig(tmp_path / "blocks.png")
    plot_categories(counter).savefig(tmp_path / "categories.png")
    for name in ("modules.png", "blocks.png", "categories.png"):
        assert _is_png(tmp_path / name)
    assert len(modules.axes[0].patches) > 0  # bars were drawn


def test_chart_data_comes_from_the_rows(counter: OpCounter) -> None:
    rows = counter.to_dataframe()
    bars = module_bars(counter.by_module(), top=3)
    assert len(bars) == 3
    totals = list(bars["forward"] + bars["backward"])
    assert totals == sorted(totals, reverse=True)
    top = bars.iloc[0]
    own = rows[rows["module"] == ("" if top["module"] == "(root)" else top["module"])]
    assert top["forward"] == own.loc[own["phase"] == "forward", "flops"].sum()
    assert top["backward"] == own.loc[own["phase"] != "forward", "flops"].sum()
    blocks = module_bars(counter.by_module(), top=10, depth=2)
    assert set(blocks["module"]) == {"blocks.0", "blocks.1"}
    categories = category_bars(rows)
    assert categories["forward"].sum() + categories["backward"].sum() == counter.total_flops


def test_missing_matplotlib_is_named(counter: OpCounter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(OpCountError, match=r"'matplotlib'.*pip install matplotlib"):
        plot_modules(counter)


def test_the_optimizer_phase_is_its_own_segment() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    optimizer = torch.optim.AdamW(model.parameters())
    with OpCounter(model) as c:
        model(torch.randn(4, 8)).sum().backward()
        optimizer.step()
    rows = c.to_dataframe()
    categories = category_bars(rows)
    assert categories[["forward", "backward", "optimizer"]].to_numpy().sum() == c.total_flops
    optimizer_flops = int(rows.loc[rows["phase"] == "optimizer", "flops"].sum())
    assert optimizer_flops > 0
    assert categories["optimizer"].sum() == optimizer_flops
    modules = module_bars(c.by_module(), top=20)
    assert modules.set_index("module").loc["<optimizer>", "optimizer"] == optimizer_flops
    assert modules["backward"].sum() == int(rows.loc[rows["phase"] == "backward", "flops"].sum())
