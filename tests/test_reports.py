"""The queries over the rows: every number re-derived from ``to_dataframe()`` with pandas,
parameters joined per module, shapes of module calls, modules that never ran."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import torch
from torch import nn

from opcount import OpCounter, OpCountError, params_by_module
from report_models import TiedLM, TinyTransformer, TwoTower

SUM_COLUMNS = ["flops", "macs", "bytes_read", "bytes_written", "int_ops"]


def count(model: nn.Module, run: Callable[[], object], **kwargs: Any) -> OpCounter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model, **kwargs) as counter:
            run()
    return counter


@pytest.fixture(scope="module")
def trained() -> OpCounter:
    """A forward and backward run, the loss computed outside the model."""
    torch.manual_seed(0)
    model = nn.Sequential(TinyTransformer(dim=8, classes=4))
    x = torch.randn(2, 5, 8)
    return count(model, lambda: model(x).sum().backward())


def _expected(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = rows.groupby(keys)
    expected = grouped[SUM_COLUMNS].sum()
    expected["calls"] = grouped.size()
    return expected


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("by_op", ["op", "category", "status"]),
        ("by_category", ["category"]),
        ("by_phase", ["phase"]),
        ("by_dtype", ["dtype"]),
        ("by_module_and_op", ["module", "module_type", "op"]),
    ],
)
def test_group_queries_rederive_from_rows(trained: OpCounter, query: str, keys: list[str]) -> None:
    rows = trained.to_dataframe()
    frame = getattr(trained, query)()
    assert isinstance(frame, pd.DataFrame)
    got = frame.set_index(keys).sort_index()
    expected = _expected(rows, keys).sort_index()
    for column in [*SUM_COLUMNS, "calls"]:
        assert list(got[column]) == list(expected[column]), column
    assert got["flops_share"].sum() == pytest.approx(1.0)
    assert int(frame["flops"].sum()) == trained.total_flops


def test_by_phase_in_phase_order(trained: OpCounter) -> None:
    assert list(trained.by_phase()["phase"]) == ["forward", "backward"]


def test_by_module_rederives_from_rows(trained: OpCounter) -> None:
    rows = trained.to_dataframe()
    frame = trained.by_module().set_index("module")
    own = rows.groupby("module")[SUM_COLUMNS[:4]].sum()
    for module, values in own.iterrows():
        for column in SUM_COLUMNS[:4]:
            assert frame.loc[module, f"self_{column}"] == values[column], (module, column)
    for phase in ("forward", "backward"):
        phase_rows = rows[rows["phase"] == phase]
        own_phase = phase_rows.groupby("module")["flops"].sum()
        for module, value in own_phase.items():
            assert frame.loc[module, f"self_{phase}_flops"] == value
    # inclusive = every row whose module path lies under the module's path
    for module in frame.index:
        if module.startswith("<"):
            continue
        inside = rows["module"].map(
            lambda m, p=module: (
                not m.startswith("<") and (p == "" or m == p or m.startswith(p + "."))
            )
        )
        assert frame.loc[module, "flops"] == rows.loc[inside, "flops"].sum(), module
        assert frame.loc[module, "macs"] == rows.loc[inside, "macs"].sum(), module
        assert frame.loc[module, "flops_share"] == pytest.approx(
            rows.loc[inside, "flops"].sum() / rows["flops"].sum()
        )


def test_by_module_phase_filter_and_depth(trained: OpCounter) -> None:
    backward = trained.by_module(phase="backward").set_index("module")
    rows = trained.to_dataframe()
    assert (
        backward.loc["", "flops"]
        == rows.loc[
            (rows["phase"] == "backward") & ~rows["module"].str.startswith("<"), "flops"
        ].sum()
    )
    shallow = trained.by_module(depth=1)
    assert shallow["depth"].max() <= 1
    with pytest.raises(ValueError, match="unknown phase"):
        trained.by_module(phase="sideways")


def test_by_module_joins_params_and_shapes() -> None:
    model = TwoTower()
    a, b = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    counter = count(model, lambda: model(a, b, both=True))
    frame = counter.by_module().set_index("module")
    params = params_by_module(model).set_index("module")
    for module in ("", "tower_a", "tower_a.0", "fc_b"):
        for column in ("params", "self_params", "trainable_params", "param_bytes"):
            assert frame.loc[module, column] == params.loc[module, column]
    assert frame.loc["tower_a.0", "weight_shape"] == (4, 3, 3, 3)
    assert frame.loc["", "input_shapes"] == ((2, 3, 8, 8), (2, 3, 8, 8))
    assert frame.loc["", "output_shapes"] == ((2, 10), (2, 10))
    assert frame.loc["tower_a.1", "output_shapes"] == ((2, 256),)
    assert frame.loc["tower_a", "calls"] == 1


def test_by_module_without_model_has_no_param_columns() -> None:
    model = TwoTower()
    a = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(record_shapes=False) as counter:
            model(a, a)
    frame = counter.by_module()
    assert "params" not in frame.columns
    assert "input_shapes" not in frame.columns
    assert "parameters:" not in str(counter)
    with pytest.raises(OpCountError, match="OpCounter\\(model\\)"):
        counter.uncalled_modules()


def test_tied_weights_in_a_counted_run() -> None:
    model = TiedLM(vocab=100, dim=16)
    ids = torch.randint(0, 100, (2, 7))
    counter = count(model, lambda: model(ids))
    frame = counter.by_module().set_index("module")
    assert counter.num_params == 100 * 16 + 16 * 16
    assert frame.loc["", "params"] == counter.num_params
    assert frame.loc["head", "shared_with"] == "embed"
    assert frame.loc["head", "macs"] == 2 * 7 * 16 * 100  # the head still does its work
    assert "parameters: 1.86K (1,856, all trainable)" in str(counter)


def test_uncalled_modules() -> None:
    model = TinyTransformer()
    x = torch.randn(1, 3, 8)
    counter = count(model, lambda: model(x))
    uncalled = counter.uncalled_modules()
    # the never-called layer is listed; the ModuleList, which has no forward, is not
    assert list(uncalled["module"]) == ["unused"]
    assert list(uncalled["params"]) == [6]


def test_a_module_called_through_another_path_is_not_uncalled() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    counter = count(model, lambda: model(torch.randn(1, 4)))
    assert counter.uncalled_modules().empty


def test_tracker_keeps_shapes_only() -> None:
    model = TwoTower()
    a = torch.randn(1, 3, 8, 8)
    counter = count(model, lambda: model(a, a))
    tracker = counter._tracker
    assert tracker is not None
    assert tracker.input_shapes
    assert tracker.output_shapes
    for code in [*tracker.input_shapes.values(), *tracker.output_shapes.values()]:
        for shape in tracker.shape_table.shapes[code]:
            assert isinstance(shape, tuple)
            assert all(type(d) is int for d in shape)


def test_runs_without_modules_or_ops_still_report() -> None:
    with OpCounter() as empty:
        pass
    assert list(empty.by_module().columns[:4]) == ["module", "module_type", "depth", "calls"]
    assert empty.by_module().empty
    assert "0 aten op calls" in str(empty)
    assert "**Total** | **0** | **0**" in empty.to_markdown()
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    with OpCounter() as functional:
        a @ b  # no module at all: the op is <outside>
    assert "<outside>" in str(functional)
    assert r"\textless{}outside\textgreater{} & 60 & 120" in functional.to_latex()
